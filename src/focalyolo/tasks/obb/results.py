"""Oriented boxes of one image or video frame: the :class:`OBB` view and :class:`OBBResult`, what the OBB task's
``postprocess`` returns."""

from __future__ import annotations

import math
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from ...utils.plotting import annotation_sizes, class_colour, draw_labelled_box
from ...utils.rotated import xywhr_to_corners
from ..detect.results import DetectResult
from ..results import Tensors

__all__ = ["OBB", "OBBResult", "obb_json_rows"]

Array = torch.Tensor | np.ndarray


class OBB(Tensors):
    """Detected oriented boxes: ``data`` (n, 7) ``[cx, cy, w, h, angle, conf, cls]`` in original-image pixels, the
    angle in radians (canonical: [0, pi/2)), best score first.

    Views: ``xywhr`` (n, 5); ``xyxyxyxy`` (n, 4, 2) corners in pixels (``c - u - v, c + u - v, c + u + v,
    c - u + v``, u along ``w``); ``xyxyxyxyn`` the same divided by the image's (w, h); ``xyxy`` (n, 4) the
    axis-aligned box around the corners; ``conf`` (n,); ``cls`` (n,) class ids (floats, like ``data``).
    """

    field, legacy_view = "result.obb", "xywhr"

    @property
    def xywhr(self) -> Array:
        """(n, 5) cx, cy, w, h pixels and angle (radians)."""
        return self.data[:, :5]

    @property
    def conf(self) -> Array:
        """(n,) confidences."""
        return self.data[:, 5]

    @property
    def cls(self) -> Array:
        """(n,) class ids."""
        return self.data[:, 6]

    @property
    def xyxyxyxy(self) -> Array:
        """(n, 4, 2) corner x, y pixels."""
        return xywhr_to_corners(self.xywhr)

    @property
    def xyxyxyxyn(self) -> Array:
        """(n, 4, 2) corners divided by the image's (w, h)."""
        h, w = self.orig_shape
        corners = self.xyxyxyxy
        return corners / (corners.new_tensor([w, h]) if isinstance(corners, torch.Tensor) else np.array([w, h]))

    @property
    def xyxy(self) -> Array:
        """(n, 4) x1, y1, x2, y2 of the box around the corners."""
        corners = self.xyxyxyxy
        if isinstance(corners, torch.Tensor):
            return torch.cat((corners.amin(1), corners.amax(1)), 1)
        return np.concatenate((corners.min(1), corners.max(1)), 1)


class OBBResult(DetectResult):
    """Oriented-box detections of one image (``frame`` None) or one video frame, in original-image pixels.

    Built from ``boxes`` (n, 5) xywhr, ``scores`` (n,) and ``classes`` (n,) (best score first); held as
    ``self.obb``, an :class:`OBB`, and as ``self.boxes`` the axis-aligned boxes around them (a
    :class:`~focalyolo.tasks.results.Boxes`), so what reads boxes reads these. Indexing selects detections as
    :class:`DetectResult`'s.
    """

    per_detection = ("boxes", "obb")

    def __init__(self, path: str, frame: int | None, orig_shape: Sequence[int], boxes: torch.Tensor,
                 scores: torch.Tensor, classes: torch.Tensor, names: Sequence[str], orig_img: np.ndarray,
                 speed: dict[str, float] | None = None) -> None:
        data = torch.cat((boxes.float(), scores.float()[:, None], classes.float()[:, None]), 1)
        self.obb = OBB(data, orig_shape)
        super().__init__(path, frame, orig_shape, self.obb.xyxy, scores, classes, names, orig_img, speed)

    def draw_boxes(self, img: np.ndarray) -> np.ndarray:
        """Draw each rotated box and its label (at the top corner) on ``img`` in place; returns it."""
        sizes = annotation_sizes(*img.shape[:2])
        corners = np.asarray(torch.as_tensor(self.obb.xyxyxyxy).cpu(), np.float64)
        for i, (quad, c) in enumerate(zip(corners, self._class_ids())):
            colour = class_colour(c)
            outline = np.round(quad * 16).astype(np.int32)  # 4 fractional bits
            cv2.polylines(img, [outline], True, colour, sizes.line_width, cv2.LINE_AA, shift=4)
            top = quad[quad[:, 1].argmin()].round().astype(int)
            draw_labelled_box(img, [*top, *top], self.label(i), colour, sizes)
        return img

    def summary(self, normalize: bool = False, decimals: int = 5) -> list[dict]:
        """One row per detection: ``{"name", "class", "confidence", "box": {"x1", "y1", ..., "x4", "y4"},
        "angle"}`` (corners in pixels, or divided by the image's width and height when ``normalize``)."""
        corners = np.asarray(torch.as_tensor(self.obb.xyxyxyxyn if normalize else self.obb.xyxyxyxy).cpu(),
                             np.float64)
        keys = ("x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4")
        return [{"name": self._name(c), "class": c, "confidence": round(float(conf), decimals),
                 "box": dict(zip(keys, (round(float(v), decimals) for v in quad.reshape(-1)))),
                 "angle": round(float(angle), decimals)}
                for c, conf, quad, angle in zip(self._class_ids(), np.asarray(self.obb.conf), corners,
                                                np.asarray(self.obb.xywhr[:, 4]))]

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """OBB label lines ``cls x1 y1 x2 y2 x3 y3 x4 y4 [conf]``, corners normalised to the original image."""
        corners = torch.as_tensor(OBB(torch.as_tensor(self.obb.data).double(), self.orig_shape).xyxyxyxyn)
        return [f"{c} " + " ".join(f"{v:.6f}" for v in quad.reshape(-1).tolist()) + (f" {s:.5f}" if conf else "")
                for c, quad, s in zip(self._class_ids(), corners, self.obb.conf.tolist())]

    def to_dota_rows(self) -> list[str]:
        """DOTA result lines ``x1 y1 x2 y2 x3 y3 x4 y4 class-name score`` (corners in pixels)."""
        corners = torch.as_tensor(OBB(torch.as_tensor(self.obb.data).double(), self.orig_shape).xyxyxyxy)
        return [" ".join(f"{v:.1f}" for v in quad.reshape(-1).tolist()) + f" {self._name(c)} {s:.5f}"
                for c, quad, s in zip(self._class_ids(), corners, self.obb.conf.tolist())]

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """Results rows of :func:`obb_json_rows`."""
        return obb_json_rows(torch.as_tensor(self.obb.data), image_id, label_to_category)


def obb_json_rows(data: torch.Tensor, image_id: int | str,
                  label_to_category: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """(n, 7) ``[cx, cy, w, h, angle, score, cls]`` pixel detections -> results rows ``{image_id, category_id,
    rbox [cx, cy, w, h, angle in degrees], poly [x1, y1, ..., x4, y4], score}`` (the class id itself, or
    ``label_to_category[cls]``)."""
    data = data.detach().double().cpu()
    rows: list[dict[str, Any]] = []
    for (cx, cy, w, h, angle, score, c), quad in zip(data.tolist(), xywhr_to_corners(data[:, :5])):
        category = int(c) if label_to_category is None else int(label_to_category[int(c)])
        rows.append({"image_id": image_id, "category_id": category,
                     "rbox": [round(cx, 3), round(cy, 3), round(w, 3), round(h, 3), round(math.degrees(angle), 3)],
                     "poly": [round(v, 3) for v in quad.reshape(-1).tolist()], "score": round(score, 5)})
    return rows
