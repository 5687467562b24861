"""An empty class folder in a classification train split: one warning line naming it, or, when the validation split
has no image of that class either, one error line (exit status 2 from the command line, no run folder)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from focalyolo.cli import main
from focalyolo.data.classify import load_classification_data
from focalyolo.errors import DataError


def folders(root: Path, layout: dict[str, dict[str, int]]) -> Path:
    """``root/<split>/<class>/<i>.png``: ``layout`` gives the images of each class folder of each split."""
    for split, classes in layout.items():
        for name, count in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                cv2.imwrite(str(folder / f"{i}.png"), np.full((16, 16, 3), 40 * i, np.uint8))
    return root


def test_an_empty_training_class_is_one_warning_line(tmp_path, focalyolo_log):
    root = folders(tmp_path, {"train": {"ant": 2, "bee": 0, "cow": 0, "dog": 1},
                              "val": {"ant": 1, "bee": 1, "cow": 1, "dog": 0}})
    data = load_classification_data(root)
    assert data.names == ["ant", "bee", "cow", "dog"] and len(data.train) == 3
    warnings = [r.getMessage() for r in focalyolo_log if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "bee, cow of" in warnings[0] and "no training image" in warnings[0]


def test_a_class_empty_in_both_splits_is_one_error_line(tmp_path, capsys):
    root = folders(tmp_path / "data", {"train": {"ant": 2, "bee": 0}, "val": {"ant": 1}})
    with pytest.raises(DataError, match=r"class folder\(s\) bee of .* hold no image, nor does"):
        load_classification_data(root)
    code = main(["train", "--model", "gelan-t-cls", "--data", str(root), "--device", "cpu",
                 "--project", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "bee" in err
    assert not (tmp_path / "runs").exists()
