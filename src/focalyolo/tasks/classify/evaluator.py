"""Classification's evaluator: top-1 / top-5 accuracy, the confusion matrix, per-class accuracy.

Top-k accuracy is the fraction of images whose true class is among the k most probable; the confusion matrix
counts (predicted top-1, true class) pairs. Both are exact counts over the loader, so there is no "fast" versus
"reference" figure as in detection.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...metrics.plots import plot_confusion_matrix
from ...utils.plotting import plot_images
from ..evaluator import EvalSettings, Evaluator
from .results import TOP_K

__all__ = ["ClassifyEvaluator", "format_table"]


class ClassifyEvaluator(Evaluator):
    """Counts over batches: top-1 / top-k hits per true class and the confusion matrix.

    The model's eval output is (B, nc) probabilities; batches carry ``img``, ``cls`` (B,) int64 and ``paths``.

    Args:
        settings: class names; with ``save_json`` each image's top five classes are kept.
    """

    def __init__(self, settings: EvalSettings) -> None:
        self.names = settings.names
        self.nc = len(self.names)
        self.keep = settings.save_json
        self.confusion = torch.zeros(self.nc * self.nc, dtype=torch.int64)  # [predicted, true], flattened
        self.top5_hits = torch.zeros(self.nc, dtype=torch.int64)
        self.predictions: list[dict[str, Any]] = []

    def postprocess(self, output: torch.Tensor) -> torch.Tensor:
        """(B, nc) probabilities -> (B, k) top-k classes, most probable first, on the host."""
        return output.float().topk(min(TOP_K, self.nc), 1).indices.cpu()

    def update(self, batch: Mapping[str, Any], predictions: torch.Tensor) -> None:
        """Count one batch's (B, k) top-k classes against its true classes."""
        true = batch["cls"].cpu()
        self.confusion += torch.bincount(predictions[:, 0] * self.nc + true, minlength=self.nc * self.nc)
        hit = (predictions == true[:, None]).any(1)
        self.top5_hits += torch.bincount(true[hit], minlength=self.nc)
        if self.keep:
            self.predictions += [{"path": p, "top5": t.tolist()} for p, t in zip(batch["paths"], predictions)]

    @property
    def matrix(self) -> np.ndarray:
        """(nc, nc) int64 counts, [predicted, true]."""
        return self.confusion.view(self.nc, self.nc).numpy().copy()

    def metrics(self) -> dict[str, float]:
        """``metrics/accuracy_top1``, ``metrics/accuracy_top5`` and ``fitness`` (top-1)."""
        matrix = self.matrix
        n = max(int(matrix.sum()), 1)
        top1 = float(np.trace(matrix)) / n
        return {"metrics/accuracy_top1": top1, "metrics/accuracy_top5": float(self.top5_hits.sum()) / n,
                "fitness": top1}

    def summary(self, dataset: Any) -> dict[str, Any]:
        """``confusion_matrix`` ([predicted][true] counts) and ``per_class`` (see :meth:`per_class`)."""
        return {"confusion_matrix": self.matrix.tolist(), "per_class": self.per_class()}

    def per_class(self) -> list[dict[str, Any]]:
        """One row per class with images: ``{class, images, top1, top5}`` (accuracy over that class's images)."""
        matrix, rows = self.matrix, []
        for c, name in enumerate(self.names):
            count = int(matrix[:, c].sum())
            if count:
                rows.append({"class": name, "images": count, "top1": float(matrix[c, c]) / count,
                             "top5": float(self.top5_hits[c]) / count})
        return rows

    def table(self, results: Mapping[str, Any], n_images: int) -> str:
        """See :func:`format_table`."""
        return format_table(results, n_images)

    def plot_batch(self, batch: Mapping[str, Any], predictions: torch.Tensor, save_dir: Path, index: int) -> None:
        """``val_batch{index}_labels.jpg`` (true classes) and ``val_batch{index}_pred.jpg`` (predicted top-1)."""
        names = self.names

        def name(c: int) -> str:
            return names[c] if c < len(names) else str(c)

        empty = torch.zeros(0, 6)
        plot_images(batch["img"], empty, batch["paths"], names, save_dir / f"val_batch{index}_labels.jpg",
                    titles=[name(int(c)) for c in batch["cls"]])
        plot_images(batch["img"], empty, batch["paths"], names, save_dir / f"val_batch{index}_pred.jpg",
                    titles=[name(int(t[0])) for t in predictions])

    def plot(self, save_dir: Path) -> None:
        """``confusion_matrix.png`` and ``confusion_matrix_normalized.png`` (columns: true classes)."""
        matrix = self.matrix.astype(np.float64)
        plot_confusion_matrix(matrix, self.names, save_dir / "confusion_matrix.png", False, background=False)
        plot_confusion_matrix(matrix / np.maximum(matrix.sum(0, keepdims=True), 1e-9), self.names,
                              save_dir / "confusion_matrix_normalized.png", True, background=False)

    def predictions_json(self) -> list[dict[str, Any]]:
        """Per image ``{path, top5}`` (the five most probable classes, most probable first)."""
        return self.predictions


def format_table(results: Mapping[str, Any], n_images: int) -> str:
    """The per-class accuracy table (``all`` first), as ``val`` prints it."""
    lines = [f"{'class':>20}{'images':>10}{'top1_acc':>10}{'top5_acc':>10}",
             f"{'all':>20}{n_images:>10}{results['metrics/accuracy_top1']:>10.3f}"
             f"{results['metrics/accuracy_top5']:>10.3f}"]
    lines += [f"{row['class'][:20]:>20}{row['images']:>10}{row['top1']:>10.3f}{row['top5']:>10.3f}"
              for row in results["per_class"]]
    return "\n".join(lines)
