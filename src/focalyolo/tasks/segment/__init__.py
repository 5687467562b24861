"""Instance segmentation: Segment / DSegment / DualDSegment models, YOLO polygon labels, the segmentation loss,
box and mask mAP.

Built on detection: the same boxes, assignment and NMS, plus mask coefficients per detection and prototype masks
per image. Labels are the Ultralytics segmentation rows (``class x1 y1 x2 y2 ...``, a normalised polygon; or COCO
JSON outlines); batches carry one index-coded mask per image at 1/4 resolution ("overlap" masks). The loss adds the
mask term (:class:`SegmentationLoss`), the metrics add mask mAP (fast per epoch, pycocotools ``segm`` at the end),
and prediction returns a :class:`SegmentResult` (boxes plus masks over the original image) per image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ...data import Polygons, YOLODataset
from ...loss import SegmentationLoss
from ...utils.masks import masks_in_original
from ...utils.nms import non_max_suppression, scale_boxes
from ...utils.plotting import plot_images
from ..base import LossFn, register_task
from ..detect import DetectTask
from ..evaluator import EvalSettings
from ..prediction import PredictBatch, PredictSettings
from .evaluator import SegmentEvaluator, target_masks
from .results import SegmentResult

__all__ = ["SegmentResult", "SegmentTask"]


@register_task
class SegmentTask(DetectTask):
    """The instance-segmentation task (see the module docstring)."""

    name = "segment"
    loss_names = ("box", "seg", "cls", "dfl")
    metric_keys = {**DetectTask.metric_keys, "P(M)": "metrics/precision(M)", "R(M)": "metrics/recall(M)",
                   "mAP50(M)": "metrics/mAP50(M)", "mAP50-95(M)": "metrics/mAP50-95(M)"}
    report_metrics = {**DetectTask.report_metrics, "mask mAP50": "coco/AP50(M)", "mask mAP50-95": "coco/AP50-95(M)"}
    export_outputs = {**DetectTask.export_outputs, "output1": {0: "batch", 2: "mask_height", 3: "mask_width"}}

    def build_loss(self, model: nn.Module, hyp: Mapping[str, Any]) -> LossFn:
        """:class:`SegmentationLoss` (index-coded masks) with the loss gains and assigner settings of ``hyp``."""
        return SegmentationLoss(model.head, hyp, overlap=True)

    def build_dataset(self, files: Sequence[str | Path], imgsz: int, need_labels: bool = True,
                      **options: Any) -> Dataset:
        """:class:`YOLODataset` with index-coded masks at 1/4 resolution (YOLO polygon labels); with ``need_labels``
        a split without a usable outline is a :class:`DataError`."""
        kinds = [Polygons(mask_ratio=4, overlap=True), *options.pop("kinds", ())]
        return YOLODataset(files, imgsz, kinds=kinds, need_labels=need_labels, **options)

    def targets(self, batch: Mapping[str, Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 6) box rows as detection's, and the (B, h, w) index-coded masks."""
        return batch["targets"].to(device), batch["masks"].to(device)

    def plot_batch(self, batch: Mapping[str, Any], names: Sequence[str], path: Path) -> None:
        plot_images(batch["img"], batch["targets"], batch["paths"], names, path,
                    masks=target_masks(batch["masks"], batch["targets"], len(batch["img"])))

    def val_dataset_options(self, model: nn.Module) -> dict[str, Any]:
        """Index-coded masks at 1/4 resolution, as in training."""
        return {"kinds": [Polygons(mask_ratio=4, overlap=True)]}

    def build_evaluator(self, model: nn.Module, settings: EvalSettings) -> SegmentEvaluator:
        """:class:`SegmentEvaluator`: box and mask mAP (and pycocotools ``bbox`` / ``segm`` with ``settings.coco``)."""
        return SegmentEvaluator(settings)

    def postprocess(self, preds: tuple[torch.Tensor, torch.Tensor], batch: PredictBatch,
                    settings: PredictSettings) -> list[SegmentResult]:
        """NMS of the (B, 4 + nc + nm, A) predictions (one class per box), each detection's mask assembled at the
        input resolution, cropped to its box and mapped, with the box, back to the original image."""
        predictions, protos = preds
        detections = non_max_suppression(predictions, settings.conf, settings.iou, settings.classes,
                                         settings.agnostic, multi_label=False, max_det=settings.max_det,
                                         nm=protos.shape[1])
        results = []
        input_hw = batch.input_hw
        for frame, det, proto, ratio_pad in zip(batch.frames, detections, protos, batch.layouts):
            shape = frame.image.shape[:2]
            masks = masks_in_original(proto, det[:, 6:], det[:, :4], input_hw, shape, ratio_pad).cpu()
            det = det[:, :6].cpu()
            scale_boxes(input_hw, det[:, :4], shape, ratio_pad)
            results.append(SegmentResult(frame.path, frame.index, shape, det[:, :4], det[:, 4], det[:, 5].long(),
                                         list(settings.names), frame.image, batch.speed, masks=masks))
        return results
