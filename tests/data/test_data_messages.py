"""What the data code tells a user: a file that is not an image is named by its path (never by an in-memory buffer),
and the first generation of a built-in set says so, with its folder, once."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from focalyolo.data import synthetic
from focalyolo.data.image_io import ImageReadError, read_image
from focalyolo.engine.predictor import iter_frames


def test_an_unreadable_image_is_named_by_its_path(tmp_path, focalyolo_log):
    garbage = tmp_path / "holiday photo.jpg"
    garbage.write_bytes(b"this is not a JPEG at all " * 40)
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImageReadError) as error:
        read_image(garbage)
    assert str(error.value) == "not an image (unknown format)"
    assert [frame.path for frame in iter_frames([garbage, good])] == [str(good)]
    lines = [r.getMessage() for r in focalyolo_log]
    assert lines == [f"{garbage}: skipped (not an image (unknown format))"]


def test_the_first_generation_of_a_built_in_set_says_where_once(tmp_path, monkeypatch, focalyolo_log):
    monkeypatch.setenv("FOCALYOLO_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(synthetic.DEFAULT_SIZES, "synthetic", {"n_train": 2, "n_val": 1, "imgsz": 32, "seed": 0})
    data = synthetic.ensure_synthetic("synthetic")
    assert synthetic.ensure_synthetic("synthetic") == data
    lines = [r.getMessage() for r in focalyolo_log]
    folder = tmp_path / "home" / "datasets" / synthetic.VERSIONS["synthetic"]
    assert lines == [f"synthetic: generating the synthetic set (2 train + 1 val images, 32 px) in {folder} (once)"]
    assert data == folder / "data.yaml" and len(list(Path(folder, "images", "train").iterdir())) == 2
