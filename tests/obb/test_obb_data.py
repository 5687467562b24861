"""OBB labels through the data pipeline: OBB rows read as corners with their box, the corners moved exactly by every
geometric step (rotation included), ``rboxes`` canonical and normalised as the loss takes them, DOTA label files
converted once, and the built-in ``synthetic-obb`` set: identical bytes for a seed, labels the exact rectangles of
the drawn shapes, drawn where the labels say along both axes (so a quarter turn of an image is an image of the
set)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from focalyolo.data import RotatedBoxes, YOLODataset, convert_dota_labels, generate_synthetic, load_data_config
from focalyolo.data.annotations import Annotations
from focalyolo.data.synthetic import COVERAGE_SAMPLES, _fill_coverage, render_obb_image
from focalyolo.errors import DataError
from focalyolo.tasks import get_task
from focalyolo.utils.rotated import corners_to_xywhr, xywhr_to_corners

KIND = RotatedBoxes()


def test_obb_rows_read_as_corners_and_the_box_around_them():
    rows = [np.array([2, 0.1, 0.2, 0.5, 0.1, 0.6, 0.4, 0.2, 0.5]), np.array([1, 0.5, 0.5, 0.2, 0.2])]
    parsed = KIND.parse_rows(rows)
    assert parsed.rows == pytest.approx(np.array([[2, 0.35, 0.3, 0.5, 0.4]]))
    assert parsed.value.shape == (1, 4, 2) and parsed.bad_columns == [5]


def rotation(degrees: float, centre: tuple[float, float]) -> np.ndarray:
    return np.vstack((cv2.getRotationMatrix2D(centre, degrees, 1.0), [0, 0, 1]))


def test_corners_move_exactly_through_rotation_flip_and_shift():
    boxes = np.array([[40.0, 30.0, 30.0, 10.0, 0.2], [20.0, 50.0, 12.0, 6.0, 1.0]])
    corners = xywhr_to_corners(boxes).astype(np.float32)
    labels = Annotations(np.array([0.0, 1.0], np.float32), np.zeros((2, 4)), {KIND.name: corners},
                         {KIND.name: KIND})
    matrix = rotation(90, (32, 32))  # cv2's angle turns counter-clockwise on the screen
    moved = labels.shift(3, 4).transform(matrix, (64, 64)).flip(0, 64)
    got = corners_to_xywhr(moved.extras[KIND.name].astype(np.float64))
    # shift (3, 4); the rotation x' = y, y' = 64 - x turns direction angle a into a - pi/2; the mirror x'' = 64 - x'
    # turns it into pi/2 - a
    cx, cy = boxes[:, 0] + 3, boxes[:, 1] + 4
    want = np.stack((64 - cy, 64 - cx, boxes[:, 2], boxes[:, 3], math.pi / 2 - boxes[:, 4]), 1)
    expected = corners_to_xywhr(xywhr_to_corners(want))
    assert got == pytest.approx(expected, abs=1e-3)
    outline = moved.boxes
    assert outline == pytest.approx(np.concatenate((moved.extras[KIND.name].min(1), moved.extras[KIND.name].max(1)),
                                                   1), abs=1e-4)


def test_a_sample_carries_canonical_normalised_rboxes_and_drops_boxes_centred_outside():
    corners = xywhr_to_corners(np.array([[20.0, 10.0, 16.0, 4.0, 2.0], [-3.0, 10.0, 16.0, 4.0, 0.3]]))
    entries, rows = KIND.sample(corners.astype(np.float32), np.array([0, 1]), (40, 80))
    assert rows.tolist() == [0]
    box = entries["rboxes"][0].numpy()
    assert box[4] == pytest.approx(2.0 - math.pi / 2, abs=1e-5)  # canonical: a quarter turn off, sides swapped
    assert box[:4] == pytest.approx([20 / 80, 10 / 40, 4 / 80, 16 / 40], abs=1e-5)


@pytest.fixture(scope="module")
def obb_data(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("obb"), n_train=8, n_val=4, imgsz=96, seed=1,
                              name="synthetic-obb")


def test_augmented_samples_keep_rboxes_inside_their_axis_boxes(obb_data):
    """Mosaic, a rotating affine step and flips: every rbox's corners span its target box (up to the clip)."""
    hyp = {"mosaic": 1.0, "mixup": 0.0, "degrees": 45.0, "translate": 0.1, "scale": 0.3, "shear": 0.0,
           "perspective": 0.0, "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "flipud": 0.5, "fliplr": 0.5}
    config = load_data_config(obb_data)
    dataset = YOLODataset(config.train, 96, augment=True, hyp=hyp, verbose=False, kinds=[RotatedBoxes()])
    batch = dataset.collate_fn([dataset[i] for i in range(len(dataset))])
    assert len(batch["rboxes"]) == len(batch["targets"]) > 0
    pixels = batch["rboxes"].double() * torch.tensor([96, 96, 96, 96, 1.0], dtype=torch.float64)
    corners = xywhr_to_corners(pixels)
    lo, hi = corners.amin(1).clamp(0, 96), corners.amax(1).clamp(0, 96)
    xywh = batch["targets"][:, 2:].double() * 96
    assert torch.allclose((lo + hi) / 2, xywh[:, :2], atol=0.05) and torch.allclose(hi - lo, xywh[:, 2:], atol=0.05)
    angles = batch["rboxes"][:, 4]
    assert ((angles >= 0) & (angles < math.pi / 2)).all()
    targets = get_task("obb").targets(batch, torch.device("cpu"))
    assert targets.shape == (len(batch["targets"]), 7)


def test_synthetic_obb_is_identical_for_a_seed(tmp_path):
    def digest(root: Path) -> str:
        generate_synthetic(root, n_train=3, n_val=2, imgsz=96, seed=5, name="synthetic-obb")
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".jpg", ".txt"))
        return hashlib.sha256(b"".join(p.relative_to(root).as_posix().encode() + p.read_bytes() for p in files)
                              ).hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_synthetic_obb_labels_are_the_rectangles_of_the_drawn_shapes():
    for i in range(10):
        img, classes, corners, outlines = render_obb_image(np.random.default_rng([0, 0, i]), 160)
        assert len(classes) == len(corners) == len(outlines) > 0 and set(classes.tolist()) <= {0, 1, 2}
        boxes = corners_to_xywhr(corners * 160)
        assert (corners >= 0).all() and (corners <= 1).all()
        for box, outline in zip(boxes, outlines):
            # the outline in the box's own frame spans exactly [-w/2, w/2] x [-h/2, h/2]
            cos, sin = math.cos(box[4]), math.sin(box[4])
            local = (outline * 160 - box[:2]) @ np.array([[cos, -sin], [sin, cos]])
            assert local.min(0) == pytest.approx(-box[2:4] / 2, abs=1e-3)
            assert local.max(0) == pytest.approx(box[2:4] / 2, abs=1e-3)
            # and it is drawn: the pixel under its centre differs from the background's median
            x, y = np.round(outline.mean(0) * 160).astype(int).clip(0, 159)
            assert img[y, x].tolist() != np.median(img.reshape(-1, 3), 0).astype(int).tolist()


def test_synthetic_obb_shapes_are_drawn_where_their_labels_say_along_both_axes():
    """Pixel coverage in the labels' coordinates: a rotated rectangle at a sub-pixel place is drawn with its
    centroid on its centre and its area (to a sample's width around its outline), in x as in y (cv2's anti-aliased
    fill is off by up to a pixel in y); drawing the turned rectangle gives the turned image."""
    rng = np.random.default_rng(0)
    cells = np.arange(64) + 0.5  # pixel i spans [i, i + 1)
    for _ in range(20):
        box = np.array([*rng.uniform(24, 40, 2), *rng.uniform(6, 20, 2), rng.uniform(0, np.pi)])
        corners = xywhr_to_corners(box[None])[0]
        img = np.zeros((64, 64, 3), np.uint8)
        _fill_coverage(img, corners, (255, 255, 255))
        ink = img[..., 0] / 255.0
        assert abs(ink.sum() - box[2] * box[3]) <= 2 * (box[2] + box[3]) / COVERAGE_SAMPLES  # a sample's width
        assert (ink.sum(0) @ cells / ink.sum(), ink.sum(1) @ cells / ink.sum()) == pytest.approx(box[:2], abs=0.07)
        turned = np.zeros_like(img)
        _fill_coverage(turned, np.stack((64 - corners[:, 1], corners[:, 0]), 1), (255, 255, 255))
        assert np.abs(turned.astype(int) - cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)).mean() < 0.1


def dota_fixture(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labelTxt").mkdir()
    for name, size, text in (
        ("P0001", (100, 50), "imagesource:GoogleEarth\ngsd:0.146\n10 5 60 5 60 25 10 25 plane 0\n"
                             "70 30 90 30 90 45 70 45 ship 1\n"),
        ("P0002", (40, 80), "5.5 10 35 10 35 70 5.5 70 ship 0\n"),
    ):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((size[1], size[0], 3), 90, np.uint8))
        (root / "labelTxt" / f"{name}.txt").write_text(text)
    return root


def test_dota_label_files_become_obb_rows_once(tmp_path):
    root = dota_fixture(tmp_path / "dota")
    images = sorted((root / "images").glob("*.png"))
    assert convert_dota_labels(images, ["plane", "ship"]) == 2
    rows = [line.split() for line in (root / "labels" / "P0001.txt").read_text().splitlines()]
    assert [r[0] for r in rows] == ["0", "1"]
    assert [float(v) for v in rows[0][1:]] == pytest.approx([0.1, 0.1, 0.6, 0.1, 0.6, 0.5, 0.1, 0.5])
    assert convert_dota_labels(images, ["plane", "ship"]) == 0  # up to date
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images\nval: images\nnames: [plane, ship]\n")
    config = get_task("obb").load_data(data)
    dataset = get_task("obb").build_dataset(config.val, 64, verbose=False, **get_task("obb").dataset_options(config))
    assert dataset.counts["instances"] == 3
    (root / "labelTxt" / "P0002.txt").write_text("1 1 9 1 9 9 1 9 tank 0\n")
    with pytest.raises(DataError, match="'tank' is not in the data YAML's names"):
        convert_dota_labels(images, ["plane", "ship"])
