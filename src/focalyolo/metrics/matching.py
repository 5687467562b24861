"""One-to-one matching of detections to ground truth, for all IoU thresholds at once.

Two rules: :func:`match_predictions` is COCO's (detections in descending score each take the unmatched
ground-truth box of highest IoU), so the fast mAP ranks detections as pycocotools does; :func:`greedy_pairs`
visits pairs from the highest IoU down (the confusion matrix's rule, which has no scores to order by).
"""

from __future__ import annotations

import numpy as np
import torch

from focalyolo.utils.boxes import box_iou

__all__ = ["first_occurrence", "greedy_pairs", "match_predictions", "score_order_matches"]


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


def score_order_matches(iou: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """COCO matching of one image: (n, m) IoU (0 where classes differ), (n,) scores, (T,) thresholds -> (n, T) bool.

    Detections are visited by descending score (stable); at each threshold a detection takes the still
    unmatched gt box of highest IoU >= the threshold (ties: the first), as pycocotools' ``evaluateImg``.
    Only detections with a candidate at the lowest threshold enter the loop, so it runs a few times per
    image rather than once per detection.
    """
    n, m = iou.shape
    tp = np.zeros((n, thresholds.size), bool)
    order = np.argsort(-scores, kind="stable")
    candidates = order[(iou[order] >= thresholds.min()).any(1) & (iou[order] > 0).any(1)]
    free = np.ones((thresholds.size, m), bool)
    levels = np.arange(thresholds.size)
    for d in candidates:
        allowed = (iou[d][None] >= thresholds[:, None]) & (iou[d][None] > 0) & free  # (T, m)
        best = np.where(allowed, iou[d][None], -1.0).argmax(1)
        hit = allowed[levels, best]
        tp[d] = hit
        free[levels[hit], best[hit]] = False
    return tp


def match_predictions(
    pred_boxes: torch.Tensor,
    pred_scores: torch.Tensor,
    pred_cls: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_cls: torch.Tensor,
    iou_thresholds: torch.Tensor,
    overlaps: torch.Tensor | None = None,
) -> torch.Tensor:
    """True-positive flags of one image's detections at every IoU threshold (same-class matches only, COCO rule).

    Args:
        pred_boxes: (n, 4) xyxy.
        pred_scores: (n,) confidences (the matching order).
        pred_cls: (n,) class indices.
        gt_boxes: (m, 4) xyxy.
        gt_cls: (m,) class indices.
        iou_thresholds: (T,).
        overlaps: (n, m) IoU to match by instead of the boxes' (e.g. mask IoU); None uses the boxes.

    Returns:
        (n, T) bool on ``pred_boxes.device``, True where the detection is matched to a gt box of its class.
    """
    n = pred_boxes.shape[0]
    if n == 0 or gt_boxes.shape[0] == 0:
        return torch.zeros(n, iou_thresholds.numel(), dtype=torch.bool, device=pred_boxes.device)
    iou = box_iou(pred_boxes.float(), gt_boxes.float()) if overlaps is None else overlaps.float()
    iou = iou * (pred_cls[:, None] == gt_cls[None, :])
    tp = score_order_matches(iou.cpu().numpy(), pred_scores.float().cpu().numpy(),
                             iou_thresholds.float().cpu().numpy())
    return torch.from_numpy(tp).to(pred_boxes.device)
