"""The evaluation loop of every task: the trainer's (every scored epoch on the EMA model, and ``best.pt`` at the end)
and the ``val`` job's.

Per batch: uint8 images -> float in [0, 1] on the device, the eval forward (with the raw head maps when a loss is
given: the validation losses, untimed), the task's evaluator (:class:`~focalyolo.tasks.evaluator.Evaluator`, built
by the model's task) turns the output into predictions (timed as postprocess) and scores them. At the end: the
evaluator's metrics, the mean losses, the evaluator's summary, the speeds; then ``metrics.json``,
``predictions.json``, the plots and the printed table.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..tasks import EvalSettings, Evaluator, LossFn, Task, task_of
from ..utils.torch_utils import device_clock, select_device

__all__ = ["evaluate"]

LOGGER = logging.getLogger("focalyolo")
PLOTTED_BATCHES = 3
STEPS = ("preprocess", "inference", "postprocess")


class _Tally:
    """What the loop accumulates besides the evaluator's scores: the loss items' sum (float64), batches, images
    and the seconds of each of :data:`STEPS`."""

    def __init__(self) -> None:
        self.loss_sum: torch.Tensor | None = None
        self.batches = 0
        self.images = 0
        self.seconds = [0.0, 0.0, 0.0]


def evaluate(
    model: torch.nn.Module,
    loader: Iterable[dict[str, Any]],
    *,
    names: list[str] | tuple[str, ...],
    device: str | torch.device = "cpu",
    half: bool = False,
    loss_fn: LossFn | None = None,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    save_dir: str | Path | None = None,
    plots: bool = False,
    coco: bool = False,
    save_json: bool = False,
    verbose: bool = True,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``loader`` with its task's evaluator (:meth:`Task.build_evaluator`).

    Args:
        model: a :class:`Model` or an exported one (its task: :func:`task_of`); eval forward (B, 3, H, W) float ->
            the task's output, ``return_raw=True`` -> (that, raw head maps). Run in eval mode under
            ``torch.inference_mode``; its training flag is restored afterwards.
        loader: yields the task's collated batches (``img`` (B, 3, H, W) uint8 and the labels), usually
            :meth:`Task.build_val_loader`'s.
        names: class names (``len(names)`` classes).
        device: where to run (``"cpu"``, ``"0"``, ``"cuda:1"``, a torch.device); the model is moved there.
        half: FP16 autocast on CUDA (the model's weights are not changed; ignored on CPU).
        loss_fn: the trainer's loss (:meth:`Task.build_loss`); adds the task's ``val/*`` loss columns, the mean of
            each batch's loss items.
        conf, iou, max_det: NMS settings, for tasks that use NMS.
        save_dir: where ``metrics.json`` (every figure), plots and ``predictions.json`` go.
        plots: with ``save_dir``: ``val_batch{0,1,2}_{labels,pred}.jpg`` and the evaluator's plots.
        coco: add the reference figures the task has (pycocotools: ``coco/AP50-95`` ...), computed against the
            labels of ``loader.dataset``.
        save_json: write ``predictions.json`` (the evaluator's rows) into ``save_dir``.
        verbose: progress bar, and the evaluator's table and the speeds printed at the end.
        progress: show the progress bar (default: ``verbose``); the trainer shows it without the table.

    Returns:
        The evaluator's metrics (the task's metric columns and ``fitness``), the ``val/*`` losses when a loss was
        given, the evaluator's summary (e.g. ``per_class``, ``coco/*``) and ``speed`` ({preprocess, inference,
        postprocess} ms per image).
    """
    if save_json and save_dir is None:
        raise ValueError("save_json=True needs a save_dir")
    device = device if isinstance(device, torch.device) else select_device(device)
    save_dir = Path(save_dir) if save_dir is not None else None
    task = task_of(model)
    settings = EvalSettings(names=names, conf=conf, iou=iou, max_det=max_det, coco=coco, save_json=save_json)
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.inference_mode():
            evaluator = task.build_evaluator(model, settings)
            tally = _Tally()
            plot_dir = save_dir if plots else None
            if plot_dir is not None:
                plot_dir.mkdir(parents=True, exist_ok=True)
            bar = tqdm(loader, desc="val", total=len(loader) if hasattr(loader, "__len__") else None,
                       disable=not (verbose if progress is None else progress), leave=False, dynamic_ncols=True)
            for i, batch in enumerate(bar):
                predictions = _step(model, task, evaluator, batch, device, half, loss_fn, tally)
                if plot_dir is not None and i < PLOTTED_BATCHES:
                    evaluator.plot_batch(batch, predictions, plot_dir, i)
                evaluator.update(batch, predictions)
            results = _results(task, evaluator, tally, getattr(loader, "dataset", None))
            if plot_dir is not None:
                evaluator.plot(plot_dir)
    finally:
        model.train(was_training)
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / "metrics.json").write_text(json.dumps(results, indent=2))
        if save_json:
            (save_dir / "predictions.json").write_text(json.dumps(evaluator.predictions_json()))
    if verbose:
        s = results["speed"]
        LOGGER.info(f"{evaluator.table(results, tally.images)}\n"
                    f"Speed: {s['preprocess']:.1f} ms preprocess, {s['inference']:.1f} ms inference, "
                    f"{s['postprocess']:.1f} ms {evaluator.postprocess_name} per image")
    return results


def _step(model: torch.nn.Module, task: Task, evaluator: Evaluator, batch: dict[str, Any], device: torch.device,
          half: bool, loss_fn: LossFn | None, tally: _Tally) -> Any:
    """Forward one batch and postprocess its output (timed), add its loss items (untimed) to the tally; returns
    the evaluator's predictions."""
    t0 = device_clock(device)
    img = batch["img"].to(device, non_blocking=True).float() / 255
    t1 = device_clock(device)
    amp = torch.autocast("cuda", dtype=torch.float16) if half and device.type == "cuda" else contextlib.nullcontext()
    with amp:
        output, raw = model(img, return_raw=True) if loss_fn is not None else (model(img), None)
    t2 = device_clock(device)
    predictions = evaluator.postprocess(output)
    t3 = device_clock(device)
    if loss_fn is not None:
        items = loss_fn(raw, task.targets(batch, device))[1].double()
        tally.loss_sum = items if tally.loss_sum is None else tally.loss_sum + items
    for k, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
        tally.seconds[k] += dt
    tally.batches += 1
    tally.images += len(img)
    return predictions


def _results(task: Task, evaluator: Evaluator, tally: _Tally, dataset: Any) -> dict[str, Any]:
    """The results dict: metrics (with fitness), mean losses, the evaluator's summary, speeds (ms per image)."""
    results: dict[str, Any] = evaluator.metrics()
    if tally.loss_sum is not None:
        results.update(zip(task.loss_columns("val"), (tally.loss_sum / tally.batches).tolist()))
    results.update(evaluator.summary(dataset))
    n = max(tally.images, 1)
    results["speed"] = {k: 1000 * s / n for k, s in zip(STEPS, tally.seconds)}
    return results
