"""Rotated NMS against a plain greedy loop over shapely IoUs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from shapely.geometry import Polygon

from focalyolo.utils.rotated import xywhr_to_corners
from focalyolo.utils.rotated_nms import batched_rotated_nms, rotated_nms


def _clustered(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n boxes in a few clusters (detections of the same objects), their scores and 3 classes."""
    rng = np.random.default_rng(seed)
    objects = np.concatenate((rng.uniform(0, 300, (6, 2)), rng.uniform(10, 80, (6, 2)), rng.uniform(0, 3, (6, 1))), 1)
    pick = objects[rng.integers(0, 6, n)]
    noise = np.concatenate((rng.normal(0, 6, (n, 2)), pick[:, 2:4] * rng.normal(0, 0.15, (n, 2)),
                            rng.normal(0, 0.2, (n, 1))), 1)
    return pick + noise, rng.uniform(0, 1, n), rng.integers(0, 3, n)


def _greedy_reference(boxes: np.ndarray, scores: np.ndarray, threshold: float,
                      classes: np.ndarray | None = None) -> list[int]:
    polygons = [Polygon(c) for c in xywhr_to_corners(boxes)]

    def iou(i: int, j: int) -> float:
        inter = polygons[i].intersection(polygons[j]).area
        return inter / (polygons[i].area + polygons[j].area - inter)

    kept: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda k: -scores[k]):
        rivals = [k for k in kept if classes is None or classes[k] == classes[i]]
        if all(iou(i, k) <= threshold for k in rivals):
            kept.append(i)
    return kept


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.7])
def test_rotated_nms_matches_greedy_reference(threshold: float) -> None:
    for seed in range(5):
        boxes, scores, _ = _clustered(seed)
        kept = rotated_nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold)
        assert kept.dtype == torch.int64
        assert kept.tolist() == _greedy_reference(boxes, scores, threshold)


def test_batched_rotated_nms_keeps_classes_apart() -> None:
    for seed in range(5):
        boxes, scores, classes = _clustered(seed + 10)
        kept = batched_rotated_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.4)
        assert kept.tolist() == _greedy_reference(boxes, scores, 0.4, classes)
    boxes = torch.tensor([[50.0, 50.0, 20.0, 10.0, 0.3]] * 2)
    scores = torch.tensor([0.9, 0.8])
    assert batched_rotated_nms(boxes, scores, torch.tensor([0, 1]), 0.5).tolist() == [0, 1]
    assert batched_rotated_nms(boxes, scores, torch.tensor([1, 1]), 0.5).tolist() == [0]


def test_chain_of_suppressions() -> None:
    """0 suppresses 1, so 1 cannot suppress 2: a chain the greedy pass must follow (kept 0 and 2)."""
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0, 0.0], [4.0, 0.0, 10.0, 10.0, 0.0], [8.0, 0.0, 10.0, 10.0, 0.0]])
    assert rotated_nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.3).tolist() == [0, 2]
    assert rotated_nms(boxes, torch.tensor([0.7, 0.9, 0.8]), 0.3).tolist() == [1]


def test_empty_and_float32() -> None:
    assert rotated_nms(torch.zeros(0, 5), torch.zeros(0), 0.5).tolist() == []
    boxes, scores, _ = _clustered(20)
    kept = rotated_nms(torch.from_numpy(boxes).float(), torch.from_numpy(scores).float(), 0.5)
    assert kept.tolist() == _greedy_reference(boxes, scores, 0.5)
    with pytest.raises(ValueError, match="boxes"):
        rotated_nms(torch.zeros(3, 4), torch.zeros(3), 0.5)
