"""``benchmarks/context_probe.py``: the linear probe separates what is encoded and only that, whatever the features'
scale, and the features are read at each square and at its disc."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from focalyolo.data import generate_synthetic
from focalyolo.data.config import load_data_config
from focalyolo.models import build_model
from repo_scripts import load_script


@pytest.fixture(scope="module")
def probe():
    return load_script("benchmarks/context_probe.py")


def _features(rng: np.random.Generator, labels: np.ndarray, encoded: bool) -> np.ndarray:
    """(n, 20) noise; with ``encoded`` the label shifts the 4th feature by 3 noise widths."""
    x = rng.normal(size=(len(labels), 20))
    if encoded:
        x[:, 3] += 3.0 * labels
    return x


def test_the_probe_finds_an_encoded_label_and_only_that_at_any_scale(probe) -> None:
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 2, 800), rng.integers(0, 2, 2000)
    x_train, x_test = _features(rng, y_train, True), _features(rng, y_test, True)
    encoded = probe.probe_accuracy(x_train, y_train, x_test, y_test)
    assert encoded > 0.9  # the Bayes accuracy of a 3-sd shift is 0.933
    assert probe.probe_accuracy(1e-10 * x_train, y_train, 1e-10 * x_test, y_test) == pytest.approx(encoded, abs=0.01)
    noise = probe.probe_accuracy(_features(rng, y_train, False), y_train, _features(rng, y_test, False), y_test)
    assert abs(noise - 0.5) < 0.05  # 2,000 test squares: chance within 2.2 standard errors


def test_features_are_read_at_every_square_and_at_its_disc(probe, tmp_path: Path) -> None:
    data = load_data_config(generate_synthetic(tmp_path / "data", n_train=4, n_val=2, imgsz=160,
                                               name="synthetic-context"))
    squares = sum(len(p.read_text().split("\n")) - 1 for p in (tmp_path / "data" / "labels" / "train").iterdir())
    # the block's output (none in gelan-t; 96 wide at P4 in gelan-t-focal-p4), SPPELAN's output, the first
    # stride-16 neck layer, the head's stride-16 input
    for name, widths in (("gelan-t", [None, 128, 96, 96]), ("gelan-t-focal-p4", [96, 128, 96, 96])):
        torch.manual_seed(0)
        model = build_model(name, nc=2).eval()
        at_square, at_disc, classes, chosen = probe.square_features(model, data.train, 160, batch=3)
        assert len(classes) == len(chosen) == squares > 0 and set(classes) <= {0, 1} and set(chosen) <= {0, 1}
        expected = [None if c is None else (squares, c) for c in widths]
        assert [None if f is None else f.shape for f in at_square] == expected
        assert [None if f is None else f.shape for f in at_disc] == expected
        assert not any(np.allclose(a, b, rtol=1e-3, atol=0)  # another cell
                       for a, b in zip(at_square, at_disc) if a is not None)
    marked = load_data_config(generate_synthetic(tmp_path / "marked", n_train=4, n_val=2, imgsz=160,
                                                 name="synthetic-context-marked"))
    torch.manual_seed(0)
    _, _, marked_classes, marked_chosen = probe.square_features(build_model("gelan-t", nc=4).eval(), marked.train, 160)
    assert np.array_equal(marked_classes, classes) and set(marked_chosen) <= {0, 1}  # the markers' rows are skipped
