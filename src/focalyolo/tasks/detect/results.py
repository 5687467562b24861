"""Detections of one image or video frame: :class:`Result`, what the detection task's ``postprocess`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
import torch

from ...metrics import detections_to_coco
from ...utils.plotting import class_colour

__all__ = ["Result"]


@dataclass
class Result:
    """Detections of one image (``frame`` None) or one video frame, in original-image pixels.

    Attributes:
        path: the source file.
        frame: 0-based frame index in a video, None for an image.
        orig_shape: (h, w) of the original image.
        boxes: (n, 4) float xyxy boxes, best score first.
        scores: (n,) confidences.
        classes: (n,) int64 class indices.
        names: class names, index = class id.
        orig_img: the original (h, w, 3) uint8 BGR image (for :meth:`plot`).
        speed: ms per image of its batch for ``preprocess``, ``inference`` and ``postprocess`` (NMS).
    """

    path: str
    frame: int | None
    orig_shape: tuple[int, int]
    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor
    names: Sequence[str]
    orig_img: np.ndarray = field(repr=False)
    speed: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    def describe(self) -> str:
        """``"2 circle, 1 star"`` (detections per class, most first), or ``"no detections"``."""
        if not len(self):
            return "no detections"
        counts = torch.bincount(self.classes.long())
        order = sorted(counts.nonzero().flatten().tolist(), key=lambda c: -int(counts[c]))
        return ", ".join(f"{int(counts[c])} {self.names[c] if c < len(self.names) else c}" for c in order)

    def label(self, i: int) -> str:
        """``"name 0.87"`` of detection ``i``."""
        c = int(self.classes[i])
        name = self.names[c] if c < len(self.names) else str(c)
        return f"{name} {float(self.scores[i]):.2f}"

    def plot(self) -> np.ndarray:
        """A copy of the original image with every box and its label drawn (BGR uint8, OpenCV only)."""
        return self.draw_boxes(self.orig_img.copy())

    def draw_boxes(self, img: np.ndarray) -> np.ndarray:
        """Draw every box and its label into ``img`` (h, w, 3) uint8 BGR of the original size, in place; returns it."""
        h, w = img.shape[:2]
        lw = max(round((h + w) / 2 * 0.003), 2)
        font_scale = lw / 3
        for i, (x1, y1, x2, y2) in enumerate(self.boxes.round().int().tolist()):
            colour = class_colour(int(self.classes[i]))
            cv2.rectangle(img, (x1, y1), (x2, y2), colour, lw, cv2.LINE_AA)
            text = self.label(i)
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(lw - 1, 1))
            inside = y1 - th - base >= 0  # label above the box if it fits, else inside its top
            top = y1 - th - base if inside else y1
            cv2.rectangle(img, (x1, top), (x1 + tw, top + th + base), colour, -1, cv2.LINE_AA)
            luminance = 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2]
            cv2.putText(img, text, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                        (0, 0, 0) if luminance > 140 else (255, 255, 255), max(lw - 1, 1), cv2.LINE_AA)
        return img

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """YOLO label lines ``cls cx cy w h [conf]``, box normalised to the original image."""
        h, w = self.orig_shape
        xyxy = self.boxes.detach().double().cpu() / torch.tensor([w, h, w, h], dtype=torch.float64)
        cxcy, wh = (xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]
        rows = []
        for c, (x, y), (bw, bh), s in zip(self.classes.tolist(), cxcy.tolist(), wh.tolist(), self.scores.tolist()):
            rows.append(f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}" + (f" {s:.5f}" if conf else ""))
        return rows

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """COCO results rows ``{image_id, category_id, bbox (top-left xywh), score}``."""
        return detections_to_coco(self.boxes, self.scores, self.classes, image_id, label_to_category)
