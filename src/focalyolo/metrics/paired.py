"""Paired comparison of two models trained under the same seeds: is the gap real, and how many seeds would show it.

Seed ``s`` of model A and seed ``s`` of the baseline share the initial draw of everything the seed fixes, so the
per-seed differences ``d_s = A_s - B_s`` are the data (a paired design): their mean is the gap, and its 95 %
intervals come from Student's t (``mean ± t_{0.975, n-1} * sd / sqrt(n)``) and from a percentile bootstrap of the
mean (numpy's generator with a fixed seed, so the interval is reproducible). The verdict reads the t-interval:
``ahead`` when it lies above zero, ``behind`` below, else ``not separable with N seeds``. The seeds a gap of the
observed size needs are the smallest n whose two-sided paired t-test (alpha 0.05) has 80 % power at the observed
effect size ``mean / sd``, from the noncentral t distribution.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
from scipy import stats

__all__ = [
    "MAX_SEEDS", "PairedComparison", "bootstrap_interval", "compare_paired", "paired_differences",
    "paired_t_test", "seeds_needed", "t_interval", "t_test_power", "verdict",
]

MAX_SEEDS = 10_000
"""Above this many seeds a gap counts as not separable in practice (``seeds_needed`` returns None)."""


def paired_differences(candidate: Mapping[int, float], baseline: Mapping[int, float]) -> tuple[list[int], np.ndarray]:
    """The seeds both models have a valid value for (sorted) and the (n,) differences ``candidate - baseline``.

    A value that is None, NaN or negative (COCO's -1: no objects of that size) drops that seed's pair."""
    def valid(value: Any) -> bool:
        return value is not None and math.isfinite(value) and value >= 0

    seeds = sorted(s for s in candidate if s in baseline and valid(candidate[s]) and valid(baseline[s]))
    return seeds, np.array([candidate[s] - baseline[s] for s in seeds], np.float64)


def t_interval(diffs: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student's t confidence interval of the mean of ``diffs`` (NaN for fewer than two values; the mean itself,
    twice, when they are all equal)."""
    n = len(diffs)
    if n < 2:
        return math.nan, math.nan
    mean, sem = float(np.mean(diffs)), float(np.std(diffs, ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    return mean - half, mean + half


def bootstrap_interval(diffs: np.ndarray, confidence: float = 0.95, resamples: int = 9999,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs``: ``resamples`` means of n values drawn with
    replacement (``numpy.random.default_rng(seed)``), their (1 - confidence) / 2 and (1 + confidence) / 2
    percentiles (linear interpolation). NaN for fewer than two values."""
    n = len(diffs)
    if n < 2:
        return math.nan, math.nan
    index = np.random.default_rng(seed).integers(0, n, (resamples, n))
    means = np.asarray(diffs, np.float64)[index].mean(-1)
    alpha = (1 - confidence) / 2
    low, high = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def paired_t_test(diffs: np.ndarray) -> tuple[float, float]:
    """The paired t statistic of ``diffs`` and its two-sided p-value (NaN for fewer than two values or no spread)."""
    n = len(diffs)
    sd = float(np.std(diffs, ddof=1)) if n > 1 else 0.0
    if n < 2 or sd == 0:
        return math.nan, math.nan
    t = float(np.mean(diffs)) / (sd / math.sqrt(n))
    return t, float(2 * stats.t.sf(abs(t), n - 1))


def t_test_power(effect: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided one-sample (paired) t-test with n pairs at standardised effect ``effect`` =
    mean / sd: P(|T| > t_{1-alpha/2, n-1}) for T noncentral t with n - 1 degrees of freedom and noncentrality
    ``effect * sqrt(n)`` (``effect`` >= 0). scipy's far lower tail can come back NaN where it is ~0: read as 0."""
    if n < 2:
        return math.nan
    df, crit = n - 1, float(stats.t.ppf(1 - alpha / 2, n - 1))
    nc = effect * math.sqrt(n)
    lower = float(stats.nct.cdf(-crit, df, nc))
    return float(stats.nct.sf(crit, df, nc)) + (0.0 if math.isnan(lower) else lower)


def seeds_needed(diffs: np.ndarray, power: float = 0.8, alpha: float = 0.05) -> int | None:
    """The fewest seeds (at least 2) whose paired t-test would separate a gap of the observed mean and spread of
    ``diffs`` with the given power; None when the gap is zero, there are fewer than two values, or it needs more
    than :data:`MAX_SEEDS`."""
    if len(diffs) < 2:
        return None
    mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1))
    if mean == 0:
        return None
    if sd == 0:
        return 2
    effect = abs(mean) / sd
    if t_test_power(effect, MAX_SEEDS, alpha) < power:
        return None
    low, high = 1, MAX_SEEDS  # power(low) < power <= power(high); power grows with n
    while high - low > 1:
        mid = (low + high) // 2
        if t_test_power(effect, mid, alpha) >= power:
            high = mid
        else:
            low = mid
    return high


def verdict(low: float, high: float, n: int) -> str:
    """``ahead`` when the interval lies above zero, ``behind`` when below, else ``not separable with n seeds``."""
    if low > 0:
        return "ahead"
    if high < 0:
        return "behind"
    return f"not separable with {n} seed{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class PairedComparison:
    """One metric of one model against the baseline, over the seeds both have (differences in the metric's unit)."""

    seeds: tuple[int, ...]
    mean: float
    sd: float
    t_low: float
    t_high: float
    boot_low: float
    boot_high: float
    p_value: float
    verdict: str
    seeds_needed: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_paired(candidate: Mapping[int, float], baseline: Mapping[int, float], confidence: float = 0.95,
                   resamples: int = 9999, seed: int = 0, power: float = 0.8) -> PairedComparison:
    """Everything above for one metric: ``candidate`` and ``baseline`` map seed -> value."""
    seeds, diffs = paired_differences(candidate, baseline)
    n = len(diffs)
    t_low, t_high = t_interval(diffs, confidence)
    boot_low, boot_high = bootstrap_interval(diffs, confidence, resamples, seed)
    return PairedComparison(
        seeds=tuple(seeds), mean=float(np.mean(diffs)) if n else math.nan,
        sd=float(np.std(diffs, ddof=1)) if n > 1 else math.nan, t_low=t_low, t_high=t_high, boot_low=boot_low,
        boot_high=boot_high, p_value=paired_t_test(diffs)[1], verdict=verdict(t_low, t_high, n),
        seeds_needed=seeds_needed(diffs, power, 1 - confidence))
