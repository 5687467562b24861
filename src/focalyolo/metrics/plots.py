"""Metric figures: PR / F1 / P / R curves and the confusion matrix, as PNG files.

Figures are made with matplotlib's object API on the Agg canvas (no pyplot state, no display) and
matplotlib's bundled DejaVu Sans font.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["MAX_ANNOTATED_CLASSES", "MAX_LEGEND_CLASSES", "plot_confusion_matrix", "plot_metric_curve", "plot_pr_curve"]

MAX_LEGEND_CLASSES = 20  # per-class lines get legend entries only up to this many classes
MAX_ANNOTATED_CLASSES = 30  # confusion-matrix cells and tick labels are written only up to this many classes


def _bundled_font(plot: Callable[..., Path]) -> Callable[..., Path]:
    """Run a plotting function with matplotlib's bundled DejaVu Sans as the only font family."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs) -> Path:
        with rc_context({"font.family": "DejaVu Sans"}):
            return plot(*args, **kwargs)

    return wrapper


def _new_axes(size: tuple[float, float] = (9, 6)) -> tuple[Figure, Axes]:
    """A fresh Agg-backed figure of ``size`` inches and its single axes."""
    fig = Figure(figsize=size, dpi=100, layout="tight")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _curves(ax: Axes, x: np.ndarray, ys: np.ndarray, labels: Sequence[str], mean_label: str) -> None:
    """Draw one thin line per class (legend entries if few) and the bold class mean."""
    show = len(ys) <= MAX_LEGEND_CLASSES
    for y, label in zip(ys, labels):
        ax.plot(x, y, linewidth=1, label=label if show else None, color=None if show else "grey")
    if len(ys):
        ax.plot(x, ys.mean(0), linewidth=3, color="blue", label=mean_label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(bbox_to_anchor=(1.04, 1), loc="upper left", fontsize="small")


@_bundled_font
def plot_pr_curve(
    recall: np.ndarray, precision: np.ndarray, ap50: np.ndarray, names: Sequence[str], save_path: str | Path
) -> Path:
    """Precision-recall curves at IoU 0.5.

    Args:
        recall: (P,) recall axis.
        precision: (C, P) precision per class.
        ap50: (C,) AP@0.5 per class (legend).
        names: C class names.
        save_path: output PNG.
    """
    fig, ax = _new_axes()
    labels = [f"{n} {a:.3f}" for n, a in zip(names, ap50)]
    _curves(ax, recall, precision, labels, f"all classes {ap50.mean() if len(ap50) else 0.0:.3f} mAP@0.5")
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_title("Precision-Recall Curve")
    fig.savefig(save_path)
    return Path(save_path)


@_bundled_font
def plot_metric_curve(
    conf: np.ndarray, values: np.ndarray, names: Sequence[str], ylabel: str, save_path: str | Path
) -> Path:
    """A metric (precision, recall or F1) against the confidence threshold.

    Args:
        conf: (P,) confidence axis.
        values: (C, P) metric per class.
        names: C class names.
        ylabel: metric name.
        save_path: output PNG.
    """
    fig, ax = _new_axes()
    mean = values.mean(0) if len(values) else np.zeros_like(conf)
    best = int(mean.argmax())
    _curves(ax, conf, values, names, f"all classes {mean[best]:.2f} at {conf[best]:.3f}")
    ax.set_xlabel("Confidence")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel}-Confidence Curve")
    fig.savefig(save_path)
    return Path(save_path)


@_bundled_font
def plot_confusion_matrix(matrix: np.ndarray, names: Sequence[str], save_path: str | Path, normalized: bool,
                          background: bool = True) -> Path:
    """Heat map of a (nc + 1, nc + 1) [predicted, true] matrix whose last index is background (a classifier's:
    (nc, nc), ``background=False``).

    Args:
        matrix: counts, or column-normalised fractions when ``normalized``.
        names: nc class names.
        save_path: output PNG.
        normalized: format cells as fractions instead of counts.
        background: the matrix has the detection background row and column.
    """
    n = matrix.shape[0]
    fig, ax = _new_axes((12, 9))
    image = ax.imshow(np.where(matrix > 0, matrix, np.nan), cmap="Blues", vmin=0.0)
    fig.colorbar(image, ax=ax)
    if n <= MAX_ANNOTATED_CLASSES:
        labels = [*names, "background"] if background else list(names)
        ax.set_xticks(range(n), labels, rotation=90, fontsize="small")
        ax.set_yticks(range(n), labels, fontsize="small")
        fmt = "{:.2f}" if normalized else "{:.0f}"
        threshold = np.nanmax(matrix) / 2 if matrix.any() else 0
        for (i, j), v in np.ndenumerate(matrix):
            if v > 0:
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                        color="white" if v > threshold else "black")
    ax.set_xlabel("True")
    ax.set_ylabel("Predicted")
    ax.set_title("Confusion Matrix" + (" Normalized" if normalized else ""))
    fig.savefig(save_path)
    return Path(save_path)
