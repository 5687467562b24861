"""Point and box geometry under a 3x3 (affine or perspective) matrix, shared by the augmentations and the
annotation kinds that move with the pixels."""

from __future__ import annotations

import numpy as np

__all__ = ["transform_boxes", "transform_points"]


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Map (n, 4) xyxy boxes through a 3x3 matrix: the (n, 4) float64 box around the 4 moved corners, clipped to
    an ``out_hw`` (height, width) image."""
    n = len(boxes)
    corners = np.ones((n * 4, 3))
    corners[:, :2] = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)  # tl, br, bl, tr
    moved = corners @ matrix.T
    xy = (moved[:, :2] / moved[:, 2:3]).reshape(n, 8)
    x, y = xy[:, 0::2], xy[:, 1::2]
    out = np.stack((x.min(1), y.min(1), x.max(1), y.max(1)), 1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, out_hw[1])
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, out_hw[0])
    return out


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(k, 2) xy through a 3x3 (affine or perspective) matrix -> (k, 2) float32."""
    moved = np.concatenate((points, np.ones((len(points), 1))), 1) @ matrix.T
    return (moved[:, :2] / moved[:, 2:3]).astype(np.float32)
