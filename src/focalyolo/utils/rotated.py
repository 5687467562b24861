"""Rotated boxes: the canonical ``xywhr`` row, its corners, affine maps and flips (numpy or torch in, the same out).

A rotated box is a row ``(cx, cy, w, h, angle)`` in the pixel frame of an image (x right, y down). ``angle`` is in
radians and turns the x axis towards the y axis (clockwise as seen on the screen): side ``w`` lies along
``(cos angle, sin angle)``, side ``h`` along ``(-sin angle, cos angle)``.

**Canonical form**: ``0 <= angle < pi/2``, ``w`` and ``h`` in either order. A rectangle is the same box under
``angle + pi`` and under ``angle + pi/2`` with ``w`` and ``h`` swapped, so the quarter turn that is left picks exactly
one row for every rectangle, a square included (a long-side form, ``w >= h`` with the angle in a range of pi, must
break a square's tie by a rule of its own). The form jumps in one place, where ``angle`` reaches pi/2 and ``w`` and
``h`` trade places; a loss built on ProbIoU does not see the jump, as every row of one rectangle has the same
Gaussian.

**Corner order** (:func:`xywhr_to_corners`): ``c - u - v, c + u - v, c + u + v, c - u + v`` with
``u = w/2 (cos angle, sin angle)`` and ``v = h/2 (-sin angle, cos angle)``: for angle 0 the top-left, top-right,
bottom-right and bottom-left corners, clockwise on the screen, positive shoelace area in (x, y).

Quadrilaterals that are not rectangles (hand-drawn labels, a rectangle through a shear or a perspective) become
their least-area bounding rectangle (:func:`corners_to_xywhr`).
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "canonical_xywhr", "corners_to_xywhr", "flip_xywhr_lr", "flip_xywhr_ud", "rotated_box_affine", "xywhr_to_corners",
]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

# The 6 point pairs of a quadrilateral: every side and both diagonals.
_PAIRS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def _as_float_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A float tensor that shares memory with ``x`` where it can (numpy float arrays, float tensors)."""
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.float()
    array = np.ascontiguousarray(x)
    if not array.flags.writeable:  # torch.from_numpy wants memory it may write
        array = array.copy()
    return torch.from_numpy(array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64))


def _like(result: torch.Tensor, template: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``result`` as a numpy array when ``template`` was one."""
    return result if isinstance(template, torch.Tensor) else result.numpy()


def _canonical(boxes: torch.Tensor) -> torch.Tensor:
    quarter = math.pi / 2
    cx, cy, w, h, angle = boxes.unbind(-1)
    turns = torch.floor(angle / quarter)
    angle = angle - turns * quarter
    over = angle >= quarter  # rounding can land on pi/2 itself
    angle = torch.where(over, angle - quarter, angle).clamp(min=0.0)
    odd = torch.remainder(turns + over.to(turns.dtype), 2) == 1
    return torch.stack((cx, cy, torch.where(odd, h, w), torch.where(odd, w, h), angle), dim=-1)


def canonical_xywhr(boxes: Array) -> Array:
    """(..., 5) rotated boxes with any angle -> the same rectangles in the canonical form (angle in [0, pi/2)).

    Whole quarter turns leave the angle; each odd one swaps w and h. Differentiable in torch (a quarter turn is a
    relabelling, not a computation).
    """
    return _like(_canonical(_as_float_tensor(boxes)), boxes)


def _corners(boxes: torch.Tensor) -> torch.Tensor:
    centre, w, h, angle = boxes[..., :2], boxes[..., 2:3], boxes[..., 3:4], boxes[..., 4:5]
    cos, sin = angle.cos(), angle.sin()
    u = torch.cat((w * cos, w * sin), dim=-1) / 2
    v = torch.cat((-h * sin, h * cos), dim=-1) / 2
    return torch.stack((centre - u - v, centre + u - v, centre + u + v, centre - u + v), dim=-2)


def xywhr_to_corners(boxes: Array) -> Array:
    """(..., 5) rotated boxes -> (..., 4, 2) corner points (x, y) in the module's corner order."""
    return _like(_corners(_as_float_tensor(boxes)), boxes)


def _least_area_rectangle(points: torch.Tensor) -> torch.Tensor:
    """(..., 4, 2) points -> (..., 5) canonical xywhr of their least-area bounding rectangle.

    That rectangle has a side along an edge of the points' convex hull (Freeman and Shapira, 1975), and every hull
    edge of 4 points joins 2 of them: the rectangle is the least of the 6 aligned with a point pair, each found by
    projecting the points on the pair's direction and its normal. Exact for rectangles (the side pairs win).
    """
    origin = points.mean(dim=-2, keepdim=True)  # projections of centred points keep float32 precision
    points = points - origin
    first, second = zip(*_PAIRS)
    direction = points[..., second, :] - points[..., first, :]  # (..., 6, 2)
    length = direction.norm(dim=-1, keepdim=True)
    x_axis = torch.tensor([1.0, 0.0], dtype=points.dtype, device=points.device)
    u = torch.where(length > 0, direction / length.clamp(min=torch.finfo(points.dtype).tiny), x_axis)
    v = torch.stack((-u[..., 1], u[..., 0]), dim=-1)
    along_u = u @ points.transpose(-1, -2)  # (..., 6, 4): every point on every candidate axis
    along_v = v @ points.transpose(-1, -2)
    u_lo, u_hi = along_u.amin(dim=-1), along_u.amax(dim=-1)
    v_lo, v_hi = along_v.amin(dim=-1), along_v.amax(dim=-1)
    best = ((u_hi - u_lo) * (v_hi - v_lo)).argmin(dim=-1, keepdim=True)  # (..., 1)

    def pick(values: torch.Tensor) -> torch.Tensor:
        return values.gather(-1, best).squeeze(-1)

    u_best = u.gather(-2, best.unsqueeze(-1).expand(*best.shape, 2)).squeeze(-2)  # (..., 2)
    v_best = torch.stack((-u_best[..., 1], u_best[..., 0]), dim=-1)
    mid_u, mid_v = (pick(u_lo) + pick(u_hi)) / 2, (pick(v_lo) + pick(v_hi)) / 2
    centre = origin.squeeze(-2) + mid_u.unsqueeze(-1) * u_best + mid_v.unsqueeze(-1) * v_best
    w, h = pick(u_hi) - pick(u_lo), pick(v_hi) - pick(v_lo)
    angle = torch.atan2(u_best[..., 1], u_best[..., 0])
    return _canonical(torch.cat((centre, torch.stack((w, h, angle), dim=-1)), dim=-1))


def _points(corners: torch.Tensor) -> torch.Tensor:
    if corners.shape[-1] == 8:
        return corners.unflatten(-1, (4, 2))
    if corners.shape[-2:] != (4, 2):
        raise ValueError(f"corners must be (..., 8) or (..., 4, 2), got {tuple(corners.shape)}")
    return corners


def corners_to_xywhr(corners: Array) -> Array:
    """(N, 8) or (N, 4, 2) quadrilaterals -> (N, 5) canonical xywhr.

    A rectangle given in any corner order comes back exactly (up to float error); any other quadrilateral (a noisy
    DOTA label) becomes its least-area bounding rectangle, as ``cv2.minAreaRect`` finds it, for all rows at once.
    """
    return _like(_least_area_rectangle(_points(_as_float_tensor(corners))), corners)


def rotated_box_affine(boxes: Array, matrix: np.ndarray | torch.Tensor) -> Array:
    """Rotated boxes through an image transform: (N, 5) xywhr, or (N, 8) / (N, 4, 2) corners -> (N, 5) canonical xywhr.

    ``matrix`` is 2x3 (affine) or 3x3 (affine or perspective, points divided by their third coordinate), mapping
    input pixels to output pixels as ``cv2.warpAffine`` / ``cv2.warpPerspective`` use it. The 4 corners move; the
    result is their least-area bounding rectangle: the moved rectangle itself under rotation, translation and
    uniform scale, the rectangle around the parallelogram under shear or unequal scales.
    """
    values = _as_float_tensor(boxes)
    corners = _corners(values) if values.shape[-1] == 5 else _points(values)
    m = _as_float_tensor(matrix).to(dtype=corners.dtype, device=corners.device)
    if m.shape not in ((2, 3), (3, 3)):
        raise ValueError(f"matrix must be 2x3 or 3x3, got {tuple(m.shape)}")
    moved = corners @ m[:, :2].T + m[:, 2]
    if m.shape[0] == 3:
        moved = moved[..., :2] / moved[..., 2:]
    return _like(_least_area_rectangle(moved), boxes)


def flip_xywhr_lr(boxes: Array, width: float) -> Array:
    """(..., 5) rotated boxes of an image ``width`` pixels wide, mirrored left-right -> (..., 5) canonical.

    The mirror x -> width - x moves the centre the same way and turns direction (cos a, sin a) into (-cos a, sin a),
    the direction of angle -a (a side is the same side in both directions).
    """
    values = _as_float_tensor(boxes)
    cx, cy, w, h, angle = values.unbind(-1)
    return _like(_canonical(torch.stack((width - cx, cy, w, h, -angle), dim=-1)), boxes)


def flip_xywhr_ud(boxes: Array, height: float) -> Array:
    """(..., 5) rotated boxes of an image ``height`` pixels tall, mirrored top-bottom -> (..., 5) canonical.

    The mirror y -> height - y turns direction (cos a, sin a) into (cos a, -sin a): angle -a, as left-right.
    """
    values = _as_float_tensor(boxes)
    cx, cy, w, h, angle = values.unbind(-1)
    return _like(_canonical(torch.stack((cx, height - cy, w, h, -angle), dim=-1)), boxes)
