"""``benchmarks/class_ablation.py``: the paired statistics of a compare folder for some of its classes, or with
another baseline, equal those of :func:`focalyolo.metrics.paired.compare_paired` on the values it should read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from focalyolo.analysis.table import write_csv
from focalyolo.metrics.paired import compare_paired
from repo_scripts import load_script

CLASSES = ("red-cue", "blue-cue", "red-marker")
# (model, seed) -> per-class mAP50 in CLASSES' order; the headline AP50 is set apart from them on purpose
AP50 = {("plain", 0): (0.50, 0.54, 0.99), ("plain", 1): (0.52, 0.50, 0.98), ("plain", 2): (0.55, 0.51, 0.97),
        ("focal", 0): (0.61, 0.65, 0.90), ("focal", 1): (0.58, 0.66, 0.99), ("focal", 2): (0.70, 0.60, 0.95)}


def _folder(root: Path) -> Path:
    for (model, seed), values in AP50.items():
        run = root / f"{model}-seed{seed}"
        run.mkdir(parents=True)
        headline = {"coco/AP50": 0.1 + seed / 100 + (model == "focal") / 50, "coco/AP50-95": 0.05}
        (run / "compare.json").write_text(json.dumps({"model": model, "seed": seed, "metrics": headline}))
        per_class = [{"name": name, "mAP50": v, "mAP50-95": v / 2} for name, v in zip(CLASSES, values)]
        (run / "metrics.json").write_text(json.dumps({"per_class": per_class}))
    write_csv([{"model": "plain"}, {"model": "focal"}], root / "ablation.csv")
    return root


def _cue_mean(model: str) -> dict[int, float]:
    return {seed: (v[0] + v[1]) / 2 for (m, seed), v in AP50.items() if m == model}


def test_class_subset_rows_equal_scipy_backed_paired_statistics(tmp_path: Path, capsys) -> None:
    script = load_script("benchmarks/class_ablation.py")
    folder = _folder(tmp_path / "study")
    runs = script.read_runs(folder, ["red-cue", "blue-cue"])
    by_key = {(r["model"], r["seed"]): r["metrics"] for r in runs}
    assert by_key[("focal", 2)] == pytest.approx({"mAP50": 0.65, "mAP50-95": 0.325})
    assert script.main([str(folder), "--classes", "red-cue,blue-cue"]) == 0
    out = capsys.readouterr().out
    expected = compare_paired(_cue_mean("focal"), _cue_mean("plain"), seed=0)
    row = next(line for line in out.splitlines() if line.split()[:3] == ["focal", "plain", "mAP50"])
    assert f"{100 * expected.mean:+.2f}" in row
    assert f"[{100 * expected.t_low:+.2f}, {100 * expected.t_high:+.2f}]" in row
    assert "focal  mAP50 63.3 ± 1.5  per seed 63.00 / 62.00 / 65.00" in out


def test_headline_with_another_baseline_and_one_line_errors(tmp_path: Path, capsys) -> None:
    script = load_script("benchmarks/class_ablation.py")
    folder = _folder(tmp_path / "study")
    assert script.main([str(folder), "--baseline", "focal"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.split()[:3] == ["plain", "focal", "mAP50"])
    assert "-2.00" in row  # the headline AP50 of plain is 2 points below focal's on every seed
    with pytest.raises(SystemExit, match="no class blue-marker"):
        script.main([str(folder), "--classes", "red-cue,blue-marker"])
    with pytest.raises(SystemExit, match="--baseline attn: not a model"):
        script.main([str(folder), "--baseline", "attn"])
