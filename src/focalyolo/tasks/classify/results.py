"""The class probabilities of one image or video frame: :class:`ClassifyResult`, what the classification task's
``postprocess`` returns."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch

from ...utils.plotting import annotation_sizes
from ..results import ImageResult, Probs, warn_deprecated

__all__ = ["ClassifyResult", "TOP_K"]

TOP_K = 5


class ClassifyResult(ImageResult):
    """A classifier's answer for one image (``frame`` None) or one video frame.

    Built from ``probs`` (nc,) class probabilities (softmax, summing to 1), held as ``self.probs``, a
    :class:`~focalyolo.tasks.results.Probs` (``data``, ``top1``, ``top5``, ``top1conf``, ``top5conf``).
    ``len(result)`` is the number of classes it reports (the top five, fewer when the model knows fewer). The other
    attributes are :class:`ImageResult`'s.
    """

    def __init__(self, path: str, frame: int | None, orig_shape: Sequence[int], probs: torch.Tensor,
                 names: Sequence[str], orig_img: np.ndarray, speed: dict[str, float] | None = None) -> None:
        super().__init__(path, frame, orig_shape, names, orig_img, speed)
        self.probs = Probs(probs, self.orig_shape)

    @property
    def top5(self) -> list[int]:
        """Deprecated: ``probs.top5``."""
        warn_deprecated("result.top5", "result.probs.top5")
        return self.probs.top5

    @property
    def top1(self) -> int:
        """Deprecated: ``probs.top1``."""
        warn_deprecated("result.top1", "result.probs.top1")
        return self.probs.top1

    def __len__(self) -> int:
        return len(self.probs.top5)

    def _top(self) -> list[tuple[int, float]]:
        """(class id, probability) of the top five, most probable first."""
        return [(c, float(self.probs.data[c])) for c in self.probs.top5]

    def describe(self) -> str:
        """``"circle 0.97, star 0.02, square 0.01, cross 0.00, triangle 0.00"``: the top five with probabilities."""
        return ", ".join(f"{self._name(c)} {p:.2f}" for c, p in self._top())

    def plot(self) -> np.ndarray:
        """A copy of the original image with the top five written in its top-left corner (BGR uint8), at a size
        that follows the image's (:func:`~focalyolo.utils.plotting.annotation_sizes`)."""
        img = self.orig_img.copy()
        sizes = annotation_sizes(*img.shape[:2])
        y = 0
        for c, p in self._top():
            text = f"{self._name(c)} {p:.2f}"
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, sizes.font_scale, sizes.font_thickness)
            cv2.rectangle(img, (0, y), (tw + 6, y + th + base + 4), (255, 255, 255), -1)
            cv2.putText(img, text, (3, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, sizes.font_scale, (0, 0, 0),
                        sizes.font_thickness, cv2.LINE_AA)
            y += th + base + 4
        return img

    def summary(self, normalize: bool = False, decimals: int = 5) -> list[dict]:
        """One row per top-five class, most probable first: ``{"name", "class", "confidence"}`` (``normalize``
        changes nothing: a classifier has no coordinates)."""
        return [{"name": self._name(c), "class": c, "confidence": round(p, decimals)} for c, p in self._top()]

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """One line per top-five class, most probable first: ``probability name`` (``name`` alone without ``conf``),
        as Ultralytics writes a classifier's label file."""
        return [f"{p:.5f} {self._name(c)}" if conf else self._name(c) for c, p in self._top()]

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """Rows ``{image_id, category_id, score}`` of the top five (COCO has no classification results format; these
        use its field names so the file reads like the detection one)."""
        mapping = label_to_category or range(len(self.probs))
        return [{"image_id": image_id, "category_id": int(mapping[c]), "score": round(p, 5)} for c, p in self._top()]
