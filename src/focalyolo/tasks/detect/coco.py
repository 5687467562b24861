"""Detection's COCO adapters: pycocotools box figures against a dataset's own labels, and ``predictions.json`` rows.

Ground truth is read from the dataset's labels (normalised to each original image) and its image sizes, not from
the loader's letterboxed batches, so the figures do not depend on the letterbox round trip. Segmentation and pose
build on :func:`dataset_ground_truth` for their ``segm`` / ``keypoints`` figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...metrics import build_coco_gt, detections_to_coco, per_class_stats, run_cocoeval
from ...metrics.coco_json import coco_category_map, coco_image_id

__all__ = ["COCO_STATS", "coco_figures", "dataset_ground_truth", "predictions_json"]

# COCO figure name -> index in COCOeval.stats
COCO_STATS: dict[str, int] = {
    "coco/AP50-95": 0, "coco/AP50": 1, "coco/AP75": 2, "coco/APs": 3, "coco/APm": 4, "coco/APl": 5, "coco/AR100": 8,
}


def dataset_ground_truth(dataset: Any, paths: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray], list]:
    """Per image of ``paths``: (m, 4) xyxy boxes and (m,) classes in original pixels, from ``dataset.labels``
    (normalised to the original image) and ``dataset.shapes`` (h, w); plus the (h, w) sizes."""
    if not all(hasattr(dataset, a) for a in ("im_files", "labels", "shapes")):
        raise ValueError("coco=True needs a loader over a YOLODataset (im_files, labels and shapes)")
    index = {p: i for i, p in enumerate(dataset.im_files)}
    boxes, classes, sizes = [], [], []
    for path in paths:
        i = index[path]
        h, w = (int(v) for v in dataset.shapes[i])
        lb = np.asarray(dataset.labels[i], np.float64).reshape(-1, 5)
        xy, wh = lb[:, 1:3] * (w, h), lb[:, 3:5] * (w, h)
        boxes.append(np.concatenate((xy - wh / 2, xy + wh / 2), 1))
        classes.append(lb[:, 0].astype(np.int64))
        sizes.append((h, w))
    return boxes, classes, sizes


def coco_figures(
    dataset: Any, detections: list[tuple[str, torch.Tensor]], names: Sequence[str]
) -> tuple[dict[str, float], np.ndarray]:
    """pycocotools figures of ``detections`` against the dataset's labels.

    Args:
        dataset: a :class:`YOLODataset` (labels normalised to each original image).
        detections: per image (path, (n, 6) [x1, y1, x2, y2, score, cls] in original pixels).
        names: class names; category id = class index.

    Returns:
        The ``COCO_STATS`` figures and (nc,) per-class AP50-95 (-1 for classes without ground truth).
    """
    paths = [p for p, _ in detections]
    boxes, classes, sizes = dataset_ground_truth(dataset, paths)
    gt = build_coco_gt(boxes, classes, image_sizes=sizes, file_names=[Path(p).name for p in paths],
                       categories=dict(enumerate(names)))
    rows = [
        row
        for i, (_, det) in enumerate(detections)
        for row in detections_to_coco(det[:, :4], det[:, 4], det[:, 5].long(), image_id=i, rounded=False)
    ]
    evaluator = run_cocoeval(gt, rows)
    ap_per_class, _ = per_class_stats(evaluator)
    return {k: float(evaluator.stats[i]) for k, i in COCO_STATS.items()}, ap_per_class


def predictions_json(detections: list[tuple[str, torch.Tensor]], names: Sequence[str]) -> list[dict]:
    """COCO results rows (3-decimal boxes, 5-decimal scores) with file-stem image ids; COCO's 80 classes get
    their official category ids, other datasets keep the class index."""
    mapping = coco_category_map(names)
    return [
        row
        for path, det in detections
        for row in detections_to_coco(det[:, :4], det[:, 4], det[:, 5].long(), coco_image_id(Path(path).stem), mapping)
    ]
