"""Tiny on-disk datasets for the data-pipeline tests, built in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

# pure BGR colours; class i is drawn in COLOURS[i]
COLOURS = np.array([(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)], np.uint8)


def write_labels(path: Path, rows: np.ndarray | str) -> Path:
    """Write a YOLO label file from (n, 5) rows or raw text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(rows, str):
        rows = "".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows)
    path.write_text(rows)
    return path


def colour_boxes_image(h: int, w: int, boxes_px: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(h, w, 3) black image with a filled rectangle of COLOURS[cls] per xyxy pixel box."""
    img = np.zeros((h, w, 3), np.uint8)
    for (x1, y1, x2, y2), c in zip(boxes_px.astype(int), classes):
        img[y1:y2, x1:x2] = COLOURS[int(c)]
    return img


def px_to_rows(boxes_px: np.ndarray, classes: np.ndarray, h: int, w: int) -> np.ndarray:
    """xyxy pixel boxes -> (n, 5) [cls, cx, cy, w, h] normalised rows."""
    b = boxes_px.astype(np.float64)
    return np.stack((classes, (b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h,
                     (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h), 1)


@pytest.fixture
def colour_dataset(tmp_path: Path) -> Callable[..., list[Path]]:
    """Factory: ``n`` PNG images of given (h, w) with non-overlapping coloured rectangles and their labels."""

    def make(
        n: int = 4, shapes: list[tuple[int, int]] | None = None, split: str = "train", seed: int = 0
    ) -> list[Path]:
        rng = np.random.default_rng(seed)
        shapes = shapes or [(96, 128)] * n
        files = []
        for i, (h, w) in enumerate(shapes):
            # a 3 x 2 grid of cells, one rectangle in each of 4 random cells
            cells = rng.permutation(6)[:4]
            boxes = []
            for cell in cells:
                cx0, cy0 = (cell % 3) * w / 3, (cell // 3) * h / 2
                bw, bh = rng.uniform(0.4, 0.8) * w / 3, rng.uniform(0.4, 0.8) * h / 2
                x1, y1 = cx0 + rng.uniform(0, w / 3 - bw), cy0 + rng.uniform(0, h / 2 - bh)
                boxes.append((round(x1), round(y1), round(x1 + bw), round(y1 + bh)))
            boxes_px = np.array(boxes)
            classes = rng.permutation(len(COLOURS))[:4]
            img_path = tmp_path / "images" / split / f"im{i:03d}.png"
            img_path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(img_path), colour_boxes_image(h, w, boxes_px, classes))
            write_labels(tmp_path / "labels" / split / f"im{i:03d}.txt", px_to_rows(boxes_px, classes, h, w))
            files.append(img_path)
        return files

    return make


@pytest.fixture
def box_colours() -> np.ndarray:
    """(6, 3) uint8 BGR colours; class i of ``colour_dataset`` images is drawn in row i."""
    return COLOURS


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $FOCALYOLO_HOME into tmp_path so no test writes to the user's cache."""
    home = tmp_path / "focalyolo-home"
    monkeypatch.setenv("FOCALYOLO_HOME", str(home))
    return home
