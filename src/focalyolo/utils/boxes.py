"""Box geometry shared by the head, the loss, NMS and the metrics.

Conventions: ``xyxy`` is (x1, y1, x2, y2), ``xywh`` is (centre x, centre y, width, height), ``ltrb`` is the
distance from an anchor point to the left, top, right and bottom sides. The last dimension holds the 4
coordinates unless a function says otherwise.
"""

from __future__ import annotations

import math

import torch

__all__ = ["bbox2dist", "bbox_ciou", "box_iou", "dist2bbox", "make_anchors", "make_divisible", "xywh2xyxy", "xyxy2xywh"]


def make_divisible(x: float, divisor: int = 8) -> int:
    """Smallest multiple of ``divisor`` that is >= ``x`` (the official width rounding, ceil-based)."""
    return int(math.ceil(x / divisor) * divisor)


def xywh2xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) centre-size boxes -> (..., 4) corner boxes."""
    xy, wh = boxes[..., :2], boxes[..., 2:4] / 2
    return torch.cat((xy - wh, xy + wh), dim=-1)


def xyxy2xywh(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) corner boxes -> (..., 4) centre-size boxes."""
    x1y1, x2y2 = boxes[..., :2], boxes[..., 2:4]
    return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim=-1)


def make_anchors(
    feats: list[torch.Tensor], strides: torch.Tensor | list[float], offset: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor points at grid-cell centres of every level.

    Args:
        feats: per-level maps (B, C, H_i, W_i); only their sizes, dtype and device are read.
        strides: stride of each level in input pixels.
        offset: 0.5 puts points at cell centres.

    Returns:
        points (A, 2) as (x, y) in grid units of their own level, and stride_per_anchor (A, 1),
        where A = sum(H_i * W_i), levels concatenated in order.
    """
    points, stride_rows = [], []
    dtype, device = feats[0].dtype, feats[0].device
    for feat, stride in zip(feats, strides):
        h, w = feat.shape[-2:]
        sx = torch.arange(w, device=device, dtype=dtype) + offset
        sy = torch.arange(h, device=device, dtype=dtype) + offset
        gy, gx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((gx, gy), dim=-1).view(-1, 2))
        stride_rows.append(torch.full((h * w, 1), float(stride), dtype=dtype, device=device))
    return torch.cat(points), torch.cat(stride_rows)


def dist2bbox(distance: torch.Tensor, anchor_points: torch.Tensor, xywh: bool = True, dim: int = -1) -> torch.Tensor:
    """Turn ltrb distances around anchor points into boxes (xywh or xyxy), along dimension ``dim``."""
    lt, rb = distance.chunk(2, dim)
    x1y1 = anchor_points - lt
    x2y2 = anchor_points + rb
    if xywh:
        return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)
    return torch.cat((x1y1, x2y2), dim)


def bbox2dist(anchor_points: torch.Tensor, boxes_xyxy: torch.Tensor, reg_max: float) -> torch.Tensor:
    """ltrb distances from anchor points to box sides, clamped to [0, reg_max - 0.01] (DFL targets)."""
    x1y1, x2y2 = boxes_xyxy.chunk(2, -1)
    return torch.cat((anchor_points - x1y1, x2y2 - anchor_points), -1).clamp_(0, reg_max - 0.01)


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M)."""
    a1, a2 = boxes1[:, None, :2], boxes1[:, None, 2:]
    b1, b2 = boxes2[None, :, :2], boxes2[None, :, 2:]
    inter = (torch.min(a2, b2) - torch.max(a1, b1)).clamp_(0).prod(-1)
    area1 = (boxes1[:, 2:] - boxes1[:, :2]).prod(-1)
    area2 = (boxes2[:, 2:] - boxes2[:, :2]).prod(-1)
    return inter / (area1[:, None] + area2[None, :] - inter + eps)


def bbox_ciou(box1: torch.Tensor, box2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Element-wise Complete-IoU of broadcastable (..., 4) xyxy boxes -> (..., 1).

    CIoU = IoU - centre_distance^2 / enclosing_diagonal^2 - alpha * v, with v the aspect-ratio term and
    alpha = v / (v - IoU + 1 + eps) taken without gradient (Zheng et al., 2020).
    """
    b1x1, b1y1, b1x2, b1y2 = box1.chunk(4, -1)
    b2x1, b2y1, b2x2, b2y2 = box2.chunk(4, -1)
    w1, h1 = b1x2 - b1x1, (b1y2 - b1y1).clamp(eps)
    w2, h2 = b2x2 - b2x1, (b2y2 - b2y1).clamp(eps)
    inter = (torch.min(b1x2, b2x2) - torch.max(b1x1, b2x1)).clamp(0) * (
        torch.min(b1y2, b2y2) - torch.max(b1y1, b2y1)
    ).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.max(b1x2, b2x2) - torch.min(b1x1, b2x1)
    ch = torch.max(b1y2, b2y2) - torch.min(b1y1, b2y1)
    diag2 = cw.pow(2) + ch.pow(2) + eps
    centre2 = ((b2x1 + b2x2 - b1x1 - b1x2).pow(2) + (b2y1 + b2y2 - b1y1 - b1y2).pow(2)) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (centre2 / diag2 + v * alpha)
