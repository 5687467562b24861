"""The fast in-training metric of oriented boxes: rotated mAP50 and mAP50-95.

The detection metric as it is (COCO's score-order matching, 101-point AP, P/R/F1 at the best-mean-F1 confidence,
the confusion matrix), with the exact IoU of the rotated boxes
(:func:`~focalyolo.utils.rotated_iou.rotated_iou_matrix`) as the overlap that matches detections to ground truth.
The ``results.csv`` columns are the box metric's, ``metrics/*(B)``.
"""

from __future__ import annotations

import torch

from focalyolo.metrics.detection import DetectionMetrics
from focalyolo.utils.rotated_iou import rotated_iou_matrix

__all__ = ["OBBMetrics"]


class OBBMetrics(DetectionMetrics):
    """:class:`DetectionMetrics` of rotated boxes (same arguments; ``kind`` is ``"B"``)."""

    def update(self, pred: torch.Tensor, gt_boxes: torch.Tensor, gt_cls: torch.Tensor,
               overlaps: torch.Tensor | None = None) -> None:
        """Add one image.

        Args:
            pred: (n, 7) detections ``[cx, cy, w, h, angle, score, cls]`` (angle in radians, any range).
            gt_boxes: (m, 5) ground-truth ``[cx, cy, w, h, angle]``, same pixel frame as ``pred``.
            gt_cls: (m,) ground-truth classes.
            overlaps: (n, m) IoU to match by; None (the usual) computes the rotated boxes' exact IoU.
        """
        pred, gt_boxes = pred.detach(), gt_boxes.detach().reshape(-1, 5)
        if overlaps is None:
            overlaps = rotated_iou_matrix(pred[:, :5].float(), gt_boxes.float())
        scored = torch.cat((pred.new_zeros(len(pred), 4), pred[:, 5:7]), 1)  # the boxes are matched by ``overlaps``
        super().update(scored, gt_boxes.new_zeros(len(gt_boxes), 4), gt_cls, overlaps)
