"""Pose / keypoints: DPose / DualDPose models, YOLO pose labels, the YOLO-Pose loss, box and pose mAP.

Built on detection: the same boxes, assignment and NMS, plus ``nk`` keypoints per detection. Labels are the
Ultralytics pose rows (``class cx cy w h x1 y1 v1 ...``) or COCO keypoint JSON; ``kpt_shape``, ``flip_idx`` and an
optional ``skeleton`` come from the data YAML. The loss adds 1 - OKS and the visibility BCE (:class:`PoseLoss`), the
metrics add pose mAP by OKS (fast per epoch, pycocotools ``keypoints`` at the end), and prediction returns a
:class:`PoseResult` (boxes plus keypoints over the original image) per image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ...data import DataConfig, Keypoints, YOLODataset, load_data_config
from ...errors import DataError
from ...loss import PoseLoss
from ...utils.nms import non_max_suppression, scale_boxes
from ...utils.plotting import plot_images
from ..base import LossFn, register_task
from ..detect import DetectTask
from ..evaluator import EvalSettings
from ..prediction import PredictBatch, PredictSettings
from .evaluator import PoseEvaluator, full_keypoints
from .results import PoseResult

__all__ = ["PoseResult", "PoseTask", "model_kpt_shape"]


def model_kpt_shape(model: nn.Module) -> list[int]:
    """``[nk, ndim]`` of a pose model (its head's) or of an exported one (its ``kpt_shape`` attribute)."""
    shape = getattr(model, "kpt_shape", None) or getattr(getattr(model, "head", None), "kpt_shape", None)
    if shape is None:
        raise ValueError(f"{type(model).__name__} has no keypoint shape: not a pose model")
    return list(shape)


@register_task
class PoseTask(DetectTask):
    """The pose task (see the module docstring)."""

    name = "pose"
    loss_names = ("box", "pose", "kobj", "cls", "dfl")
    metric_keys = {**DetectTask.metric_keys, "P(P)": "metrics/precision(P)", "R(P)": "metrics/recall(P)",
                   "mAP50(P)": "metrics/mAP50(P)", "mAP50-95(P)": "metrics/mAP50-95(P)"}
    report_metrics = {**DetectTask.report_metrics, "pose mAP50": "coco/AP50(P)", "pose mAP50-95": "coco/AP50-95(P)"}

    def extra_channels(self, metadata: Mapping[str, Any]) -> int:
        """The keypoints' values: ``kpt_shape`` (which a pose export records) multiplied out."""
        keypoints, dims = metadata["kpt_shape"]
        return keypoints * dims

    def load_data(self, data: str | Path) -> DataConfig:
        """:func:`load_data_config`; the dataset must name its keypoints' shape (``kpt_shape``)."""
        config = load_data_config(data)
        if config.kpt_shape is None:
            raise DataError(f"{config.source}: a pose dataset needs kpt_shape: [keypoints, 2 or 3] (and flip_idx for "
                            f"flip augmentation) in its data YAML, or a COCO keypoints JSON")
        return config

    def model_options(self, data: DataConfig) -> dict[str, Any]:
        """The data's ``kpt_shape`` (the head's outputs) and ``skeleton`` (recorded for drawing)."""
        return {"kpt_shape": data.kpt_shape, "skeleton": data.skeleton}

    def dataset_options(self, data: DataConfig) -> dict[str, Any]:
        """:class:`Keypoints` of the data's ``kpt_shape`` and ``flip_idx``."""
        return {"kinds": [Keypoints(data.kpt_shape, data.flip_idx)]}

    def predict_options(self, model: nn.Module) -> dict[str, Any]:
        """The model's ``kpt_shape`` and ``skeleton``."""
        return {"kpt_shape": model_kpt_shape(model), "skeleton": getattr(model, "skeleton", None)}

    def build_loss(self, model: nn.Module, hyp: Mapping[str, Any]) -> LossFn:
        """:class:`PoseLoss` with the loss gains and assigner settings of ``hyp``."""
        return PoseLoss(model.head, hyp)

    def build_dataset(self, files: Sequence[str | Path], imgsz: int, need_labels: bool = True,
                      **options: Any) -> Dataset:
        """:class:`YOLODataset` over pose labels (``options`` must hold ``kinds`` with :class:`Keypoints`); with
        ``need_labels`` a split without a usable pose row (e.g. rows of another ``kpt_shape``) is a
        :class:`DataError`."""
        return YOLODataset(files, imgsz, need_labels=need_labels, **options)

    def targets(self, batch: Mapping[str, Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 6) box rows as detection's, and the (N, nk, 3) keypoints normalised to the batch images."""
        return batch["targets"].to(device), batch["keypoints"].to(device)

    def plot_batch(self, batch: Mapping[str, Any], names: Sequence[str], path: Path) -> None:
        plot_images(batch["img"], batch["targets"], batch["paths"], names, path, keypoints=batch["keypoints"])

    def val_dataset_options(self, model: nn.Module) -> dict[str, Any]:
        """The model's keypoints' shape (rows of another shape are not its labels)."""
        return {"kinds": [Keypoints(model_kpt_shape(model))]}

    def build_evaluator(self, model: nn.Module, settings: EvalSettings) -> PoseEvaluator:
        """:class:`PoseEvaluator` with the model's ``kpt_shape`` and ``skeleton``: box and pose mAP (and
        pycocotools ``bbox`` / ``keypoints`` with ``settings.coco``)."""
        return PoseEvaluator(settings, model_kpt_shape(model), getattr(model, "skeleton", None))

    def postprocess(self, preds: torch.Tensor, batch: PredictBatch, settings: PredictSettings) -> list[PoseResult]:
        """NMS of the (B, 4 + nc + nk * ndim, A) predictions (one class per box), boxes and keypoints mapped back to
        each original image; ``settings`` as detection's, with the model's ``kpt_shape`` and ``skeleton`` in its
        ``model_options``."""
        kpt_shape = settings.model_options["kpt_shape"]
        detections = non_max_suppression(preds, settings.conf, settings.iou, settings.classes, settings.agnostic,
                                         multi_label=False, max_det=settings.max_det, nm=kpt_shape[0] * kpt_shape[1])
        results = []
        input_hw = batch.input_hw
        for frame, det, ratio_pad in zip(batch.frames, detections, batch.layouts):
            shape = frame.image.shape[:2]
            det = det.cpu()
            keypoints = full_keypoints(det[:, 6:], kpt_shape).clone()
            scale_boxes(input_hw, det[:, :4], shape, ratio_pad)
            scale_boxes(input_hw, keypoints[..., :2], shape, ratio_pad)
            results.append(PoseResult(frame.path, frame.index, shape, det[:, :4], det[:, 4], det[:, 5].long(),
                                      list(settings.names), frame.image, batch.speed, keypoints=keypoints,
                                      skeleton=settings.model_options.get("skeleton")))
        return results
