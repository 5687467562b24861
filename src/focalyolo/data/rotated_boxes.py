"""The rotated-box annotation kind (oriented boxes, OBB): four corners per object, moved exactly with the pixels
and made a canonical ``xywhr`` row for the batch.

Label rows are the Ultralytics OBB rows ``class x1 y1 x2 y2 x3 y3 x4 y4`` (corners normalised to the image, any
order); a row's box is the axis-aligned box around its corners. A value is an (n, 4, 2) float32 array of corners
per image (normalised in the store, pixels inside the pipeline). Every geometric step moves the corners themselves
(mosaic placement, the affine step with its rotation, flips, letterbox), so a rotation, shift or uniform scale keeps
each box exact; after the affine step the boxes are those around the moved corners (:meth:`RotatedBoxes.
outline_boxes`, not clipped: the clipped part of a rotated box is no rectangle). A cut (mosaic canvas) leaves the
corners as they are: a box may reach past the image edge. A sample keeps the rows whose rotated centre lies in the
image and carries ``rboxes``: (n, 5) float32 ``[cx, cy, w, h, angle]``, canonical (angle in [0, pi/2)), the least-area
rectangle of the corners (:func:`~focalyolo.utils.rotated.corners_to_xywhr`: exact for a rectangle, the rectangle
around a sheared one), ``cx`` and ``w`` divided by the image width, ``cy`` and ``h`` by its height, as
:class:`~focalyolo.loss.obb.OBBLoss` takes them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..utils.rotated import corners_to_xywhr
from .annotations import AnnotationKind, LabelRows, register_annotation_kind
from .geometry import transform_points

__all__ = ["OBB_ROW_VALUES", "RotatedBoxes", "corner_rows"]

OBB_ROW_VALUES = 9
"""Values of an OBB label row: the class and four corners."""


def corner_rows(classes: np.ndarray, corners: np.ndarray) -> str:
    """Label file text of (n,) classes and (n, 4, 2) normalised corners: ``class x1 y1 ... x4 y4`` rows."""
    return "".join(f"{int(c)} " + " ".join(f"{v:.6f}" for v in xy.reshape(-1)) + "\n"
                   for c, xy in zip(classes, corners))


@register_annotation_kind
class RotatedBoxes(AnnotationKind):
    """Oriented boxes as four corners (see the module docstring)."""

    name = "rotated_boxes"

    def row_format(self) -> str:
        return "class x1 y1 x2 y2 x3 y3 x4 y4"

    def parse_rows(self, rows: list[np.ndarray]) -> LabelRows:
        """Rows of exactly 9 values; each row's box is the extent of its corners, its value the (4, 2) corners."""
        good = np.array([r for r in rows if len(r) == OBB_ROW_VALUES], np.float64).reshape(-1, OBB_ROW_VALUES)
        corners = good[:, 1:].reshape(-1, 4, 2)
        lo, hi = corners.min(1), corners.max(1)
        boxes = np.concatenate((good[:, :1], (lo + hi) / 2, hi - lo), 1)
        return LabelRows(boxes, corners.astype(np.float32), good[:, 1:],
                         [len(r) for r in rows if len(r) != OBB_ROW_VALUES])

    def column_note(self, found: list[int]) -> str:
        return (f"that are not OBB rows (class x1 y1 x2 y2 x3 y3 x4 y4: {OBB_ROW_VALUES} values; found "
                f"{', '.join(map(str, sorted(set(found))))})")

    def pack(self, values: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {self.name: np.concatenate(values) if values else np.zeros((0, 4, 2), np.float32)}

    def to_pixels(self, value: np.ndarray, w: float, h: float, pad_w: float, pad_h: float) -> np.ndarray:
        return (value * np.array([w, h], np.float32) + np.array([pad_w, pad_h], np.float32)).astype(np.float32)

    def shift(self, value: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return value.astype(np.float32) + offset

    def transform(self, value: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
        """The corners through the matrix (a perspective or shear leaves a quadrilateral; :meth:`sample` takes the
        rectangle around it)."""
        return transform_points(value.reshape(-1, 2), matrix).reshape(-1, 4, 2)

    def outline_boxes(self, value: np.ndarray) -> np.ndarray:
        """(n, 4) float64 xyxy box around each object's moved corners (not clipped)."""
        return np.concatenate((value.min(1), value.max(1)), 1).astype(np.float64).reshape(-1, 4)

    def flip(self, value: np.ndarray, axis: int, size: int) -> np.ndarray:
        mirrored = value.copy()
        mirrored[..., axis] = size - mirrored[..., axis]
        return mirrored

    def sample(self, value: np.ndarray, rows: np.ndarray, hw: tuple[int, int]) -> tuple[dict[str, Any], np.ndarray]:
        """``rboxes`` of the kept rows whose rotated centre lies in the ``hw`` image (see the module docstring)."""
        hh, ww = hw
        boxes = corners_to_xywhr(value[rows].astype(np.float64)).reshape(-1, 5)
        inside = (boxes[:, 0] >= 0) & (boxes[:, 0] <= ww) & (boxes[:, 1] >= 0) & (boxes[:, 1] <= hh)
        scaled = boxes[inside] / np.array([ww, hh, ww, hh, 1.0])
        return {"rboxes": torch.from_numpy(scaled.astype(np.float32))}, rows[inside]

    def collate(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``rboxes``: (N, 5) in ``targets`` order."""
        return {"rboxes": torch.cat([s["rboxes"] for s in samples])}
