"""Object detection: DDetect / DualDDetect models, YOLO box labels, the (dual) detection loss, box mAP.

Boxes are predicted per anchor point as distributions over distances to the four sides (DFL), labels are the
YOLO ``class cx cy w h`` rows (or COCO JSON boxes), the loss is YOLOv9's (task-aligned assignment, CIoU + DFL
+ BCE; PGI's auxiliary branch weighted by ``aux_weight``), the metrics are box mAP (fast per epoch, pycocotools
at the end), and prediction is NMS followed by one :class:`DetectResult` per image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ...data import DataConfig, Keypoints, YOLODataset, build_dataloader, load_data_config
from ...loss import DetectionLoss
from ...utils.nms import non_max_suppression, scale_boxes
from ...utils.plotting import plot_images, plot_labels
from ..base import LossFn, Task, register_task
from ..evaluator import EvalSettings, evaluation_imgsz
from ..prediction import PredictBatch, PredictSettings
from .evaluator import DetectEvaluator
from .inputs import RatioPad, letterbox_batch
from .results import DetectResult

__all__ = ["DetectTask", "DetectResult"]


@register_task
class DetectTask(Task):
    """The detection task (see the module docstring)."""

    name = "detect"
    loss_names = ("box", "cls", "dfl")
    metric_keys = {"P": "metrics/precision(B)", "R": "metrics/recall(B)", "mAP50": "metrics/mAP50(B)",
                   "mAP50-95": "metrics/mAP50-95(B)"}
    report_metrics = {"mAP50": "coco/AP50", "mAP50-95": "coco/AP50-95", "APs": "coco/APs", "APm": "coco/APm",
                      "APl": "coco/APl"}
    export_outputs = {"output0": {0: "batch", 2: "anchors"}}
    report_description = "COCO figures (pycocotools)"
    nms_export = True
    box_channels = 4

    def load_data(self, data: str | Path) -> DataConfig:
        """:func:`load_data_config`: a data YAML, a COCO JSON or a built-in set."""
        return load_data_config(data)

    def dataset_options(self, data: DataConfig) -> dict[str, Any]:
        """For a pose dataset (``kpt_shape`` set) its :class:`Keypoints`, so its rows read as pose rows (the
        keypoints are carried along unused, so any ``flip_idx`` does)."""
        if data.kpt_shape is None:
            return {}
        return {"kinds": [Keypoints(data.kpt_shape, data.flip_idx or list(range(data.kpt_shape[0])))]}

    def build_loss(self, model: nn.Module, hyp: Mapping[str, Any]) -> LossFn:
        """:class:`DetectionLoss` with the loss gains and assigner settings of ``hyp``."""
        return DetectionLoss(model.head, hyp)

    def build_dataset(self, files: Sequence[str | Path], imgsz: int, need_labels: bool = True,
                      **options: Any) -> Dataset:
        """:class:`YOLODataset` (YOLO txt box labels; options as its constructor's); with ``need_labels`` a split
        without a usable box is a :class:`DataError`."""
        return YOLODataset(files, imgsz, need_labels=need_labels, **options)

    def targets(self, batch: Mapping[str, Any], device: torch.device) -> torch.Tensor:
        """(N, 6) [image index, class, cx, cy, w, h] rows, normalised to the batch images."""
        return batch["targets"].to(device)

    def instances(self, batch: Mapping[str, Any]) -> int:
        return len(batch["targets"])

    def plot_labels(self, dataset: Dataset, names: Sequence[str], save_dir: Path) -> None:
        plot_labels(dataset.all_labels(), names, save_dir)

    def plot_batch(self, batch: Mapping[str, Any], names: Sequence[str], path: Path) -> None:
        plot_images(batch["img"], batch["targets"], batch["paths"], names, path)

    def val_dataset_options(self, model: nn.Module) -> dict[str, Any]:
        """What the evaluation dataset of ``model`` needs besides boxes (segmentation: masks; pose: keypoints)."""
        return {}

    def build_val_loader(self, model: nn.Module, files: Sequence[str | Path], imgsz: int, batch: int, workers: int,
                         prefix: str = "val: ") -> DataLoader:
        """Rect batches, each letterboxed to the smallest stride-multiple shape around ``imgsz`` (long side) that
        fits it, the same for a checkpoint and its export. An exported file with a fixed input size
        (``model.input_shape``) is evaluated at that size: its rect batches fit inside it and the model pads them
        at the bottom / right (:class:`~focalyolo.deploy.onnx_model.ExportedModel`), which moves no box, so an
        export of the trained size sees the checkpoint's inputs. A split without a usable label row (for
        ``model.nc`` classes) is a :class:`DataError`."""
        imgsz = evaluation_imgsz(model, imgsz, prefix)
        dataset = YOLODataset(files, imgsz, rect=True, batch_size=batch, stride=int(model.stride.max()), nc=model.nc,
                              prefix=prefix, need_labels=True, **self.val_dataset_options(model))
        return build_dataloader(dataset, batch, workers, shuffle=False)

    def build_evaluator(self, model: nn.Module, settings: EvalSettings) -> DetectEvaluator:
        """:class:`DetectEvaluator`: box mAP (and pycocotools box figures with ``settings.coco``)."""
        return DetectEvaluator(settings)

    def preprocess(self, images: Sequence[np.ndarray], settings: PredictSettings
                   ) -> tuple[torch.Tensor, list[RatioPad]]:
        """:func:`letterbox_batch` to ``settings.imgsz`` and ``settings.stride``: each image's ratio_pad maps the
        boxes back to it."""
        return letterbox_batch(images, settings.imgsz, settings.stride)

    def postprocess(self, preds: torch.Tensor, batch: PredictBatch, settings: PredictSettings) -> list[DetectResult]:
        """NMS (one class per box; ``settings``' conf, iou, max_det, classes, agnostic) of a batch's
        (B, 4 + nc, A) predictions, boxes mapped back to each original image."""
        detections = non_max_suppression(preds, settings.conf, settings.iou, settings.classes, settings.agnostic,
                                         multi_label=False, max_det=settings.max_det)
        results = []
        for frame, det, ratio_pad in zip(batch.frames, detections, batch.layouts):
            shape = frame.image.shape[:2]
            det = det.cpu()
            scale_boxes(batch.input_hw, det[:, :4], shape, ratio_pad)
            results.append(DetectResult(frame.path, frame.index, shape, det[:, :4], det[:, 4], det[:, 5].long(),
                                        list(settings.names), frame.image, batch.speed))
        return results
