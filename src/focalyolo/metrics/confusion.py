"""Detection confusion matrix with a background class.

Rows are predicted classes, columns true classes; index ``nc`` is background. A ground-truth box matched
(class-agnostically, one-to-one by IoU) to a detection counts at (detected class, true class); an unmatched
ground-truth box at (background, true class); an unmatched detection at (detected class, background).
"""

from __future__ import annotations

import numpy as np
import torch

from focalyolo.metrics.matching import greedy_pairs
from focalyolo.utils.boxes import box_iou

__all__ = ["ConfusionMatrix"]


class ConfusionMatrix:
    """(nc + 1, nc + 1) counts accumulated over images.

    Args:
        nc: number of classes.
        conf: detections with score <= this are ignored.
        iou: minimum IoU of a match.
    """

    def __init__(self, nc: int, conf: float = 0.25, iou: float = 0.45) -> None:
        self.nc, self.conf, self.iou = nc, conf, iou
        self.counts = torch.zeros((nc + 1) ** 2, dtype=torch.int64)

    @property
    def matrix(self) -> np.ndarray:
        """(nc + 1, nc + 1) int64 counts, [predicted, true]."""
        return self.counts.view(self.nc + 1, self.nc + 1).numpy().copy()

    def _add(self, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """Count one event at each (rows[k], cols[k])."""
        flat = rows.long().cpu() * (self.nc + 1) + cols.long().cpu()
        self.counts += torch.bincount(flat, minlength=self.counts.numel())

    def update(self, pred: torch.Tensor, gt_boxes: torch.Tensor, gt_cls: torch.Tensor,
               overlaps: torch.Tensor | None = None) -> None:
        """Add one image.

        Args:
            pred: (n, 6) detections ``[x1, y1, x2, y2, score, cls]``.
            gt_boxes: (m, 4) xyxy ground truth.
            gt_cls: (m,) ground-truth classes.
            overlaps: (n, m) IoU to match by instead of the boxes' (rotated boxes' exact IoU); None uses the boxes.
        """
        confident = pred[:, 4] > self.conf
        det = pred[confident]
        det_cls, gt_cls = det[:, 5].long(), gt_cls.reshape(-1).long()
        background = self.nc
        if gt_cls.numel() == 0 or det.shape[0] == 0:
            self._add(det_cls, torch.full_like(det_cls, background))
            self._add(torch.full_like(gt_cls, background), gt_cls)
            return
        iou = box_iou(det[:, :4].float(), gt_boxes.float()) if overlaps is None else overlaps[confident].float()
        _, d, g = greedy_pairs(iou, torch.tensor([self.iou], dtype=iou.dtype, device=iou.device))
        pred_for_gt = torch.full_like(gt_cls, background)
        pred_for_gt[g] = det_cls[d]
        self._add(pred_for_gt, gt_cls)
        unmatched = torch.ones_like(det_cls, dtype=torch.bool)
        unmatched[d] = False
        self._add(det_cls[unmatched], torch.full_like(det_cls[unmatched], background))

    def normalized(self) -> np.ndarray:
        """(nc + 1, nc + 1) float matrix with each true-class column summing to 1 (empty columns stay 0)."""
        m = self.matrix.astype(np.float64)
        return m / np.maximum(m.sum(0, keepdims=True), 1e-9)
