"""Instance masks of one image or video frame: :class:`SegmentResult`, what the segmentation task's
``postprocess`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ...utils.masks import masks_to_polygons, masks_to_rle
from ...utils.plotting import overlay_masks
from ..detect.results import Result

__all__ = ["SegmentResult"]


@dataclass
class SegmentResult(Result):
    """A detection :class:`Result` plus each detection's mask.

    Attributes:
        masks: (n, h, w) bool over the original image, cropped to each box, in the order of ``boxes``.
    """

    masks: torch.Tensor = field(kw_only=True, repr=False)

    def plot(self) -> np.ndarray:
        """The original image with each mask blended in its class colour, then the boxes and labels."""
        return self.draw_boxes(overlay_masks(self.orig_img.copy(), self.masks, self.classes.tolist()))

    def polygons(self) -> list[np.ndarray]:
        """Each mask's outline (its largest contour) as (k, 2) float32 x, y in original-image pixels."""
        return masks_to_polygons(self.masks)

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """YOLO segmentation label lines ``cls x1 y1 x2 y2 ... [conf]``, the outline normalised to the image
        (a detection whose mask is empty is left out)."""
        h, w = self.orig_shape
        rows = []
        for c, polygon, s in zip(self.classes.tolist(), self.polygons(), self.scores.tolist()):
            if len(polygon) < 3:
                continue
            points = " ".join(f"{v:.6f}" for v in (polygon / (w, h)).clip(0, 1).reshape(-1).tolist())
            rows.append(f"{c} {points}" + (f" {s:.5f}" if conf else ""))
        return rows

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """COCO results rows with the masks' RLE as ``segmentation``."""
        rows = super().to_coco(image_id, label_to_category)
        for row, rle in zip(rows, masks_to_rle(self.masks)):
            row["segmentation"] = rle
        return rows
