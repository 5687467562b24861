"""Oriented boxes (OBB): DOBB / DualDOBB models, OBB labels (and DOTA's), the rotated loss, rotated box mAP.

Built on detection: the same backbone, DFL distances and task-aligned assignment, plus one angle per box
(:mod:`focalyolo.nn.obb`). Labels are the Ultralytics OBB rows ``class x1 y1 x2 y2 x3 y3 x4 y4`` (normalised
corners, :class:`~focalyolo.data.rotated_boxes.RotatedBoxes`); a dataset laid out as DOTA (``images/`` beside
``labelTxt/``) has its labels converted to such rows once (:func:`~focalyolo.data.dota.convert_dota_labels`). The
loss is ProbIoU + DFL + BCE (:class:`~focalyolo.loss.obb.OBBLoss`), the metrics rotated mAP50 and mAP50-95 by the
exact IoU in the ``metrics/*(B)`` columns (:class:`~focalyolo.tasks.obb.evaluator.OBBEvaluator`), and prediction
is class-aware rotated NMS followed by one :class:`OBBResult` per image, boxes in original-image pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...data import DataConfig, RotatedBoxes, convert_dota_labels, load_data_config
from ...errors import DataError
from ...loss import OBBLoss
from ...utils.plotting import plot_images
from ...utils.rotated_nms import rotated_non_max_suppression
from ..base import LossFn, register_task
from ..detect import DetectTask
from ..evaluator import EvalSettings
from ..prediction import PredictBatch, PredictSettings
from .evaluator import CORNER_SKELETON, OBBEvaluator, plot_rows, unletterbox_rotated
from .results import OBB, OBBResult

__all__ = ["OBB", "OBBResult", "OBBTask"]


@register_task
class OBBTask(DetectTask):
    """The oriented-box task (see the module docstring)."""

    name = "obb"
    report_metrics = {"mAP50": "metrics/mAP50(B)", "mAP50-95": "metrics/mAP50-95(B)", "P": "metrics/precision(B)",
                      "R": "metrics/recall(B)"}  # rotated boxes: no pycocotools figures
    report_description = "rotated-box figures (exact IoU, 101-point mAP; pycocotools has no rotated boxes)"
    train_imgsz = (160, 1024)  # other data: DOTA's usual size (small objects in large scenes)
    nms_export = False  # the NMS graph is axis-aligned

    def extra_channels(self, metadata: Mapping[str, Any]) -> int:
        """The angle."""
        return 1

    def load_data(self, data: str | Path) -> DataConfig:
        """:func:`load_data_config` (a data YAML or ``synthetic-obb``), each split's DOTA labels converted to OBB
        rows where there are any; a pose dataset is a :class:`DataError`."""
        config = load_data_config(data)
        if config.kpt_shape is not None:
            raise DataError(f"{config.source}: a pose dataset (kpt_shape) has no oriented boxes")
        for files in (config.train, config.val, config.test):
            convert_dota_labels(files, config.names)
        return config

    def dataset_options(self, data: DataConfig) -> dict[str, Any]:
        """:class:`RotatedBoxes`: the label rows are OBB rows."""
        return {"kinds": [RotatedBoxes()]}

    def val_dataset_options(self, model: nn.Module) -> dict[str, Any]:
        return {"kinds": [RotatedBoxes()]}

    def build_loss(self, model: nn.Module, hyp: Mapping[str, Any]) -> LossFn:
        """:class:`OBBLoss` with the loss gains and assigner settings of ``hyp``."""
        return OBBLoss(model.head, hyp)

    def targets(self, batch: Mapping[str, Any], device: torch.device) -> torch.Tensor:
        """(N, 7) [image index, class, cx, cy, w, h, angle]: ``cx``, ``w`` normalised by the batch image's width,
        ``cy``, ``h`` by its height."""
        return torch.cat((batch["targets"][:, :2], batch["rboxes"]), 1).to(device)

    def plot_batch(self, batch: Mapping[str, Any], names: Sequence[str], path: Path) -> None:
        """The batch with each rotated box drawn (its corners joined, over the axis-aligned box around it)."""
        h, w = batch["img"].shape[2:]
        boxes, corners = plot_rows(batch["rboxes"] * batch["rboxes"].new_tensor([w, h, w, h, 1]), (h, w))
        plot_images(batch["img"], torch.cat((batch["targets"][:, :2], boxes), 1), batch["paths"], names, path,
                    keypoints=corners, skeleton=CORNER_SKELETON)

    def build_evaluator(self, model: nn.Module, settings: EvalSettings) -> OBBEvaluator:
        """:class:`OBBEvaluator`: rotated box mAP."""
        return OBBEvaluator(settings)

    def postprocess(self, preds: torch.Tensor, batch: PredictBatch, settings: PredictSettings) -> list[OBBResult]:
        """Rotated NMS (one class per box; ``settings``' conf, iou, max_det, classes, agnostic) of a batch's
        (B, 4 + nc + 1, A) predictions, boxes mapped back to each original image."""
        detections = rotated_non_max_suppression(preds, settings.conf, settings.iou, settings.classes,
                                                 settings.agnostic, multi_label=False, max_det=settings.max_det)
        results = []
        for frame, det, ratio_pad in zip(batch.frames, detections, batch.layouts):
            det = det.cpu()
            boxes = unletterbox_rotated(det[:, :5], ratio_pad)
            results.append(OBBResult(frame.path, frame.index, frame.image.shape[:2], boxes, det[:, 5],
                                     det[:, 6].long(), list(settings.names), frame.image, batch.speed))
        return results
