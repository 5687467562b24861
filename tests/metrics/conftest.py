"""Ground truth (coco128 or synthetic) and predictions derived from it, for the metric tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COCO128 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coco128"


@dataclass
class ImageGT:
    """One image: (m, 4) xyxy pixel boxes, (m,) int labels, (h, w)."""

    boxes: np.ndarray
    labels: np.ndarray
    size: tuple[int, int]


@dataclass
class ImagePreds:
    """Detections of one image: (n, 4) xyxy pixel boxes, (n,) scores, (n,) int labels."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def _read_yolo_labels(path: Path, size: tuple[int, int]) -> ImageGT:
    """A YOLO txt label file (``class cx cy w h`` normalised) -> pixel xyxy boxes."""
    h, w = size
    rows = np.loadtxt(path, ndmin=2) if path.exists() and path.stat().st_size else np.zeros((0, 5))
    cxcywh = rows[:, 1:5] * np.array([w, h, w, h])
    boxes = np.concatenate((cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2), axis=1)
    return ImageGT(boxes, rows[:, 0].astype(np.int64), size)


@pytest.fixture(scope="session")
def coco128_gt() -> list[ImageGT]:
    """All 128 coco128 images' ground truth in pixels (skips when the data set is absent)."""
    images = sorted((COCO128 / "images" / "train2017").glob("*.jpg"))
    if not images:
        pytest.skip(f"coco128 not found at {COCO128}")
    out = []
    for img in images:
        with Image.open(img) as im:
            w, h = im.size
        out.append(_read_yolo_labels(COCO128 / "labels" / "train2017" / f"{img.stem}.txt", (h, w)))
    return out


@pytest.fixture(scope="session")
def synthetic_gt() -> list[ImageGT]:
    """60 images of 480x640 with 0-12 boxes of 6 classes (a few images are empty)."""
    rng = np.random.default_rng(7)
    out = []
    for _ in range(60):
        m = int(rng.integers(0, 13))
        wh = rng.uniform(8, 300, (m, 2))
        xy = rng.uniform(0, 1, (m, 2)) * (np.array([640, 480]) - wh)
        out.append(ImageGT(np.concatenate((xy, xy + wh), 1), rng.integers(0, 6, m), (480, 640)))
    return out


def _predict(
    gt: list[ImageGT], nc: int, seed: int = 0, jitter: float = 0.05, drop: float = 0.2, false: float = 0.2
) -> list[ImagePreds]:
    """Jittered copies of the kept ground truth, plus random false boxes, with uniform random scores."""
    rng = np.random.default_rng(seed)
    preds = []
    for im in gt:
        h, w = im.size
        keep = rng.uniform(size=len(im.labels)) >= drop
        boxes, labels = im.boxes[keep], im.labels[keep]
        size = boxes[:, 2:] - boxes[:, :2]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + rng.normal(0, jitter, size.shape) * size
        size = size * np.exp(rng.normal(0, jitter, size.shape))
        n_false = rng.binomial(len(im.labels), false) if len(im.labels) else int(rng.integers(0, 3))
        f_size = rng.uniform(0.05, 0.5, (n_false, 2)) * np.array([w, h])
        f_centre = rng.uniform(0, 1, (n_false, 2)) * np.array([w, h])
        centre, size = np.concatenate((centre, f_centre)), np.concatenate((size, f_size))
        xyxy = np.concatenate((centre - size / 2, centre + size / 2), 1)
        xyxy = np.clip(xyxy, 0, np.array([w, h, w, h]))
        labels = np.concatenate((labels, rng.integers(0, nc, n_false)))
        preds.append(ImagePreds(xyxy, rng.uniform(0, 1, len(labels)), labels))
    return preds


@pytest.fixture(scope="session")
def make_predictions() -> Callable[..., list[ImagePreds]]:
    """``make_predictions(gt, nc, seed=0, jitter=0.05, drop=0.2, false=0.2)`` -> per-image ``ImagePreds``."""
    return _predict
