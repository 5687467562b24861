"""Greedy non-maximum suppression of rotated boxes by their exact IoU (torch).

The IoU matrix of the candidates (:func:`~focalyolo.utils.rotated_iou.rotated_iou_matrix`, best score first) says
which box would suppress which; the greedy choice (keep the best box, drop those it overlaps by more than the
threshold, repeat) is then the fixed point of ``keep[j] = no kept i < j overlaps j``, reached by iterating that rule
on the whole boolean matrix at once: box j is settled once every box that could suppress it is, so the number of
passes is the longest chain of overlaps plus one, a few in practice and N at most.
"""

from __future__ import annotations

import torch

from focalyolo.utils.rotated_iou import rotated_iou_matrix

__all__ = ["batched_rotated_nms", "rotated_nms"]


def _greedy_keep(overlaps: torch.Tensor) -> torch.Tensor:
    """(N, N) bool, ``overlaps[i, j]``: box i (better) would suppress box j -> (N,) bool, the greedy NMS survivors."""
    overlaps = overlaps.triu(diagonal=1)
    keep = torch.ones(len(overlaps), dtype=torch.bool, device=overlaps.device)
    for _ in range(len(overlaps)):
        settled = ~(overlaps & keep[:, None]).any(dim=0)
        if torch.equal(settled, keep):
            break
        keep = settled
    return keep


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, classes: torch.Tensor | None) -> torch.Tensor:
    if boxes.dim() != 2 or boxes.shape[1] != 5 or scores.shape != boxes.shape[:1]:
        raise ValueError(f"boxes must be (N, 5) and scores (N,), got {tuple(boxes.shape)} and {tuple(scores.shape)}")
    order = scores.argsort(descending=True, stable=True)
    same = None if classes is None else classes[order][:, None] == classes[order][None]
    ranked = boxes[order]
    overlaps = rotated_iou_matrix(ranked, ranked, candidates=same) > iou_threshold
    return order[_greedy_keep(overlaps)]


def rotated_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS of (N, 5) xywhr boxes with (N,) scores -> (K,) int64 indices of the kept boxes, best score first.

    A box is dropped when a better kept box overlaps it by IoU > ``iou_threshold``; equal scores keep index order.
    """
    return _nms(boxes, scores, iou_threshold, None)


def batched_rotated_nms(
    boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Greedy NMS within each class: (N, 5) xywhr, (N,) scores, (N,) class ids -> (K,) int64 kept indices, best first.

    Boxes of different classes never suppress each other. Instead of shifting each class to a far-off place of its
    own (the offset trick of axis-aligned NMS, which costs float32 precision at large offsets), the IoU matrix is
    computed for same-class pairs only, which also spares the polygon intersection of the other pairs.
    """
    return _nms(boxes, scores, iou_threshold, classes)
