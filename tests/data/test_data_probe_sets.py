"""The built-in sets that probe context and small objects: deterministic bytes, label geometry, and the context
cue lying outside the plain model's effective receptive field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from focalyolo.cfg import SYNTHETIC_DATA
from focalyolo.data import load_data_config
from focalyolo.data.synthetic import (
    CONTEXT_CUES,
    CONTEXT_DISTANCE,
    CONTEXT_MARKER,
    CONTEXT_NAMES,
    CONTEXT_SQUARE,
    DEFAULT_SIZES,
    MARKER_NAMES,
    SMALL_SIZE,
    VERSIONS,
    generate_synthetic,
    render_context_image,
)


def _digest(root: Path) -> str:
    """One hash of every file's relative path and bytes under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("name", ["synthetic-context", "synthetic-context-marked", "synthetic-small"])
def test_same_seed_gives_identical_bytes(tmp_path: Path, name: str) -> None:
    digests = [_digest(generate_synthetic(tmp_path / f"{name}-{i}", n_train=4, n_val=2, imgsz=128, seed=seed,
                                          name=name).parent) for i, seed in enumerate((3, 3, 4))]
    assert digests[0] == digests[1] != digests[2]


def test_context_labels_squares_and_cues(tmp_path: Path) -> None:
    """Every label is a square of CONTEXT_SQUARE of the side; the marker CONTEXT_DISTANCE to its right has the
    label's cue colour; the square's pixels are the same grey whatever the class."""
    imgsz = 160
    data = generate_synthetic(tmp_path / "ctx", n_train=12, n_val=2, imgsz=imgsz, name="synthetic-context")
    assert load_data_config(data).names == list(CONTEXT_NAMES)
    classes = set()
    for i in range(12):
        img, labels, markers = render_context_image(np.random.default_rng([0, 0, i]), imgsz)
        text = (data.parent / "labels" / "train" / f"{i:06d}.txt").read_text().split()
        assert np.allclose(np.array(text, float).reshape(-1, 5), labels, atol=1e-6)
        assert len(labels) >= 1
        for (cls, cx, cy, w, h), (mx, my) in zip(labels, markers):
            classes.add(int(cls))
            assert w == pytest.approx(CONTEXT_SQUARE) and h == pytest.approx(CONTEXT_SQUARE)
            assert mx - cx == pytest.approx(CONTEXT_DISTANCE) and my == pytest.approx(cy)
            assert 0 <= cx - w / 2 and mx + CONTEXT_MARKER <= 1 and CONTEXT_MARKER <= my <= 1 - CONTEXT_MARKER
            centre = img[round(cy * imgsz) - 3 : round(cy * imgsz) + 3, round(cx * imgsz) - 3 : round(cx * imgsz) + 3]
            assert np.abs(centre.astype(int) - 128).max() <= 2  # the same grey for both classes
            cue = img[round(my * imgsz), round(mx * imgsz)].astype(int)
            assert np.abs(cue - CONTEXT_CUES[int(cls)]).max() <= 2
        rows = sorted(labels[:, 2])
        assert all(b - a >= CONTEXT_SQUARE for a, b in zip(rows, rows[1:]))  # one object per row
    assert classes == {0, 1}


def test_marked_context_is_the_context_set_with_each_marker_labelled(tmp_path: Path) -> None:
    """The same image bytes as synthetic-context; the label rows are its squares' rows, then one row per marker:
    class 2 + the square's cue, the disc's box."""
    plain = generate_synthetic(tmp_path / "plain", n_train=6, n_val=2, imgsz=160, name="synthetic-context").parent
    marked = generate_synthetic(tmp_path / "marked", n_train=6, n_val=2, imgsz=160,
                                name="synthetic-context-marked")
    assert load_data_config(marked).names == list(CONTEXT_NAMES + MARKER_NAMES)
    for split, n in (("train", 6), ("val", 2)):
        for i in range(n):
            name = f"{i:06d}"
            assert (marked.parent / "images" / split / f"{name}.jpg").read_bytes() == (
                plain / "images" / split / f"{name}.jpg").read_bytes()
            squares = np.loadtxt(plain / "labels" / split / f"{name}.txt", ndmin=2)
            rows = np.loadtxt(marked.parent / "labels" / split / f"{name}.txt", ndmin=2)
            assert len(rows) == 2 * len(squares) and np.array_equal(rows[:len(squares)], squares)
            markers = rows[len(squares):]
            assert np.array_equal(markers[:, 0], squares[:, 0] + 2)
            assert np.allclose(markers[:, 1], squares[:, 1] + CONTEXT_DISTANCE, atol=2e-6)
            assert np.allclose(markers[:, 2], squares[:, 2], atol=2e-6)
            assert np.allclose(markers[:, 3:], 2 * CONTEXT_MARKER)


def test_every_built_in_set_trains_with_the_short_cpu_defaults() -> None:
    assert sorted(SYNTHETIC_DATA) == sorted(VERSIONS)


def test_small_objects_are_small_inside_and_apart(tmp_path: Path) -> None:
    imgsz = 320
    data = generate_synthetic(tmp_path / "small", n_train=10, n_val=2, imgsz=imgsz, name="synthetic-small")
    rows = np.concatenate([np.loadtxt(p, ndmin=2) for p in sorted((data.parent / "labels" / "train").glob("*.txt"))])
    assert len(rows) >= 30 and set(rows[:, 0].astype(int)) == {0, 1, 2, 3, 4}
    side = rows[:, 3:].max(1)
    assert side.max() <= SMALL_SIZE[1] + 1e-6 and side.min() >= SMALL_SIZE[0] - 1e-6  # <= 16 px at 640
    xyxy = np.concatenate((rows[:, 1:3] - rows[:, 3:] / 2, rows[:, 1:3] + rows[:, 3:] / 2), 1)
    assert xyxy.min() >= 0 and xyxy.max() <= 1
    assert DEFAULT_SIZES["synthetic-small"]["imgsz"] == 320


def test_context_cue_lies_outside_the_plain_models_receptive_field() -> None:
    """gelan-t (untrained, seed 0) at the set's default size: for every head level (P3, and P4, whose stride 16 is
    the squares' side, and P5), the 90 % radius of the centre cell's effective receptive field over four set images
    is shorter than the distance from a square's centre to the nearest point of its marker."""
    from focalyolo.analysis.explain import effective_receptive_field, head_level_feature
    from focalyolo.models import build_model

    imgsz = DEFAULT_SIZES["synthetic-context"]["imgsz"]
    torch.manual_seed(0)
    model = build_model("gelan-t", nc=len(CONTEXT_NAMES)).eval()
    images = torch.stack([torch.from_numpy(render_context_image(np.random.default_rng([0, 0, i]), imgsz)[0][..., ::-1]
                                           .copy()).permute(2, 0, 1).float() / 255 for i in range(4)])
    gap = (CONTEXT_DISTANCE - CONTEXT_MARKER) * imgsz
    radii = {}
    for level in range(3):
        field = effective_receptive_field(head_level_feature(model, level), images)
        radii[int(field.stride)] = field.radius90
    assert CONTEXT_SQUARE * imgsz in radii  # a level whose stride is the squares' side
    assert max(radii.values()) < gap, (radii, gap)
