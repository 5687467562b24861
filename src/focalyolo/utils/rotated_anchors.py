"""Anchor-relative rotated boxes: what an oriented-box head predicts per anchor, and its inverse for the loss.

Per anchor, an OBB head predicts an angle and four distances ``l, t, r, b`` from the anchor point to the box's
sides **measured in the box's own frame** (along its ``w`` axis ``(cos a, sin a)`` and its ``h`` axis
``(-sin a, cos a)``, see :mod:`focalyolo.utils.rotated`), in units of the level's stride (the DFL bins).

* :func:`decode_angle`: raw logit ``x`` -> ``angle = (sigmoid(x) - 1/4) * pi``, in (-pi/4, 3pi/4): the canonical
  range [0, pi/2) with a margin of pi/4 on either side, so a canonical angle near 0 or pi/2 is reached without
  saturating the sigmoid (logit 0 gives pi/4, the middle of the canonical range). The decoded angle is not
  reduced to the canonical form; :func:`~focalyolo.utils.rotated.canonical_xywhr` does that where one is wanted
  (the IoU functions and ProbIoU accept any row).
* :func:`dist2rbox`: distances and angle -> ``(cx, cy, w, h)``: ``w = l + r``, ``h = t + b``, and the centre the
  anchor plus the offset ``((r - l) / 2, (b - t) / 2)`` turned by the angle.
* :func:`rbox2dist`: the inverse, the distances of an anchor to a given rotated box's sides in that box's frame
  (the DFL targets), clamped to the bins.
"""

from __future__ import annotations

import math

import torch

__all__ = ["decode_angle", "dist2rbox", "rbox2dist"]


def decode_angle(logits: torch.Tensor) -> torch.Tensor:
    """Raw angle logits (any shape) -> angles in radians, ``(sigmoid(x) - 0.25) * pi``, in (-pi/4, 3pi/4)."""
    return (logits.sigmoid() - 0.25) * math.pi


def dist2rbox(distances: torch.Tensor, angle: torch.Tensor, anchor_points: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Side distances in the box's frame -> ``(cx, cy, w, h)`` of the rotated box.

    Args:
        distances: (..., 4, ...) ``l, t, r, b`` along ``dim``, >= 0.
        angle: the box angles in radians, the shape of ``distances`` with size 1 along ``dim``.
        anchor_points: the anchor centres ``x, y`` along ``dim`` (size 2), broadcastable against the others,
            in the same unit as ``distances``.
        dim: the axis of the four distances.

    Returns:
        (..., 4, ...) ``cx, cy, w, h`` along ``dim``; with ``angle`` the xywhr row.
    """
    left_top, right_bottom = distances.chunk(2, dim)
    offset_x, offset_y = ((right_bottom - left_top) / 2).split(1, dim)
    cos, sin = angle.cos(), angle.sin()
    centre = torch.cat((offset_x * cos - offset_y * sin, offset_x * sin + offset_y * cos), dim) + anchor_points
    return torch.cat((centre, left_top + right_bottom), dim)


def rbox2dist(anchor_points: torch.Tensor, boxes: torch.Tensor, reg_max: float) -> torch.Tensor:
    """Distances from anchor points to the sides of rotated boxes, in each box's frame (the DFL targets).

    Args:
        anchor_points: (..., 2) anchor centres, broadcastable against ``boxes[..., :2]``.
        boxes: (..., 5) ``cx, cy, w, h, angle`` rows in the unit of the anchors.
        reg_max: the largest distance (the last DFL bin).

    Returns:
        (..., 4) ``l, t, r, b``, clamped to [0, reg_max - 0.01] as the axis-aligned
        :func:`~focalyolo.utils.boxes.bbox2dist`; :func:`dist2rbox` with the box's angle gives the box back
        wherever no clamp applied.
    """
    delta = anchor_points - boxes[..., :2]
    cos, sin = boxes[..., 4].cos(), boxes[..., 4].sin()
    along_w = delta[..., 0] * cos + delta[..., 1] * sin
    along_h = -delta[..., 0] * sin + delta[..., 1] * cos
    half_w, half_h = boxes[..., 2] / 2, boxes[..., 3] / 2
    sides = (half_w + along_w, half_h + along_h, half_w - along_w, half_h - along_h)
    return torch.stack(sides, -1).clamp_(0, reg_max - 0.01)
