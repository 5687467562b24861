"""Overlap of rotated boxes (torch, (..., 5) canonical or any xywhr rows, see :mod:`focalyolo.utils.rotated`).

Two measures, for two uses:

* :func:`probiou` (Llerena et al., arXiv 2106.06072) reads each box as the 2-D Gaussian of a uniform rectangle
  (mean the centre, covariance ``R diag(w^2, h^2) R^T / 12``) and returns ``1 - H``, H the Hellinger distance
  ``sqrt(1 - exp(-B))`` and B the Bhattacharyya distance of the two Gaussians. Smooth, differentiable, the same
  for every row of one rectangle, and defined for disjoint boxes: a loss.
* :func:`rotated_iou` and :func:`rotated_iou_matrix` give the exact IoU, the area of the intersection polygon over
  the area of the union: for the metrics and NMS.

Widths and heights are >= 0 (a box of zero area has IoU 0 with everything).
"""

from __future__ import annotations

import torch

from focalyolo.utils.rotated import xywhr_to_corners

__all__ = ["probiou", "probiou_matrix", "rotated_iou", "rotated_iou_matrix"]


def _gaussian(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(..., 5) xywhr -> the covariance entries ``a = var x, b = var y, c = cov xy`` and its determinant, each (...)."""
    var_w, var_h = boxes[..., 2].square() / 12, boxes[..., 3].square() / 12
    cos, sin = boxes[..., 4].cos(), boxes[..., 4].sin()
    a = var_w * cos.square() + var_h * sin.square()
    b = var_w * sin.square() + var_h * cos.square()
    c = (var_w - var_h) * cos * sin
    return a, b, c, var_w * var_h


def probiou(boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """ProbIoU of rotated boxes row by row: (..., 5) and (..., 5), broadcast -> (...) in [0, 1].

    With the mean covariance ``S = (S1 + S2) / 2`` and ``d = mu1 - mu2``::

        B = d^T S^-1 d / 8 + ln(det S / sqrt(det S1 det S2)) / 2,    ProbIoU = 1 - sqrt(1 - exp(-B))

    1 for identical boxes, towards 0 as they part. The square root is taken as
    ``(sqrt(x + eps) - sqrt(eps)) / (sqrt(1 + eps) - sqrt(eps))``: the same ends (0 at x = 0, 1 at x = 1), a finite
    gradient where two boxes coincide, and an error below ``sqrt(eps)`` elsewhere. Determinants are kept above the
    dtype's smallest normal number, so boxes of zero size give a finite B (ProbIoU near 0), not a nan.
    """
    a1, b1, c1, det1 = _gaussian(boxes1)
    a2, b2, c2, det2 = _gaussian(boxes2)
    a, b, c = (a1 + a2) / 2, (b1 + b2) / 2, (c1 + c2) / 2
    tiny = torch.finfo(a.dtype).tiny
    det = (a * b - c.square()).clamp(min=tiny)
    dx, dy = boxes1[..., 0] - boxes2[..., 0], boxes1[..., 1] - boxes2[..., 1]
    mahalanobis = (b * dx.square() - 2 * c * dx * dy + a * dy.square()) / det
    spread = torch.log(det / (det1 * det2).clamp(min=tiny).sqrt())
    bhattacharyya = (mahalanobis / 8 + spread / 2).clamp(min=0.0, max=100.0)
    x = -torch.expm1(-bhattacharyya)  # 1 - exp(-B) without cancellation for small B
    root_eps = eps**0.5
    hellinger = ((x + eps).sqrt() - root_eps) / ((1 + eps) ** 0.5 - root_eps)
    return 1 - hellinger


def probiou_matrix(boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """ProbIoU of every pair: (N, 5) and (M, 5) -> (N, M) (see :func:`probiou`)."""
    return probiou(boxes1[:, None], boxes2[None], eps=eps)


def _cross(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """z of the cross product of (..., 2) vectors."""
    return p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]


def _inside(points: torch.Tensor, polygon: torch.Tensor, tolerance: torch.Tensor) -> torch.Tensor:
    """(P, K, 2) points in or on the (P, 4, 2) convex polygons of positive orientation -> (P, K) bool.

    A point counts as inside within ``tolerance`` (P,) of every side line (float error, so that a corner on a side
    or two equal boxes keep their shared corners).
    """
    edges = polygon.roll(-1, dims=-2) - polygon  # (P, 4, 2)
    offset = points[:, :, None] - polygon[:, None]  # (P, K, 4, 2)
    distance = _cross(edges[:, None], offset) / edges.norm(dim=-1)[:, None].clamp(min=torch.finfo(edges.dtype).tiny)
    return (distance >= -tolerance[:, None, None]).all(dim=-1)


def _intersection_area(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Area of the intersection of (P, 4, 2) convex quadrilaterals with (P, 4, 2) ones, pair by pair -> (P,).

    The intersection is the convex polygon whose vertices are the corners of each inside the other and the
    crossings of their sides (16 side pairs): all 24 candidates are computed, the valid ones sorted by angle around
    their mean, and the shoelace formula sums the polygon, invalid slots repeating the first vertex (zero area).
    """
    origin = p.mean(dim=-2, keepdim=True)  # centred coordinates keep the products small (float32 precision)
    p, q = p - origin, q - origin
    scale = torch.maximum(p.abs().amax(dim=(-2, -1)), q.abs().amax(dim=(-2, -1)))
    resolution = 64 * torch.finfo(p.dtype).eps
    tolerance = resolution * scale

    side_p, side_q = p.roll(-1, dims=-2) - p, q.roll(-1, dims=-2) - q  # (P, 4, 2)
    r, s = side_p[:, :, None], side_q[:, None]  # (P, 4, 1, 2), (P, 1, 4, 2)
    start = q[:, None] - p[:, :, None]  # (P, 4, 4, 2): from each side of p's start to each side of q's start
    denominator = _cross(r, s)
    parallel = denominator.abs() <= resolution * r.norm(dim=-1) * s.norm(dim=-1)
    denominator = torch.where(parallel, torch.ones_like(denominator), denominator)
    t, u = _cross(start, s) / denominator, _cross(start, r) / denominator  # positions along p's and q's sides
    crosses = ~parallel & (t >= -resolution) & (t <= 1 + resolution) & (u >= -resolution) & (u <= 1 + resolution)
    crossings = p[:, :, None] + t.clamp(0, 1)[..., None] * r  # (P, 4, 4, 2)

    points = torch.cat((p, q, crossings.flatten(1, 2)), dim=1)  # (P, 24, 2)
    valid = torch.cat((_inside(p, q, tolerance), _inside(q, p, tolerance), crosses.flatten(1, 2)), dim=1)
    count = valid.sum(dim=1)
    mean = (points * valid[..., None]).sum(dim=1) / count.clamp(min=1)[:, None]
    around = points - mean[:, None]
    angle = torch.atan2(around[..., 1], around[..., 0]).masked_fill(~valid, 4.0)  # invalid after every angle
    order = angle.argsort(dim=1)
    around = around.gather(1, order[..., None].expand_as(around))
    valid = valid.gather(1, order)
    around = torch.where(valid[..., None], around, around[:, :1])
    area = _cross(around, around.roll(-1, dims=1)).sum(dim=1) / 2
    return torch.where(count >= 3, area, torch.zeros_like(area))


def _working_dtype(boxes: torch.Tensor) -> torch.dtype:
    return boxes.dtype if boxes.dtype in (torch.float32, torch.float64) else torch.float32


def _pair_iou(boxes1: torch.Tensor, boxes2: torch.Tensor, chunk: int) -> torch.Tensor:
    """Exact IoU of (P, 5) boxes with (P, 5) boxes row by row, ``chunk`` rows at a time -> (P,)."""
    corners1, corners2 = xywhr_to_corners(boxes1), xywhr_to_corners(boxes2)
    inter = torch.cat([
        _intersection_area(corners1[i:i + chunk], corners2[i:i + chunk]) for i in range(0, len(boxes1), chunk)
    ]) if len(boxes1) else boxes1.new_zeros(0)
    union = boxes1[:, 2] * boxes1[:, 3] + boxes2[:, 2] * boxes2[:, 3] - inter
    return (inter / union.clamp(min=torch.finfo(union.dtype).tiny)).clamp(0.0, 1.0)


def rotated_iou(boxes1: torch.Tensor, boxes2: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Exact IoU of rotated boxes row by row: (N, 5) and (N, 5) xywhr -> (N,), up to float error.

    Computed ``chunk`` rows at a time to bound memory; float16/bfloat16 in float32. Boxes of zero area have IoU 0.
    """
    dtype = _working_dtype(boxes1)
    return _pair_iou(boxes1.to(dtype), boxes2.to(dtype), chunk)


def rotated_iou_matrix(
    boxes1: torch.Tensor, boxes2: torch.Tensor, candidates: torch.Tensor | None = None, chunk: int = 65536
) -> torch.Tensor:
    """Exact IoU of every pair of rotated boxes: (N, 5) and (M, 5) xywhr -> (N, M), up to float error.

    Only pairs whose circumscribed circles meet are intersected (the others are 0), ``chunk`` pairs at a time to
    bound memory; ``candidates`` (N, M) bool narrows the pairs further (e.g. to those of one class), the others
    being 0. Boxes of zero area have IoU 0 with everything. Float16/bfloat16 are computed in float32.
    """
    dtype = _working_dtype(boxes1)
    boxes1, boxes2 = boxes1.to(dtype), boxes2.to(dtype)
    radius1, radius2 = boxes1[:, 2:4].norm(dim=1) / 2, boxes2[:, 2:4].norm(dim=1) / 2
    distance = torch.cdist(boxes1[:, :2], boxes2[:, :2], compute_mode="donot_use_mm_for_euclid_dist")
    meet = distance <= radius1[:, None] + radius2[None]
    meet &= (boxes1[:, 2] * boxes1[:, 3] > 0)[:, None] & (boxes2[:, 2] * boxes2[:, 3] > 0)[None]
    if candidates is not None:
        meet &= candidates
    first, second = meet.nonzero(as_tuple=True)
    iou = boxes1.new_zeros(len(boxes1), len(boxes2))
    iou[first, second] = _pair_iou(boxes1[first], boxes2[second], chunk)
    return iou
