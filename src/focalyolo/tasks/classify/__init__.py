"""Image classification: Classify-head models (``gelan-*-cls``), image-folder data, cross-entropy, top-k accuracy.

Data are image folders (``train/<class>/*.jpg``, see :mod:`focalyolo.data.classify`) augmented with torchvision's
transforms; the loss is cross-entropy with label smoothing; the metrics are top-1 / top-5 accuracy (fitness: top-1)
with a confusion matrix; prediction resizes and centre-crops each image and returns its class probabilities as a
:class:`ClassifyResult`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ...data import build_dataloader
from ...data.classify import ClassificationData, ClassificationDataset, eval_transform, load_classification_data
from ...loss import ClassificationLoss
from ...utils.plotting import plot_class_counts, plot_images
from ..base import LossFn, Task, register_task
from ..evaluator import EvalSettings, evaluation_imgsz
from ..prediction import PredictBatch, PredictSettings
from .evaluator import ClassifyEvaluator
from .results import ClassifyResult

__all__ = ["ClassifyResult", "ClassifyTask"]


@register_task
class ClassifyTask(Task):
    """The classification task (see the module docstring)."""

    name = "classify"
    loss_names = ("loss",)
    metric_keys = {"top1": "metrics/accuracy_top1", "top5": "metrics/accuracy_top5"}
    report_metrics = metric_keys
    report_description = "top-1 / top-5 accuracy"
    export_outputs = {"output0": {0: "batch"}}
    train_imgsz = (96, 224)  # the synthetic images are 96 pixels; other data: ImageNet's size

    def loss_columns(self, split: str) -> list[str]:
        """``train/loss`` / ``val/loss``: one loss, named as Ultralytics' classifiers name it."""
        return [f"{split}/loss"]

    def load_data(self, data: str | Path) -> ClassificationData:
        """:func:`load_classification_data`: an image-folder root, a data YAML naming class folders, or
        ``synthetic-cls``."""
        return load_classification_data(data)

    def build_loss(self, model: nn.Module, hyp: Mapping[str, Any]) -> LossFn:
        """:class:`ClassificationLoss` with ``hyp["label_smoothing"]``."""
        return ClassificationLoss(hyp)

    def build_dataset(self, samples: Sequence[tuple[Path, int]], imgsz: int, augment: bool = False,
                      hyp: Mapping[str, Any] | None = None, prefix: str = "", verbose: bool = True,
                      **detection_layout: Any) -> Dataset:
        """:class:`ClassificationDataset` over ``(image, class)`` samples. ``detection_layout`` takes the options the
        trainer gives every task's dataset (``batch_size``, ``stride``, ``rect``, ``nc``, ``seed``): square crops
        need none of them, and the loader seeds the augmentation."""
        return ClassificationDataset(samples, imgsz, augment=augment, hyp=hyp, prefix=prefix, verbose=verbose)

    def targets(self, batch: Mapping[str, Any], device: torch.device) -> torch.Tensor:
        """(B,) int64 class of each image."""
        return batch["cls"].to(device)

    def instances(self, batch: Mapping[str, Any]) -> int:
        return len(batch["cls"])

    def plot_labels(self, dataset: Dataset, names: Sequence[str], save_dir: Path) -> None:
        plot_class_counts(dataset.labels, names, save_dir)

    def plot_batch(self, batch: Mapping[str, Any], names: Sequence[str], path: Path) -> None:
        titles = [names[c] if c < len(names) else str(c) for c in batch["cls"].tolist()]
        plot_images(batch["img"], torch.zeros(0, 6), batch["paths"], names, path, titles=titles)

    def build_val_loader(self, model: nn.Module, files: Sequence[tuple[Path, int]], imgsz: int, batch: int,
                         workers: int, prefix: str = "val: ") -> DataLoader:
        """Resized, centre-cropped ``imgsz`` x ``imgsz`` batches of the ``(image, class)`` samples (an exported file
        with a fixed input size, ``model.input_shape``, gets that size)."""
        dataset = ClassificationDataset(files, evaluation_imgsz(model, imgsz, prefix), prefix=prefix)
        return build_dataloader(dataset, batch, workers, shuffle=False)

    def build_evaluator(self, model: nn.Module, settings: EvalSettings) -> ClassifyEvaluator:
        """:class:`ClassifyEvaluator`: top-1 / top-5 accuracy and the confusion matrix."""
        return ClassifyEvaluator(settings)

    def preprocess(self, images: Sequence[np.ndarray], settings: PredictSettings) -> tuple[torch.Tensor, list[None]]:
        """Each BGR image resized (short side ``settings.imgsz``) and centre-cropped, as in validation;
        (B, 3, imgsz, imgsz) uint8 RGB (nothing to map back: one None per image)."""
        transform = eval_transform(settings.imgsz)
        batch = [transform(torch.from_numpy(np.ascontiguousarray(im[..., ::-1].transpose(2, 0, 1)))) for im in images]
        return torch.stack(batch), [None] * len(images)

    def postprocess(self, preds: torch.Tensor, batch: PredictBatch, settings: PredictSettings
                    ) -> list[ClassifyResult]:
        """One :class:`ClassifyResult` per frame from the (B, nc) probabilities."""
        probs = preds.float().cpu()
        return [ClassifyResult(frame.path, frame.index, frame.image.shape[:2], p, list(settings.names), frame.image,
                               batch.speed)
                for frame, p in zip(batch.frames, probs)]
