"""Detections out of the graph: decoding + ONNX ``NonMaxSuppression`` at the end of an exported model.

``export --nms`` wraps the inference model in :class:`NmsExport`, whose ONNX graph ends in the standard
``NonMaxSuppression`` operator, so a C++ or mobile application needs no NMS of its own. It does what
``focalyolo predict`` does with the raw predictions (:func:`focalyolo.utils.nms.non_max_suppression` with one class
per box): each anchor keeps only its best class, boxes scoring at most ``conf`` are dropped, NMS runs per class
(IoU above ``iou`` suppressed), and each image keeps its ``max_det`` best detections. The outputs:

- ``detections`` (B, max_det, 6 + E): rows ``x1 y1 x2 y2 score class`` in input pixels, best score first, then the
  E values the task carries per detection (segmentation: mask coefficients; pose: keypoints); rows past the count
  are zeros;
- ``count`` (B,) int64: how many rows of each image are detections;
- a segmentation model's prototypes as a third output, ``output1``.

``conf``, ``iou`` and ``max_det`` are constants of the graph; the batch is dynamic with ``--dynamic``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import nms

from ..utils.boxes import xywh2xyxy

__all__ = ["NMS_OUTPUTS", "NmsExport"]

NMS_OUTPUTS = {"detections": {0: "batch"}, "count": {0: "batch"}}
"""Output names of an ``--nms`` export and their dynamic axes (a segmentation export adds ``output1``)."""


class _NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (opset 10+, corner boxes): exported as the operator, run in PyTorch with the same
    meaning (for tracing and the export check).

    The PyTorch side is a plain loop of :func:`torchvision.ops.nms` over the (image, class) groups: torchvision's
    ``batched_nms`` scripts its helpers when called under the tracer (``torch.jit.script``, deprecated), and its
    one-NMS-for-all-groups coordinate shift rounds the boxes of high group numbers."""

    @staticmethod
    def forward(ctx, boxes: torch.Tensor, scores: torch.Tensor, max_per_class: torch.Tensor, iou: torch.Tensor,
                score_threshold: torch.Tensor) -> torch.Tensor:
        """boxes (B, A, 4) corners, scores (B, C, A) -> selected (K, 3) int64 [batch, class, box]: per image and
        class, the boxes scoring above ``score_threshold`` that survive NMS, at most ``max_per_class``, by score."""
        image, cls, box = (scores > score_threshold).nonzero(as_tuple=True)
        score = scores[image, cls, box].float()
        corners = boxes[image, box].float()
        group = image * scores.shape[1] + cls
        kept = [members[nms(corners[members], score[members], float(iou))][: int(max_per_class)]  # by score
                for members in (torch.nonzero(group == g)[:, 0] for g in torch.unique(group))]
        selected = torch.cat(kept) if kept else group.new_zeros(0)
        return torch.stack((image[selected], cls[selected], box[selected]), 1)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou, score_threshold):  # noqa: ANN001, ANN205 (ONNX graph values)
        return g.op("NonMaxSuppression", boxes, scores, max_per_class, iou, score_threshold, center_point_box_i=0)


class NmsExport(nn.Module):
    """An inference model with NMS appended (see the module docstring).

    Args:
        net: the model in inference form; its eval output is (B, 4 + nc + E, A), or a tuple whose first element is.
        nc: classes (the score columns after the 4 box values).
        conf, iou, max_det: as ``focalyolo predict``'s.
    """

    def __init__(self, net: nn.Module, nc: int, conf: float, iou: float, max_det: int):
        super().__init__()
        self.net, self.nc, self.max_det = net, nc, max_det
        self.register_buffer("conf", torch.tensor([conf]), persistent=False)
        self.register_buffer("iou", torch.tensor([iou]), persistent=False)
        self.register_buffer("max_per_class", torch.tensor([max_det], dtype=torch.int64), persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(images)
        preds, rest = (out[0], tuple(out[1:])) if isinstance(out, (tuple, list)) else (out, ())
        preds = preds.float()
        batch = preds.shape[0]
        boxes = xywh2xyxy(preds[:, :4].transpose(1, 2))  # (B, A, 4)
        probs = preds[:, 4: 4 + self.nc]  # (B, nc, A)
        carried = preds[:, 4 + self.nc:].transpose(1, 2)  # (B, A, E)
        best, cls = probs.max(1)
        single = F.one_hot(cls, self.nc).transpose(1, 2).to(probs.dtype) * best[:, None]  # one class per box
        selected = _NonMaxSuppression.apply(boxes, single, self.max_per_class, self.iou, self.conf)
        image, label = selected[:, 0], selected[:, 1]
        flat = image * boxes.shape[1] + selected[:, 2]  # one gather per tensor (plain Gather nodes in ONNX)
        score = best.reshape(-1)[flat]
        parts = [boxes.reshape(-1, 4)[flat], score[:, None], label[:, None].to(score.dtype)]
        if carried.shape[2]:
            parts.append(carried.reshape(-1, carried.shape[2])[flat])
        rows = torch.cat(parts, 1)
        order = torch.argsort(image.to(score.dtype) * 2 - score)  # by image, then by descending score in (0, 1]
        rows, image = rows[order], image[order]
        counts = torch.zeros(batch, dtype=torch.int64, device=rows.device).scatter_add(0, image, torch.ones_like(image))
        rank = torch.arange(rows.shape[0], device=rows.device) - (counts.cumsum(0) - counts)[image]
        kept = rank < self.max_det
        detections = torch.zeros(batch, self.max_det, rows.shape[1], dtype=rows.dtype, device=rows.device)
        detections[image[kept], rank[kept]] = rows[kept]
        return (detections, counts.clamp(max=self.max_det), *rest)
