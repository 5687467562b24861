"""Keypoints: decoding the head's offsets, OKS similarity and its per-keypoint sigmas.

A pose head predicts, per anchor and keypoint, an (x, y) offset from the anchor point in units of the anchor's
stride and, for 3-value keypoints, a visibility logit. Object keypoint similarity (OKS, COCO's keypoint IoU) of a
predicted and a true pose is the mean over the true pose's labelled keypoints of
``exp(-d^2 / (2 * area * (2 * sigma)^2))``, with ``d`` the distance, ``area`` the object's area and ``sigma`` the
keypoint's tolerance: COCO's 17 sigmas for 17-point human pose, ``1 / nk`` for every keypoint otherwise (the
Ultralytics convention for custom keypoints, so figures on a user's data compare with theirs). The training loss
(:mod:`focalyolo.loss.pose`), the fast metric and pycocotools (``kpt_oks_sigmas``) all use these sigmas.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["COCO_KEYPOINT_SIGMAS", "check_kpt_shape", "decode_keypoints", "keypoint_oks", "keypoint_sigmas"]

COCO_KEYPOINT_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
                        0.087, 0.087, 0.089, 0.089)
"""COCO's per-keypoint OKS sigmas of the 17 person keypoints (nose, eyes, ears, shoulders, elbows, wrists, hips,
knees, ankles), from the COCO keypoint evaluation."""


def check_kpt_shape(kpt_shape: object) -> list[int]:
    """``[nk, ndim]`` with nk >= 1 and ndim 2 or 3, as a list of ints; a ValueError says what is wrong."""
    if (not isinstance(kpt_shape, (list, tuple)) or len(kpt_shape) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in kpt_shape)
            or kpt_shape[0] < 1 or kpt_shape[1] not in (2, 3)):
        raise ValueError(f"kpt_shape must be [keypoints >= 1, 2 or 3 values each], got {kpt_shape!r}")
    return [int(kpt_shape[0]), int(kpt_shape[1])]


def keypoint_sigmas(nk: int) -> np.ndarray:
    """(nk,) float64 OKS sigmas: COCO's for 17 keypoints, ``1 / nk`` each otherwise."""
    return np.array(COCO_KEYPOINT_SIGMAS if nk == 17 else [1.0 / nk] * nk, np.float64)


def decode_keypoints(raw: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor, ndim: int,
                     visibility_logits: bool = False) -> torch.Tensor:
    """Head offsets -> keypoints in input pixels.

    Args:
        raw: (B, nk * ndim, A) per anchor: x, y offsets in strides from the anchor point (and a visibility logit).
        anchors: (A, 2) anchor points (x, y) in grid units of their level (:func:`~focalyolo.utils.boxes.make_anchors`).
        strides: (A, 1) each anchor's stride in pixels.
        ndim: 2 (x, y) or 3 (x, y, visibility).
        visibility_logits: keep the visibility logits (the loss) instead of their sigmoid (predictions).

    Returns:
        (B, nk * ndim, A): per keypoint x, y in input pixels (and visibility), keypoint-major like ``raw``.
    """
    b, _, a = raw.shape
    points = raw.view(b, -1, ndim, a)
    grid, scale = anchors.transpose(0, 1).to(raw.dtype), strides.transpose(0, 1).to(raw.dtype)
    xy = (points[:, :, :2] + grid) * scale
    if ndim == 2:
        return xy.reshape(b, -1, a)
    visibility = points[:, :, 2:3] if visibility_logits else points[:, :, 2:3].sigmoid()
    return torch.cat((xy, visibility), 2).view(b, -1, a)


def keypoint_oks(pred: torch.Tensor, gt: torch.Tensor, areas: torch.Tensor, sigmas: torch.Tensor,
                 pairwise: bool = False) -> torch.Tensor:
    """Object keypoint similarity over each true pose's labelled keypoints (v > 0).

    Args:
        pred: (n, nk, >= 2) predicted x, y (pixels).
        gt: (n, nk, 3) true x, y, v (same pixel frame); ``v > 0`` marks the keypoints that count.
        areas: (n,) (or (m,) with ``pairwise``) object areas in pixels^2 (the true boxes').
        sigmas: (nk,) per-keypoint sigmas.
        pairwise: score every prediction against every true pose: ``gt`` is then (m, nk, 3) and the result (n, m).

    Returns:
        (n,) OKS of matching rows, or (n, m) with ``pairwise``; 0 where a true pose has no labelled keypoint.
    """
    if pairwise:
        pred, gt = pred[:, None], gt[None]
    d2 = ((pred[..., :2] - gt[..., :2]) ** 2).sum(-1)
    tolerance = 2 * areas[..., None] * (2 * sigmas.to(pred.dtype)) ** 2
    labelled = (gt[..., 2] > 0).to(pred.dtype)
    similarity = (torch.exp(-d2 / (tolerance + 1e-9)) * labelled).sum(-1)
    return similarity / labelled.sum(-1).clamp(min=1)

