"""The paired statistics of a finished ``focalyolo compare`` folder, for some of its classes or another baseline.

``compare``'s table averages every class. On a set where only some classes are the question (the squares of
``synthetic-context-marked``, whose discs are easy), this reads those classes' AP from each run's ``metrics.json``
(``per_class``) and applies the same paired statistics (:func:`focalyolo.analysis.paired_report.paired_rows`):

    python benchmarks/class_ablation.py runs/compare/study-synthetic-context-marked --classes red-cue,blue-cue
    python benchmarks/class_ablation.py runs/compare/study-synthetic-context --baseline gelan-t-attn

Without ``--classes`` the metrics are the headline pycocotools AP50 and AP50-95 of ``compare.json``; with it, the
mean over the named classes of the evaluator's per-class mAP50 and mAP50-95. Models are taken in the order of the
folder's ``ablation.csv``; the baseline defaults to the first. Prints each model's mean ± sd and per-seed values
(in %), then one paired row per (model, metric).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from focalyolo.analysis.compare import RESULT_FILE
from focalyolo.analysis.paired_report import paired_columns, paired_rows, per_seed
from focalyolo.analysis.table import read_csv, render_text

HEADLINE = {"mAP50": "coco/AP50", "mAP50-95": "coco/AP50-95"}
PER_CLASS = {"mAP50": "mAP50", "mAP50-95": "mAP50-95"}


def read_runs(folder: Path, classes: list[str] | None) -> list[dict[str, Any]]:
    """Every finished run of ``folder`` as ``{"model", "seed", "metrics"}``: the headline metrics, or with
    ``classes`` the mean of those classes' per-class metrics (keys as in :data:`PER_CLASS`)."""
    runs = []
    for record in sorted(folder.glob(f"*/{RESULT_FILE}")):
        result = json.loads(record.read_text())
        metrics = {name: result["metrics"][key] for name, key in HEADLINE.items()}
        if classes:
            per_class = {c["name"]: c for c in json.loads((record.parent / "metrics.json").read_text())["per_class"]}
            missing = [name for name in classes if name not in per_class]
            if missing:
                raise SystemExit(f"{record.parent / 'metrics.json'}: no class {', '.join(missing)} "
                                 f"(it has {', '.join(per_class)})")
            metrics = {name: float(np.mean([per_class[c][key] for c in classes])) for name, key in PER_CLASS.items()}
        runs.append({"model": result["model"], "seed": int(result["seed"]), "metrics": metrics})
    return runs


def summary_lines(runs: list[dict[str, Any]], models: list[str], metric: str) -> list[str]:
    """Per model: ``metric``'s mean ± sample sd over seeds (the mean alone for one seed) and the per-seed values,
    in %."""
    lines = []
    for model in models:
        values = per_seed(runs, model, metric)
        points = 100 * np.array([values[s] for s in sorted(values)])
        spread = f" ± {points.std(ddof=1):.1f}" if len(points) > 1 else ""  # no sd from one seed
        lines.append(f"{model}  {metric} {points.mean():.1f}{spread}  per seed "
                     + " / ".join(f"{v:.2f}" for v in points))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a compare folder (runs/compare/<name>)")
    parser.add_argument("--classes", help="class names (comma-separated) whose mean AP replaces the headline")
    parser.add_argument("--baseline", help="the model every other is compared with (default: the first)")
    args = parser.parse_args(argv)
    classes = args.classes.split(",") if args.classes else None
    runs = read_runs(args.folder, classes)
    models = [row["model"] for row in read_csv(args.folder / "ablation.csv")]
    baseline = args.baseline or models[0]
    if baseline not in models:
        raise SystemExit(f"--baseline {baseline}: not a model of {args.folder} ({', '.join(models)})")
    runs = sorted((r for r in runs if r["model"] in models), key=lambda r: (models.index(r["model"]), r["seed"]))
    print(f"{args.folder}: {'classes ' + ', '.join(classes) if classes else 'all classes (pycocotools)'}")
    for metric in PER_CLASS:
        print("\n".join(summary_lines(runs, models, metric)))
    print(render_text(paired_rows(runs, {name: name for name in PER_CLASS}, baseline), paired_columns()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
