"""Instance masks of one image or video frame: :class:`SegmentResult`, what the segmentation task's
``postprocess`` returns."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ...utils.masks import masks_to_rle
from ...utils.plotting import overlay_masks
from ..detect.results import DetectResult
from ..results import Masks, warn_deprecated

__all__ = ["SegmentResult"]


class SegmentResult(DetectResult):
    """A :class:`DetectResult` plus each detection's mask.

    Built with ``masks`` (n, h, w) bool over the original image, cropped to each box, in the order of ``boxes``;
    held as ``self.masks``, a :class:`~focalyolo.tasks.results.Masks` (``data``, ``xy`` and ``xyn`` outlines).
    """

    per_detection = ("boxes", "masks")

    def __init__(self, *args: object, masks: torch.Tensor, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.masks = Masks(masks, self.orig_shape)

    def plot(self) -> np.ndarray:
        """The original image with each mask blended in its class colour, then the boxes and labels."""
        return self.draw_boxes(overlay_masks(self.orig_img.copy(), self.masks.data, self._class_ids()))

    def polygons(self) -> list[np.ndarray]:
        """Deprecated: ``masks.xy``."""
        warn_deprecated("result.polygons()", "result.masks.xy")
        return self.masks.xy

    def summary(self, normalize: bool = False, decimals: int = 5) -> list[dict]:
        """:meth:`DetectResult.summary` rows plus ``"segments": {"x": [...], "y": [...]}``, each mask's outline."""
        rows = super().summary(normalize, decimals)
        for row, polygon in zip(rows, self.masks.xyn if normalize else self.masks.xy):
            points = np.asarray(polygon, np.float64).round(decimals)
            row["segments"] = {"x": points[:, 0].tolist(), "y": points[:, 1].tolist()}
        return rows

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """YOLO segmentation label lines ``cls x1 y1 x2 y2 ... [conf]``, the outline normalised to the image
        (a detection whose mask is empty is left out)."""
        h, w = self.orig_shape
        rows = []
        for c, polygon, s in zip(self._class_ids(), self.masks.xy, self.boxes.conf.tolist()):
            if len(polygon) < 3:
                continue
            points = " ".join(f"{v:.6f}" for v in (polygon / (w, h)).clip(0, 1).reshape(-1).tolist())
            rows.append(f"{c} {points}" + (f" {s:.5f}" if conf else ""))
        return rows

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """COCO results rows with the masks' RLE as ``segmentation``."""
        rows = super().to_coco(image_id, label_to_category)
        for row, rle in zip(rows, masks_to_rle(self.masks.data)):
            row["segmentation"] = rle
        return rows
