"""The evaluator protocol: what the evaluation loop (:func:`focalyolo.engine.evaluation.evaluate`) asks of a task's
metrics.

The loop is the same for every task: it moves each batch's ``img`` to the device as floats in [0, 1], runs the
model's eval forward (with the raw head maps when it also computes the validation losses), times the steps, sums
the losses, writes ``metrics.json`` / ``predictions.json`` and prints the table. What a batch's outputs mean is
the task's: the loop hands them to the :class:`Evaluator` that :meth:`Task.build_evaluator
<focalyolo.tasks.base.Task.build_evaluator>` returns, in this order:

=====================  ==================================================================================
``postprocess``        each batch (timed as "postprocess"): the eval forward's output -> predictions
``plot_batch``         the first batches, with ``plots``: the batch's labels and predictions drawn
``update``             each batch: score its predictions against its labels
``metrics``            once: the figures logged each epoch (``results.csv`` columns) and ``fitness``
``summary``            once: what else the report holds (per-class rows, reference figures such as COCO's)
``plot``               once, with ``plots``: curves, confusion matrices
``predictions_json``   once, with ``save_json``: the rows of ``predictions.json``
``table``              once, when verbose: the printed table (the loop adds the speeds line)
=====================  ==================================================================================

Only ``update`` and ``metrics`` have no default.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

__all__ = ["EvalSettings", "Evaluator", "evaluation_imgsz"]

LOGGER = logging.getLogger("focalyolo")


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation was asked for, as a task's evaluator is built with it.

    Attributes:
        names: class names (``len(names)`` classes).
        conf, iou, max_det: NMS settings, for tasks whose predictions go through NMS.
        coco: add the reference figures a task has (pycocotools for detection, segmentation and pose), computed
            against the labels of the loader's dataset.
        save_json: the evaluator keeps every image's predictions for :meth:`Evaluator.predictions_json`.
    """

    names: Sequence[str]
    conf: float = 0.001
    iou: float = 0.7
    max_det: int = 300
    coco: bool = False
    save_json: bool = False


class Evaluator(ABC):
    """A task's metrics over one evaluation; see the module docstring for when the loop calls each method.

    An evaluator is built for one pass over a loader (:meth:`Task.build_evaluator`) and accumulates over it.
    """

    postprocess_name: ClassVar[str] = "postprocess"
    """What the printed speeds line calls the :meth:`postprocess` step (detection: ``NMS``)."""

    def postprocess(self, output: Any) -> Any:
        """The model's eval output for a batch (``model(img)``, on the device) -> the predictions that
        :meth:`update` and :meth:`plot_batch` take; timed as the postprocess step. Default: the output itself."""
        return output

    @abstractmethod
    def update(self, batch: Mapping[str, Any], predictions: Any) -> None:
        """Score one batch (as the loader yields it, on the host) with its :meth:`postprocess` predictions."""

    @abstractmethod
    def metrics(self) -> dict[str, float]:
        """The figures over everything :meth:`update` saw: the task's ``metric_keys`` columns and ``fitness``
        (higher is better; it picks ``best.pt``)."""

    def summary(self, dataset: Any) -> dict[str, Any]:
        """What the returned results and ``metrics.json`` hold besides :meth:`metrics` and the losses (e.g.
        ``per_class`` rows, and the reference figures when ``coco`` was asked); ``dataset`` is the loader's.
        Default: nothing."""
        return {}

    def table(self, results: Mapping[str, Any], n_images: int) -> str:
        """The table printed after a verbose evaluation of ``n_images`` images. Default: one line per figure."""
        return "\n".join(f"{k:>30} {v:.3f}" for k, v in results.items() if isinstance(v, float))

    def plot_batch(self, batch: Mapping[str, Any], predictions: Any, save_dir: Path, index: int) -> None:
        """Draw batch ``index`` (``val_batch{index}_labels.jpg`` / ``_pred.jpg``) into ``save_dir``. Default:
        nothing."""

    def plot(self, save_dir: Path) -> None:
        """Write the evaluation's plots (curves, confusion matrices) into ``save_dir``. Default: nothing."""

    def predictions_json(self) -> list[dict[str, Any]]:
        """The rows of ``predictions.json`` (kept when built with ``save_json``). Default: none."""
        return []


def evaluation_imgsz(model: torch.nn.Module, imgsz: int, prefix: str) -> int:
    """The image size to evaluate ``model`` at: ``imgsz``, or the long side of an exported file's fixed input
    (``model.input_shape`` (B, 3, H, W) with H and W set)."""
    fixed = getattr(model, "input_shape", (None,) * 4)[2:]
    if all(fixed) and max(fixed) != imgsz:
        LOGGER.info(f"{prefix}the model takes {fixed[0]}x{fixed[1]} inputs: evaluating at imgsz {max(fixed)}")
        return max(fixed)
    return imgsz
