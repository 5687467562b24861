"""The task protocol: what the training, validation and prediction loops ask of a task, and the task registry.

The loops (:mod:`focalyolo.engine`) know no task by name. They look the task up from the model
(:func:`task_of`: the ``task`` name its head class declares, or an exported model's ``task`` attribute) and call
the hooks below. A task
is a subclass of :class:`Task` with its attributes set and its methods implemented, registered with
:func:`register_task`; adding one is a new module under ``focalyolo/tasks`` plus an import in
``focalyolo/tasks/__init__.py``. Detection (:mod:`focalyolo.tasks.detect`) is the reference implementation.

What a task provides, and who calls it:

=====================  =====================================================================================
``name``               the task's name (``"detect"``), recorded in exported files
``loss_names``         loss components: the progress bar's columns, ``train/*_loss`` and ``val/*_loss``
``metric_keys``        short name -> results key of the metrics logged each epoch (``results.csv`` columns)
``report_metrics``     ``compare``: column -> results key of the final validation's figures in the ablation table
                       (the first is logged per run; detection and its kin: the pycocotools figures)
``report_description`` ``compare``: what those figures are, for the table's notes
``train_imgsz``        run resolution: the default training size on the built-in synthetic sets and on other data
                       (:meth:`Task.default_imgsz`)
``nms_export``         export: whether ``--nms`` can end the ONNX graph in (axis-aligned) NMS
``box_channels``       exported models: ``output0``'s box values per anchor (4 for boxes, 0 for a classifier)
``extra_channels``     exported models: ``output0``'s channels per anchor after the box, classes and mask
                       coefficients (pose: the keypoints; OBB: the angle)
``loss_columns``       trainer, validation: the ``results.csv`` / metrics keys of the losses of a split
``load_data``          trainer, ``val``: the dataset description (a data YAML ...) -> splits and class names
``model_options``      trainer: what the data sets in the model besides the class count (pose: ``kpt_shape``)
``dataset_options``    trainer, INT8 calibration: what the data tells the dataset besides the files (pose: keypoints)
``build_loss``         trainer: the loss function ``(raw preds, targets) -> (loss, items)``
``build_dataset``      trainer, validation: the dataset over image files (the label format lives there)
``targets``            trainer: the batch's targets on the device, as the loss takes them
``instances``          trainer: how many labelled instances a batch holds (progress bar)
``plot_labels``        trainer: the dataset's label statistics plot
``plot_batch``         trainer: a training batch with its labels drawn
``build_val_loader``   ``val``: the evaluation loader for a model
``build_evaluator``    trainer and ``val``, through the evaluation loop: the evaluator of one pass (its metrics)
``predict_options``    predictor: what pre- and postprocessing need to know of the model beyond its classes
``preprocess``         predictor: original BGR images -> the network's input batch (and what maps results back)
``postprocess``        predictor: predictions of a batch -> one result per image (an ``ImageResult``)
``export_outputs``     export: output names and their dynamic axes
=====================  =====================================================================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..cfg import SYNTHETIC_DATA
from ..errors import ConfigError
from .evaluator import EvalSettings, Evaluator
from .prediction import PredictBatch, PredictSettings

__all__ = ["LossFn", "TASKS", "Task", "get_task", "register_task", "task_of"]

LossFn = Callable[[Any, Any], tuple[torch.Tensor, torch.Tensor]]
TASKS: dict[str, "Task"] = {}


class Task(ABC):
    """Base class of the tasks; see the module docstring for what each member is for."""

    name: ClassVar[str] = ""
    loss_names: ClassVar[tuple[str, ...]] = ()
    metric_keys: ClassVar[Mapping[str, str]] = {}
    report_metrics: ClassVar[Mapping[str, str]] = {}
    report_description: ClassVar[str] = "the validation figures"
    export_outputs: ClassVar[Mapping[str, Mapping[int, str]]] = {}
    train_imgsz: ClassVar[tuple[int, int]] = (160, 640)
    nms_export: ClassVar[bool] = False
    box_channels: ClassVar[int] = 0

    def default_imgsz(self, data: str | Path) -> int:
        """The training size of a run on ``data`` that names none: ``train_imgsz``'s first value on a built-in
        synthetic set (short CPU runs), its second on other data."""
        on_synthetic, otherwise = self.train_imgsz
        return on_synthetic if str(data) in SYNTHETIC_DATA else otherwise

    def extra_channels(self, metadata: Mapping[str, Any]) -> int:
        """Channels per anchor of an exported model's ``output0`` after the 4 box values, the classes and any mask
        coefficients, from the export's decoded metadata (:func:`~focalyolo.deploy.onnx_model.decode_metadata`)."""
        return 0

    def loss_columns(self, split: str) -> list[str]:
        """Keys of the losses of ``split`` (``train`` / ``val``): ``train/box_loss`` ... in ``loss_names`` order."""
        return [f"{split}/{n}_loss" for n in self.loss_names]

    def csv_columns(self) -> list[str]:
        """``results.csv`` columns: epoch, training losses, metrics, validation losses, learning rates."""
        return ["epoch", *self.loss_columns("train"), *self.metric_keys.values(), *self.loss_columns("val"),
                "lr/pg0", "lr/pg1", "lr/pg2"]

    @abstractmethod
    def load_data(self, data: str | Path) -> Any:
        """See the module docstring: an object with ``train``, ``val``, ``test`` (what :meth:`build_dataset` takes),
        ``names``, ``nc``, ``root`` and ``source``."""

    def model_options(self, data: Any) -> dict[str, Any]:
        """Keyword arguments of :func:`~focalyolo.models.build_model` that the data decides besides ``nc``."""
        return {}

    def dataset_options(self, data: Any) -> dict[str, Any]:
        """Keyword arguments of :meth:`build_dataset` that the data decides besides the files."""
        return {}

    def predict_options(self, model: nn.Module) -> dict[str, Any]:
        """What :meth:`preprocess` and :meth:`postprocess` receive as ``settings.model_options`` about ``model``."""
        return {}

    @abstractmethod
    def build_loss(self, model: nn.Module, hyp: Mapping[str, Any]) -> LossFn:
        """See the module docstring."""

    @abstractmethod
    def build_dataset(self, files: Sequence[str | Path], imgsz: int, **options: Any) -> Dataset:
        """See the module docstring."""

    @abstractmethod
    def targets(self, batch: Mapping[str, Any], device: torch.device) -> Any:
        """See the module docstring."""

    @abstractmethod
    def instances(self, batch: Mapping[str, Any]) -> int:
        """See the module docstring."""

    @abstractmethod
    def plot_labels(self, dataset: Dataset, names: Sequence[str], save_dir: Path) -> None:
        """See the module docstring."""

    @abstractmethod
    def plot_batch(self, batch: Mapping[str, Any], names: Sequence[str], path: Path) -> None:
        """See the module docstring."""

    @abstractmethod
    def build_val_loader(self, model: nn.Module, files: Sequence[Any], imgsz: int, batch: int, workers: int,
                         prefix: str = "val: ") -> DataLoader:
        """The unshuffled evaluation loader over ``files`` (a split of :meth:`load_data`) for ``model`` (its
        classes, strides and any fixed input size) at image size ``imgsz``."""

    @abstractmethod
    def build_evaluator(self, model: nn.Module, settings: EvalSettings) -> Evaluator:
        """A fresh evaluator for one pass of the evaluation loop over ``model``'s outputs (see
        :mod:`focalyolo.tasks.evaluator`)."""

    @abstractmethod
    def preprocess(self, images: Sequence[Any], settings: PredictSettings) -> tuple[torch.Tensor, list[Any]]:
        """See the module docstring: (h, w, 3) uint8 BGR images -> ((B, 3, H, W) uint8 RGB batch, one value per
        image that :meth:`postprocess` receives as ``batch.layouts``)."""

    @abstractmethod
    def postprocess(self, preds: Any, batch: PredictBatch, settings: PredictSettings) -> list[Any]:
        """See the module docstring: the model's eval output for ``batch`` -> one result per frame."""


def register_task(task: type[Task]) -> type[Task]:
    """Class decorator: register one instance of ``task`` under ``task.name``."""
    if not task.name or task.name in TASKS:
        raise ValueError(f"task name {task.name!r} is empty or already registered")
    TASKS[task.name] = task()
    return task


def get_task(name: str) -> Task:
    """The registered task called ``name``."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; registered: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def task_of(model: nn.Module) -> Task:
    """The task of a model: its ``task`` attribute when it has one (exported models), else the ``task`` its head
    class (``model.head``) declares. A :class:`ConfigError` names the head when that task is not registered."""
    named = getattr(model, "task", None)
    if isinstance(named, str):
        return get_task(named)
    head = getattr(model, "head", None)
    name = getattr(head, "task", None)
    if name not in TASKS:
        raise ConfigError(f"the model's head {type(head).__name__} declares the task {name!r}, which is not registered "
                          f"(registered: {', '.join(sorted(TASKS))}; see focalyolo.tasks.register_task)")
    return TASKS[name]
