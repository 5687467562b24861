"""Greedy non-maximum suppression of rotated boxes by their exact IoU (torch).

The IoU matrix of the candidates (:func:`~focalyolo.utils.rotated_iou.rotated_iou_matrix`, best score first) says
which box would suppress which; the greedy choice (keep the best box, drop those it overlaps by more than the
threshold, repeat) is then the fixed point of ``keep[j] = no kept i < j overlaps j``, reached by iterating that rule
on the whole boolean matrix at once: box j is settled once every box that could suppress it is, so the number of
passes is the longest chain of overlaps plus one, a few in practice and N at most.

:func:`rotated_non_max_suppression` is the whole post-processing of an OBB head's decoded output: the confidence
filter, the candidate cap and NMS per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from focalyolo.utils.nms import nms_candidates
from focalyolo.utils.rotated import canonical_xywhr
from focalyolo.utils.rotated_iou import rotated_iou_matrix

__all__ = ["batched_rotated_nms", "rotated_nms", "rotated_non_max_suppression"]


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
    ranked = boxes[order]
    # only a better box suppresses (i < j), and only one whose area is within the threshold's ratio of the other's
    # can overlap it by more: IoU <= min(area) / max(area), as the intersection is at most the smaller area and the
    # union at least the larger; the other pairs are never intersected
    area = ranked[:, 2] * ranked[:, 3]
    pairs = torch.ones(len(ranked), len(ranked), dtype=torch.bool, device=boxes.device).triu(diagonal=1)
    pairs &= torch.minimum(area[:, None], area[None]) > iou_threshold * torch.maximum(area[:, None], area[None])
    if classes is not None:
        pairs &= classes[order][:, None] == classes[order][None]
    overlaps = rotated_iou_matrix(ranked, ranked, candidates=pairs) > iou_threshold
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


def rotated_non_max_suppression(
    prediction: torch.Tensor,
    conf: float = 0.25,
    iou: float = 0.7,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    multi_label: bool = False,
    max_det: int = 300,
    max_nms: int = 30000,
) -> list[torch.Tensor]:
    """Confidence filter and NMS (per class unless ``agnostic``) of a batch of an OBB head's decoded predictions.

    Args:
        prediction: (B, 4 + nc + 1, A) ``cx, cy, w, h`` in pixels, class scores in [0, 1], the angle in radians.
        conf: minimum score (exclusive) of a candidate.
        iou: boxes overlapping a better one (same class unless ``agnostic``) by more than this exact IoU go.
        classes: keep only these class indices (None keeps all).
        agnostic: suppress across classes.
        multi_label: every (box, class) pair above ``conf`` is a candidate (evaluation), else each box's best class.
        max_det: most detections kept per image.
        max_nms: most candidates (highest scores) passed to NMS per image.

    Returns:
        B tensors (n_i, 7) float32 ``[cx, cy, w, h, angle, score, cls]``, boxes canonical, by descending score.
    """
    if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
        raise ValueError(f"conf and iou must be in [0, 1], got {conf} and {iou}")
    if prediction.dim() != 3 or prediction.shape[1] < 6:
        raise ValueError(f"prediction must be (B, 4 + nc + 1, A), got {tuple(prediction.shape)}")
    pred = prediction.detach().float().transpose(1, 2)
    keep_classes = None if classes is None else torch.as_tensor(classes, device=pred.device)
    out = []
    for x in pred:
        anchor, best, cls = nms_candidates(x[:, 4:-1], conf, multi_label, keep_classes, max_nms)
        boxes = canonical_xywhr(torch.cat((x[anchor, :4], x[anchor, -1:]), 1))
        kept = rotated_nms(boxes, best, iou) if agnostic else batched_rotated_nms(boxes, best, cls, iou)
        kept = kept[:max_det]
        out.append(torch.cat((boxes[kept], best[kept, None], cls[kept, None].float()), 1))
    return out
