"""What the seeds of an ablation show: each model against the baseline, metric by metric, as a table and a figure.

``paired_rows`` turns the recorded runs (``compare.json`` results: model, seed, metrics) into one row per
(model, metric) with the paired difference to the baseline in points (``100 *`` the metric), its 95 % t and
bootstrap intervals, the p-value, the verdict and the seeds a gap of that size needs
(:mod:`focalyolo.metrics.paired`). ``plot_ablation`` draws each model's per-seed values as dots and its mean with
the 95 % t-interval of the mean, one panel per metric (``ablation.png``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..metrics.paired import MAX_SEEDS, compare_paired, t_interval
from .table import Column

__all__ = ["BOOTSTRAP_SEED", "model_label", "paired_columns", "paired_rows", "per_seed", "plot_ablation"]

BOOTSTRAP_SEED = 0
"""The bootstrap's generator seed: the same runs always give the same interval."""


def model_label(model: str) -> str:
    """A model's name in the tables: the config name, or a YAML's file name without ``.yaml``."""
    return Path(str(model)).name.removesuffix(".yaml")


def per_seed(results: list[dict[str, Any]], model: str, key: str) -> dict[int, float]:
    """Seed -> the value of ``key`` in ``model``'s recorded runs (missing keys are NaN)."""
    return {int(r["seed"]): float(r["metrics"].get(key, math.nan)) for r in results if r["model"] == model}


def _points(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:+.2f}"


def _interval(low: float, high: float) -> str:
    return "–" if math.isnan(low) else f"[{100 * low:+.2f}, {100 * high:+.2f}]"


def paired_rows(results: list[dict[str, Any]], metrics: dict[str, str], baseline: str) -> list[dict[str, Any]]:
    """One row per (model other than ``baseline``, metric): the paired comparison's figures (raw, in the metric's
    unit) and their texts (in points). ``metrics``: table name -> key in the recorded metrics. A metric no seed
    has for both models (COCO's -1: no objects of that size) has no row."""
    rows = []
    for model in dict.fromkeys(r["model"] for r in results):
        if model == baseline:
            continue
        for name, key in metrics.items():
            c = compare_paired(per_seed(results, model, key), per_seed(results, baseline, key),
                               seed=BOOTSTRAP_SEED)
            if not c.seeds:
                continue
            needed = c.seeds_needed
            rows.append({
                "model": model_label(model), "baseline": model_label(baseline), "metric": name, "n": len(c.seeds),
                "diff_mean": c.mean, "diff_sd": c.sd, "t_low": c.t_low, "t_high": c.t_high, "boot_low": c.boot_low,
                "boot_high": c.boot_high, "p_value": c.p_value, "verdict": c.verdict, "seeds_needed": needed,
                "diff_text": _points(c.mean), "t_text": _interval(c.t_low, c.t_high),
                "boot_text": _interval(c.boot_low, c.boot_high),
                "needed_text": str(needed) if needed is not None else
                ("–" if len(c.seeds) < 2 or c.mean == 0 else f"> {MAX_SEEDS}"),
            })
    return rows


def paired_columns() -> list[Column]:
    """The columns of the paired table (differences in points)."""
    return [Column("model", "model"), Column("baseline", "vs"), Column("metric", "metric"), Column("n", "seeds"),
            Column("diff_text", "Δ (points)"), Column("t_text", "95% CI (t)"),
            Column("boot_text", "95% CI (bootstrap)"), Column("p_value", "p", ".3f"), Column("verdict", "verdict"),
            Column("needed_text", "seeds for 80% power")]


def plot_ablation(results: list[dict[str, Any]], metrics: dict[str, str], path: Path) -> Path:
    """``path`` (PNG): one panel per metric that has a value (a set without large objects has no APl); per model its
    seeds' values (dots, in %) and their mean with the 95 % t-interval of the mean (bar). Matplotlib's object API on
    the Agg canvas."""
    models = list(dict.fromkeys(r["model"] for r in results))

    def seed_values(model: str, key: str) -> np.ndarray:
        return np.array([v for v in per_seed(results, model, key).values() if math.isfinite(v) and v >= 0])

    metrics = {name: key for name, key in metrics.items() if any(len(seed_values(m, key)) for m in models)} or metrics
    with rc_context({"font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(3.2 * len(metrics), 3.6), dpi=100, layout="tight")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        for ax, (name, key) in zip(axes, metrics.items()):
            for x, model in enumerate(models):
                values = seed_values(model, key)
                if not len(values):
                    continue
                offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
                ax.scatter(x + offsets, 100 * values, s=14, color="tab:blue", alpha=0.7, zorder=3)
                mean = float(values.mean())
                low, high = t_interval(values)
                if not math.isnan(low):
                    ax.errorbar(x + 0.3, 100 * mean, yerr=[[100 * (mean - low)], [100 * (high - mean)]], fmt="o",
                                color="black", capsize=4, zorder=4)
                else:
                    ax.plot(x + 0.3, 100 * mean, "o", color="black", zorder=4)
            if not ax.collections and not ax.lines:
                ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
            ax.set_xlim(-0.5, len(models) - 0.2)
            ax.set_xticks(range(len(models)), [model_label(m) for m in models], rotation=30, ha="right")
            ax.set_title(name)
            ax.set_ylabel("%")
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle("per-seed values (dots), mean and 95% t-interval (bar)")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return path
