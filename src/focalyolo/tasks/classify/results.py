"""The class probabilities of one image or video frame: :class:`ClassifyResult`, what the classification task's
``postprocess`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
import torch

__all__ = ["ClassifyResult", "TOP_K"]

TOP_K = 5


@dataclass
class ClassifyResult:
    """A classifier's answer for one image (``frame`` None) or one video frame.

    Attributes:
        path: the source file.
        frame: 0-based frame index in a video, None for an image.
        orig_shape: (h, w) of the original image.
        probs: (nc,) class probabilities (softmax), summing to 1.
        names: class names, index = class id.
        orig_img: the original (h, w, 3) uint8 BGR image (for :meth:`plot`).
        speed: ms per image of its batch for ``preprocess``, ``inference`` and ``postprocess``.
    """

    path: str
    frame: int | None
    orig_shape: tuple[int, int]
    probs: torch.Tensor
    names: Sequence[str]
    orig_img: np.ndarray = field(repr=False)
    speed: dict[str, float] = field(default_factory=dict)

    @property
    def top5(self) -> list[int]:
        """The (up to) five most probable class ids, most probable first."""
        return self.probs.topk(min(TOP_K, len(self.probs))).indices.tolist()

    @property
    def top1(self) -> int:
        """The most probable class id."""
        return int(self.probs.argmax())

    def __len__(self) -> int:
        """How many classes the result reports (the top five, fewer when the model knows fewer)."""
        return len(self.top5)

    def _name(self, c: int) -> str:
        return self.names[c] if c < len(self.names) else str(c)

    def describe(self) -> str:
        """``"circle 0.97, star 0.02, square 0.01, cross 0.00, triangle 0.00"``: the top five with probabilities."""
        return ", ".join(f"{self._name(c)} {float(self.probs[c]):.2f}" for c in self.top5)

    def plot(self) -> np.ndarray:
        """A copy of the original image with the top five written in its top-left corner (BGR uint8)."""
        img = self.orig_img.copy()
        h, w = img.shape[:2]
        scale = max(min(h, w) / 500, 0.35)
        thickness = max(round(scale * 2), 1)
        y = 0
        for c in self.top5:
            text = f"{self._name(c)} {float(self.probs[c]):.2f}"
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            cv2.rectangle(img, (0, y), (tw + 6, y + th + base + 4), (255, 255, 255), -1)
            cv2.putText(img, text, (3, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness, cv2.LINE_AA)
            y += th + base + 4
        return img

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """One line per top-five class, most probable first: ``probability name`` (``name`` alone without ``conf``),
        as Ultralytics writes a classifier's label file."""
        return [f"{float(self.probs[c]):.5f} {self._name(c)}" if conf else self._name(c) for c in self.top5]

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """Rows ``{image_id, category_id, score}`` of the top five (COCO has no classification results format; these
        use its field names so the file reads like the detection one)."""
        mapping = label_to_category or range(len(self.probs))
        return [{"image_id": image_id, "category_id": int(mapping[c]), "score": round(float(self.probs[c]), 5)}
                for c in self.top5]
