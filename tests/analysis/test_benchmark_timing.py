"""Timing statistics, load sampling, FLOP counting with CPU attention, and the table writers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from focalyolo.analysis.flops import count_flops
from focalyolo.analysis.table import Column, read_csv, render_markdown, render_text, write_csv
from focalyolo.analysis.timing import (
    LoadMonitor,
    Timing,
    matmul_peak,
    measure,
    measure_interleaved,
    percentile,
    wait_for_quiet,
)
from focalyolo.nn import FocalModulationBlock, SelfAttentionBlock


def test_percentiles_and_timing_statistics() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0 and percentile(values, 50) == 3.0
    assert percentile(values, 10) == pytest.approx(1.4)
    timing = Timing(values)
    assert (timing.runs, timing.median, timing.best) == (5, 3.0, 1.0)
    assert timing.p10 == pytest.approx(1.4) and timing.p90 == pytest.approx(4.6) and timing.iqr == pytest.approx(2.0)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_measure_counts_runs_and_respects_the_budget() -> None:
    calls = []
    timing = measure(lambda: calls.append(1), warmup=2, runs=5)
    assert timing.runs == 5 and len(calls) == 7
    slow = measure(lambda: time.sleep(0.01), warmup=0, runs=100, max_seconds=0.0, min_runs=3)
    assert slow.runs == 3 and slow.median >= 0.009


def test_interleaved_timing_gives_every_callable_the_same_runs() -> None:
    order = []
    timings = measure_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, warmup=1, runs=3)
    assert order == ["a", "b"] * 4
    assert {name: t.runs for name, t in timings.items()} == {"a": 3, "b": 3}


def test_load_monitor_and_matmul_peak() -> None:
    with LoadMonitor() as load:
        rate = matmul_peak(n=128, runs=2)
    assert rate > 0 and load.load1 >= 0
    assert load.others is None or load.others >= 0
    assert wait_for_quiet(max_load=1e9, timeout=0, log=lambda _: None) >= 0


def test_flop_count_includes_cpu_attention() -> None:
    x = torch.randn(1, 32, 16, 16)
    attention, focal = count_flops(SelfAttentionBlock(32), x), count_flops(FocalModulationBlock(32), x)
    n, c = 16 * 16, 32
    convs = 2 * n * (3 * c * c + c * c + 8 * c * c)  # qkv, proj and the 4x MLP, 2 FLOPs per multiply-add
    assert attention == convs + 4 * n * n * c  # + Q K^T and A V over all positions
    assert focal < attention


def test_tables_render_and_round_trip(tmp_path: Path) -> None:
    rows = [{"name": "a", "ms": 1.234, "n": None}, {"name": "bb", "ms": 10.0, "n": 3}]
    columns = [Column("name", "name"), Column("ms", "ms", ".1f"), Column("n", "n")]
    text = render_text(rows, columns).splitlines()
    assert text[0].split() == ["name", "ms", "n"] and text[1].split() == ["a", "1.2", "–"]
    markdown = render_markdown(rows, columns).splitlines()
    assert markdown[1] == "| --- | ---: | ---: |" and markdown[3] == "| bb | 10.0 | 3 |"
    back = read_csv(write_csv(rows, tmp_path / "t.csv"))
    assert back[0] == {"name": "a", "ms": "1.234", "n": ""}
