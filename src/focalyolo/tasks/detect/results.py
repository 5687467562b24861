"""Detections of one image or video frame: :class:`DetectResult`, what the detection task's ``postprocess``
returns."""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch

from ...metrics import detections_to_coco
from ...utils.plotting import annotation_sizes, class_colour, draw_labelled_box
from ..results import Boxes, ImageResult, warn_deprecated

__all__ = ["DetectResult"]


class DetectResult(ImageResult):
    """Detections of one image (``frame`` None) or one video frame, in original-image pixels.

    Built from ``boxes`` (n, 4) float xyxy, ``scores`` (n,) and ``classes`` (n,) (best score first), held as
    ``self.boxes``, a :class:`~focalyolo.tasks.results.Boxes` (``data`` (n, 6), ``xyxy``, ``xywh``, ``conf``,
    ``cls``, ...). ``len(result)`` is the number of detections; ``result[i]``, a slice, a list or a boolean mask
    gives a result of those detections. The other attributes are :class:`ImageResult`'s.
    """

    per_detection: tuple[str, ...] = ("boxes",)  # the attributes indexing a result selects from

    def __init__(self, path: str, frame: int | None, orig_shape: Sequence[int], boxes: torch.Tensor,
                 scores: torch.Tensor, classes: torch.Tensor, names: Sequence[str], orig_img: np.ndarray,
                 speed: dict[str, float] | None = None) -> None:
        super().__init__(path, frame, orig_shape, names, orig_img, speed)
        data = torch.cat((boxes.float(), scores.float()[:, None], classes.float()[:, None]), 1)
        self.boxes = Boxes(data, self.orig_shape)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: Any) -> "DetectResult":
        """The result of the detections ``index`` selects (an int, a slice, a list or a boolean mask)."""
        if isinstance(index, tuple):
            raise TypeError("index a result with an int, a slice, a list or a boolean mask of its detections")
        part = copy.copy(self)
        for name in self.per_detection:
            setattr(part, name, getattr(self, name)[index])
        return part

    @property
    def scores(self) -> torch.Tensor:
        """Deprecated: ``boxes.conf``."""
        warn_deprecated("result.scores", "result.boxes.conf")
        return self.boxes.conf

    @property
    def classes(self) -> torch.Tensor:
        """Deprecated: ``boxes.cls`` (as int64)."""
        warn_deprecated("result.classes", "result.boxes.cls")
        return torch.as_tensor(self.boxes.cls).long()

    def _class_ids(self) -> list[int]:
        return [int(c) for c in self.boxes.cls.tolist()]

    def describe(self) -> str:
        """``"2 circle, 1 star"`` (detections per class, most first), or ``"no detections"``."""
        if not len(self):
            return "no detections"
        counts = torch.bincount(torch.tensor(self._class_ids()))
        order = sorted(counts.nonzero().flatten().tolist(), key=lambda c: -int(counts[c]))
        return ", ".join(f"{int(counts[c])} {self._name(c)}" for c in order)

    def label(self, i: int) -> str:
        """``"name 0.87"`` of detection ``i``."""
        return f"{self._name(int(self.boxes.cls[i]))} {float(self.boxes.conf[i]):.2f}"

    def plot(self) -> np.ndarray:
        """A copy of the original image with every box and its label drawn (BGR uint8, OpenCV only)."""
        return self.draw_boxes(self.orig_img.copy())

    def draw_boxes(self, img: np.ndarray) -> np.ndarray:
        """Draw every box and its label into ``img`` (h, w, 3) uint8 BGR of the original size, in place, at sizes
        that follow the image's (:func:`~focalyolo.utils.plotting.annotation_sizes`); returns it."""
        sizes = annotation_sizes(*img.shape[:2])
        for i, (box, c) in enumerate(zip(np.asarray(self.boxes.xyxy).round().astype(int), self._class_ids())):
            draw_labelled_box(img, box.tolist(), self.label(i), class_colour(c), sizes)
        return img

    def summary(self, normalize: bool = False, decimals: int = 5) -> list[dict]:
        """One row per detection: ``{"name", "class", "confidence", "box": {"x1", "y1", "x2", "y2"}}`` (box in
        pixels, or divided by the image's width and height when ``normalize``)."""
        xyxy = np.asarray(self.boxes.xyxyn if normalize else self.boxes.xyxy, np.float64)
        return [{"name": self._name(c), "class": c, "confidence": round(float(conf), decimals),
                 "box": dict(zip(("x1", "y1", "x2", "y2"), (round(float(v), decimals) for v in box)))}
                for c, conf, box in zip(self._class_ids(), np.asarray(self.boxes.conf), xyxy)]

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """YOLO label lines ``cls cx cy w h [conf]``, box normalised to the original image."""
        xywhn = Boxes(torch.as_tensor(self.boxes.data).double(), self.orig_shape).xywhn.tolist()
        return [f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}" + (f" {s:.5f}" if conf else "")
                for c, (x, y, bw, bh), s in zip(self._class_ids(), xywhn, self.boxes.conf.tolist())]

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """COCO results rows ``{image_id, category_id, bbox (top-left xywh), score}``."""
        boxes = torch.as_tensor(self.boxes.data)
        return detections_to_coco(boxes[:, :4], boxes[:, 4], boxes[:, 5].long(), image_id, label_to_category)
