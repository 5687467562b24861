"""The paired statistics of ``focalyolo compare`` against scipy and an independent power computation, the verdict
words, the paired table's rows and the figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from focalyolo.analysis.paired_report import paired_columns, paired_rows, plot_ablation
from focalyolo.analysis.table import render_markdown
from focalyolo.metrics.paired import (
    bootstrap_interval,
    compare_paired,
    paired_differences,
    paired_t_test,
    seeds_needed,
    t_interval,
    t_test_power,
    verdict,
)

CANDIDATE = {0: 0.412, 1: 0.397, 2: 0.431, 3: 0.405, 4: 0.420}
BASELINE = {0: 0.400, 1: 0.401, 2: 0.400, 3: 0.387, 4: 0.413}
DIFFS = np.array([CANDIDATE[s] - BASELINE[s] for s in range(5)])


def test_t_interval_and_test_equal_scipys():
    low, high = t_interval(DIFFS)
    ref = stats.t.interval(0.95, len(DIFFS) - 1, loc=DIFFS.mean(), scale=stats.sem(DIFFS))
    assert low == pytest.approx(ref[0], abs=1e-9) and high == pytest.approx(ref[1], abs=1e-9)
    t, p = paired_t_test(DIFFS)
    test = stats.ttest_rel(list(CANDIDATE.values()), list(BASELINE.values()))
    assert t == pytest.approx(test.statistic, abs=1e-9) and p == pytest.approx(test.pvalue, abs=1e-9)


def test_bootstrap_interval_equals_scipys_percentile_bootstrap():
    spread = np.random.default_rng(1).normal(0.01, 0.02, 12)  # many distinct means: interpolation matters
    for diffs, seed, resamples in ((DIFFS, 0, 9999), (DIFFS, 7, 9999), (spread, 3, 999)):
        ref = stats.bootstrap((diffs,), np.mean, n_resamples=resamples, confidence_level=0.95, method="percentile",
                              rng=np.random.default_rng(seed)).confidence_interval
        low, high = bootstrap_interval(diffs, resamples=resamples, seed=seed)
        assert low == pytest.approx(ref.low, abs=1e-9) and high == pytest.approx(ref.high, abs=1e-9)


def _power_by_integration(effect: float, n: int, alpha: float = 0.05) -> float:
    """P(|Z + effect * sqrt(n)| > c * sqrt(V / df)), Z standard normal, V chi-square(df): the noncentral t's
    definition integrated over V, without scipy's noncentral t."""
    df, crit, nc = n - 1, stats.t.ppf(1 - alpha / 2, n - 1), effect * math.sqrt(n)

    def reject(v: float) -> float:
        edge = crit * math.sqrt(v / df)
        return (stats.norm.sf(edge - nc) + stats.norm.cdf(-edge - nc)) * stats.chi2.pdf(v, df)

    return integrate.quad(reject, 0, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)[0]


def test_power_and_seeds_needed_match_an_independent_formula():
    for effect, n in ((0.5, 5), (0.9855, 10), (1.3, 4), (0.2, 40)):
        assert t_test_power(effect, n) == pytest.approx(_power_by_integration(effect, n), abs=1e-9)
    effect = DIFFS.mean() / DIFFS.std(ddof=1)
    needed = seeds_needed(DIFFS)
    assert _power_by_integration(effect, needed) >= 0.8 > _power_by_integration(effect, needed - 1)
    assert seeds_needed(np.array([0.01, 0.01, 0.01])) == 2  # no spread: two seeds separate it
    assert seeds_needed(np.array([0.01, -0.01])) is None  # no gap
    assert seeds_needed(np.array([1e-6, -0.01, 0.01])) is None  # more than MAX_SEEDS


def test_verdict_words_on_constructed_cases():
    assert verdict(0.001, 0.02, 5) == "ahead"
    assert verdict(-0.02, -0.001, 5) == "behind"
    assert verdict(-0.01, 0.02, 5) == "not separable with 5 seeds"
    assert verdict(math.nan, math.nan, 1) == "not separable with 1 seed"
    ahead = compare_paired({s: 0.5 + 0.01 * s for s in range(5)}, {s: 0.4 + 0.01 * s + 0.001 * (s % 2)
                                                                       for s in range(5)})
    assert ahead.verdict == "ahead" and ahead.t_low > 0 and ahead.seeds_needed == 2
    behind = compare_paired({s: 0.3 for s in range(5)}, {s: 0.4 + 0.005 * s for s in range(5)})
    assert behind.verdict == "behind" and behind.t_high < 0
    noisy = compare_paired(CANDIDATE, BASELINE)
    assert noisy.verdict == "not separable with 5 seeds" and noisy.seeds_needed > 5


def test_pairs_are_matched_by_seed_and_invalid_values_dropped():
    seeds, diffs = paired_differences({0: 0.5, 1: 0.6, 2: -1.0, 3: math.nan, 5: 0.2}, {0: 0.4, 1: 0.4, 2: 0.3,
                                                                                    3: 0.3, 4: 0.1})
    assert seeds == [0, 1] and diffs == pytest.approx([0.1, 0.2])


def _results() -> list[dict]:
    runs = []
    for model, values in (("gelan-t", BASELINE), ("gelan-t-focal.yaml", CANDIDATE)):
        for seed, value in values.items():
            runs.append({"model": model, "seed": seed, "metrics": {"coco/AP50": value + 0.1, "coco/AP50-95": value,
                                                                   "coco/APl": -1.0}})
    return runs


def test_paired_rows_and_markdown():
    metrics = {"mAP50": "coco/AP50", "mAP50-95": "coco/AP50-95", "APl": "coco/APl"}
    rows = paired_rows(_results(), metrics, "gelan-t")
    assert [(r["model"], r["baseline"], r["metric"]) for r in rows] == [
        ("gelan-t-focal", "gelan-t", "mAP50"), ("gelan-t-focal", "gelan-t", "mAP50-95")]  # APl: no objects
    row = rows[1]
    low, high = t_interval(DIFFS)
    assert row["diff_mean"] == pytest.approx(DIFFS.mean(), abs=1e-12) and row["t_low"] == pytest.approx(low)
    markdown = render_markdown(rows, paired_columns())
    assert markdown.splitlines()[0] == ("| model | vs | metric | seeds | Δ (points) | 95% CI (t) | 95% CI (bootstrap) "
                                        "| p | verdict | seeds for 80% power |")
    line = (f"| gelan-t-focal | gelan-t | mAP50-95 | 5 | {100 * DIFFS.mean():+.2f} | [{100 * low:+.2f}, "
            f"{100 * high:+.2f}] |")
    assert line in markdown
    assert markdown.splitlines()[-1].endswith(f"| {row['p_value']:.3f} | not separable with 5 seeds | "
                                              f"{seeds_needed(DIFFS)} |")


def test_plot_file_is_written_with_a_panel_per_metric_that_has_values(tmp_path: Path):
    from PIL import Image

    path = plot_ablation(_results(), {"mAP50-95": "coco/AP50-95", "APl": "coco/APl"}, tmp_path / "ablation.png")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    with Image.open(path) as image:
        assert image.width == round(3.2 * 120)  # one 3.2-inch panel at 120 dpi: APl has no objects, so no panel
