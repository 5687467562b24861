"""Evaluating a classifier: top-1 / top-5 accuracy, the confusion matrix, per-class accuracy and the loss.

Top-k accuracy is the fraction of images whose true class is among the k most probable; the confusion matrix
counts (predicted top-1, true class) pairs. Both are exact counts over the loader, so there is no "fast" versus
"reference" figure as in detection.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ...data import build_dataloader
from ...data.classify import ClassificationDataset
from ...metrics.plots import plot_confusion_matrix
from ...utils.plotting import plot_images
from ...utils.torch_utils import device_clock, select_device
from ..base import LossFn
from .results import TOP_K

__all__ = ["build_val_loader", "format_table", "validate"]

LOGGER = logging.getLogger("focalyolo")
PLOTTED_BATCHES = 3


def build_val_loader(model: torch.nn.Module, samples: Sequence[tuple[Path, int]], imgsz: int, batch: int,
                     workers: int, nc: int, prefix: str = "val: ") -> torch.utils.data.DataLoader:
    """Resized, centre-cropped ``imgsz`` x ``imgsz`` batches of ``samples`` (an exported file with a fixed input size,
    ``model.input_shape``, gets that size)."""
    fixed = getattr(model, "input_shape", (None,) * 4)[2:]
    if all(fixed) and max(fixed) != imgsz:
        LOGGER.info(f"{prefix}the model takes {fixed[0]}x{fixed[1]} inputs: evaluating at imgsz {max(fixed)}")
        imgsz = max(fixed)
    return build_dataloader(ClassificationDataset(samples, imgsz, prefix=prefix), batch, workers, shuffle=False)


class _Scores:
    """Counts accumulated over batches: top-1 / top-k hits per true class, the confusion matrix, the loss sum."""

    def __init__(self, nc: int):
        self.nc = nc
        self.confusion = torch.zeros(nc * nc, dtype=torch.int64)  # [predicted, true], flattened
        self.top5_hits = torch.zeros(nc, dtype=torch.int64)
        self.loss_sum = 0.0
        self.batches = 0
        self.seconds = [0.0, 0.0, 0.0]

    def add(self, probs: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        """Count one batch: ``probs`` (B, nc), ``true`` (B,) int64; returns the (B, k) top-k classes."""
        top = probs.float().topk(min(TOP_K, self.nc), 1).indices.cpu()
        true = true.cpu()
        self.confusion += torch.bincount(top[:, 0] * self.nc + true, minlength=self.nc * self.nc)
        hit = (top == true[:, None]).any(1)
        self.top5_hits += torch.bincount(true[hit], minlength=self.nc)
        return top

    @property
    def matrix(self) -> np.ndarray:
        """(nc, nc) int64 counts, [predicted, true]."""
        return self.confusion.view(self.nc, self.nc).numpy().copy()

    def results(self) -> dict[str, Any]:
        matrix = self.matrix
        images = matrix.sum(0)
        n = max(int(images.sum()), 1)
        top1 = float(np.trace(matrix)) / n
        return {"metrics/accuracy_top1": top1, "metrics/accuracy_top5": float(self.top5_hits.sum()) / n,
                "fitness": top1}

    def per_class(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """One row per class with images: ``{class, images, top1, top5}`` (accuracy over that class's images)."""
        matrix, rows = self.matrix, []
        for c, name in enumerate(names):
            count = int(matrix[:, c].sum())
            if count:
                rows.append({"class": name, "images": count, "top1": float(matrix[c, c]) / count,
                             "top5": float(self.top5_hits[c]) / count})
        return rows


def validate(
    model: torch.nn.Module,
    loader: Iterable[dict[str, Any]],
    *,
    names: Sequence[str],
    device: str | torch.device = "cpu",
    half: bool = False,
    loss_fn: LossFn | None = None,
    save_dir: str | Path | None = None,
    plots: bool = False,
    save_json: bool = False,
    verbose: bool = True,
    progress: bool | None = None,
    **detection_options: Any,
) -> dict[str, Any]:
    """Evaluate a classifier on a validation loader.

    Args:
        model: a :class:`Model` with a Classify head (or an exported one): (B, 3, H, W) float ->
            (B, nc) probabilities; ``return_raw=True`` -> (probabilities, logits). Run in eval mode under
            ``torch.inference_mode``; its training flag is restored afterwards.
        loader: yields collated :class:`ClassificationDataset` batches (``img`` (B, 3, H, W) uint8, ``cls`` (B,)).
        names: class names (``len(names)`` classes).
        device: where to run; the model is moved there.
        half: FP16 autocast on CUDA (ignored on CPU).
        loss_fn: the trainer's :class:`ClassificationLoss`; adds ``val/loss``.
        save_dir: where ``metrics.json`` (every figure and the confusion matrix) and the plots go.
        plots: with ``save_dir``: ``confusion_matrix.png``, ``confusion_matrix_normalized.png`` and
            ``val_batch{0,1,2}_{labels,pred}.jpg``.
        save_json: write ``predictions.json`` (each image's top five) into ``save_dir``.
        verbose: progress bar, and the per-class table and speeds printed at the end.
        progress: show the progress bar (default: ``verbose``).
        detection_options: the NMS and pycocotools settings the ``val`` job passes every task (``conf``, ``iou``,
            ``max_det``, ``coco``); a classifier has no use for them.

    Returns:
        ``metrics/accuracy_top1``, ``metrics/accuracy_top5``, ``fitness`` (top-1), ``val/loss`` when asked,
        ``confusion_matrix`` ([predicted][true] counts), ``per_class`` and ``speed`` ({preprocess, inference,
        postprocess} ms per image).
    """
    if save_json and save_dir is None:
        raise ValueError("save_json=True needs a save_dir")
    device = device if isinstance(device, torch.device) else select_device(device)
    save_dir = Path(save_dir) if save_dir is not None else None
    scores = _Scores(len(names))
    predictions: list[dict[str, Any]] = []
    was_training = model.training
    model.to(device).eval()
    show = verbose if progress is None else progress
    try:
        with torch.inference_mode():
            bar = tqdm(loader, desc="val", total=len(loader) if hasattr(loader, "__len__") else None,
                       disable=not show, leave=False, dynamic_ncols=True)
            for i, batch in enumerate(bar):
                top = _step(model, batch, device, half, loss_fn, scores)
                if save_json:
                    predictions += [{"path": p, "top5": t.tolist()} for p, t in zip(batch["paths"], top)]
                if plots and save_dir is not None and i < PLOTTED_BATCHES:
                    _plot_batch(batch, top, names, save_dir, i)
    finally:
        model.train(was_training)
    results: dict[str, Any] = scores.results()
    if loss_fn is not None:
        results["val/loss"] = scores.loss_sum / max(scores.batches, 1)
    n = max(int(scores.matrix.sum()), 1)
    results["confusion_matrix"] = scores.matrix.tolist()
    results["per_class"] = scores.per_class(names)
    results["speed"] = {k: 1000 * s / n for k, s in zip(("preprocess", "inference", "postprocess"), scores.seconds)}
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / "metrics.json").write_text(json.dumps(results, indent=2))
        if save_json:
            (save_dir / "predictions.json").write_text(json.dumps(predictions))
        if plots:
            matrix = scores.matrix.astype(np.float64)
            plot_confusion_matrix(matrix, names, save_dir / "confusion_matrix.png", False, background=False)
            plot_confusion_matrix(matrix / np.maximum(matrix.sum(0, keepdims=True), 1e-9), names,
                                  save_dir / "confusion_matrix_normalized.png", True, background=False)
    if verbose:
        LOGGER.info(format_table(results, n))
    return results


def _step(model: torch.nn.Module, batch: dict[str, Any], device: torch.device, half: bool, loss_fn: LossFn | None,
          scores: _Scores) -> torch.Tensor:
    """Forward one batch, count it (and its loss, untimed); returns its (B, k) top-k classes."""
    t0 = device_clock(device)
    img = batch["img"].to(device, non_blocking=True).float() / 255
    true = batch["cls"].to(device)
    t1 = device_clock(device)
    amp = torch.autocast("cuda", dtype=torch.float16) if half and device.type == "cuda" else contextlib.nullcontext()
    with amp:
        out = model(img, return_raw=True) if loss_fn is not None else model(img)
    probs = out[0] if loss_fn is not None else out
    t2 = device_clock(device)
    top = scores.add(probs, true)
    t3 = device_clock(device)
    if loss_fn is not None:
        scores.loss_sum += float(loss_fn(out[1], true)[1])
    scores.batches += 1
    for k, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
        scores.seconds[k] += dt
    return top


def _plot_batch(batch: dict[str, Any], top: torch.Tensor, names: Sequence[str], save_dir: Path, i: int) -> None:
    """``val_batch{i}_labels.jpg`` (true classes) and ``val_batch{i}_pred.jpg`` (predicted top-1)."""
    def name(c: int) -> str:
        return names[c] if c < len(names) else str(c)

    empty = torch.zeros(0, 6)
    plot_images(batch["img"], empty, batch["paths"], names, save_dir / f"val_batch{i}_labels.jpg",
                titles=[name(int(c)) for c in batch["cls"]])
    plot_images(batch["img"], empty, batch["paths"], names, save_dir / f"val_batch{i}_pred.jpg",
                titles=[name(int(t[0])) for t in top])


def format_table(results: dict[str, Any], n_images: int) -> str:
    """The per-class accuracy table (``all`` first) and the speeds, as ``val`` prints them."""
    lines = [f"{'class':>20}{'images':>10}{'top1_acc':>10}{'top5_acc':>10}",
             f"{'all':>20}{n_images:>10}{results['metrics/accuracy_top1']:>10.3f}"
             f"{results['metrics/accuracy_top5']:>10.3f}"]
    lines += [f"{row['class'][:20]:>20}{row['images']:>10}{row['top1']:>10.3f}{row['top5']:>10.3f}"
              for row in results["per_class"]]
    s = results["speed"]
    lines.append(f"Speed: {s['preprocess']:.1f} ms preprocess, {s['inference']:.1f} ms inference, "
                 f"{s['postprocess']:.1f} ms postprocess per image")
    return "\n".join(lines)
