"""Greedy one-to-one matching of detections to ground truth by IoU, for all IoU thresholds at once.

Within each threshold, candidate (detection, gt) pairs with IoU >= threshold are visited from the highest IoU
down; a pair is kept when neither its detection nor its gt was kept before.
"""

from __future__ import annotations

import torch

from focalyolo.utils.boxes import box_iou


def first_occurrence(keys: torch.Tensor) -> torch.Tensor:
    """(P,) non-negative int64 keys -> (P,) bool, True at the first position of each distinct key."""
    pos = torch.arange(keys.numel(), device=keys.device)
    size = int(keys.max()) + 1 if keys.numel() else 0
    first = torch.full((size,), keys.numel(), dtype=pos.dtype, device=keys.device)
    first = first.scatter_reduce(0, keys, pos, reduce="amin")
    return first[keys] == pos


def greedy_pairs(iou: torch.Tensor, thresholds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One-to-one matches of an IoU matrix, independently for every threshold.

    Args:
        iou: (n, m) IoU of n detections with m ground-truth boxes (0 where a pair must not match).
        thresholds: (T,) IoU thresholds; a pair qualifies when its IoU >= the threshold and > 0.

    Returns:
        threshold index, detection index, gt index: three (K,) int64 tensors, one entry per kept match.
    """
    n, m = iou.shape
    ok = (iou[None] >= thresholds[:, None, None]) & (iou[None] > 0)
    t, d, g = ok.nonzero(as_tuple=True)
    order = iou[d, g].argsort(descending=True, stable=True)
    t, d, g = t[order], d[order], g[order]
    keep = first_occurrence(t * n + d)
    t, d, g = t[keep], d[keep], g[keep]
    keep = first_occurrence(t * m + g)
    return t[keep], d[keep], g[keep]


def match_predictions(
    pred_boxes: torch.Tensor,
    pred_cls: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_cls: torch.Tensor,
    iou_thresholds: torch.Tensor,
) -> torch.Tensor:
    """True-positive flags of one image's detections at every IoU threshold (same-class matches only).

    Args:
        pred_boxes: (n, 4) xyxy.
        pred_cls: (n,) class indices.
        gt_boxes: (m, 4) xyxy.
        gt_cls: (m,) class indices.
        iou_thresholds: (T,).

    Returns:
        (n, T) bool, True where the detection is matched to a gt box of its class at that threshold.
    """
    tp = torch.zeros(pred_boxes.shape[0], iou_thresholds.numel(), dtype=torch.bool, device=pred_boxes.device)
    if pred_boxes.shape[0] == 0 or gt_boxes.shape[0] == 0:
        return tp
    iou = box_iou(pred_boxes.float(), gt_boxes.float()) * (pred_cls[:, None] == gt_cls[None, :])
    t, d, _ = greedy_pairs(iou, iou_thresholds.to(iou))
    tp[d, t] = True
    return tp
