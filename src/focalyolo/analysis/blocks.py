"""Context-block scaling: FocalModulationBlock vs SelfAttentionBlock at gelan-c's P5 / P4 feature maps.

For each input size the block runs alone on a (1, 512, S/32, S/32) map (P5, where the ``*-focal`` and
``*-attn`` configs place it) or a (1, 512, S/16, S/16) map (P4, four times the positions). Focal
modulation's cost is linear in the positions, global self-attention's quadratic, so doubling the input
side should multiply focal latency by about 4 and attention latency by up to 16.

The focal and attention blocks of one (level, size) are timed in turns, each timed call right after an
untimed call of the same block (``settle=1``): at P4 of 1280 the attention block allocates hundreds of MB,
and a focal call timed straight after it pays for the page faults and cold caches that left behind (645 ms
against 626 ms when the focal block runs alone). The ``none`` rows are the fused
gelan-c network itself at that input size (what the block is added to), so each block's latency also reads
as a share of the detector it would sit in.

Peak memory is the high-water mark of the PyTorch CPU allocator during one forward pass, above what was
allocated before it (input and weights excluded), read from ``torch.profiler``'s memory events.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from ..cfg.imgsz import stride_multiple
from ..errors import FocalYoloError
from ..models import build_model
from ..models.summary import count_parameters
from ..nn import FocalModulationBlock, SelfAttentionBlock
from ..weights.convert import deployment_form
from .flops import count_flops
from .table import Column, render_text, write_report
from .timing import LoadMonitor, machine_info, matmul_peak, measure, measure_interleaved

__all__ = [
    "BLOCKS", "CHANNELS", "COLUMNS", "CSV_KEYS", "LEVEL_STRIDE", "benchmark_blocks", "fused_block", "growth",
    "peak_memory_bytes", "plot_scaling", "speed_ratio", "summary_lines",
]

CHANNELS = 512  # gelan-c's width at P4 and P5
LEVEL_STRIDE = {"P5": 32, "P4": 16}
BLOCKS: dict[str, Callable[[], nn.Module]] = {
    "focal": lambda: FocalModulationBlock(CHANNELS),
    "attn": lambda: SelfAttentionBlock(CHANNELS),
}

COLUMNS = [
    Column("level", "level"), Column("imgsz", "imgsz"), Column("map", "map"), Column("block", "block"),
    Column("params", "params (M)", lambda v: f"{v / 1e6:.2f}"), Column("gflops", "GFLOPs", ".2f"),
    Column("runs", "runs"), Column("median_ms", "median ms", ".2f"), Column("p10_ms", "p10 ms", ".2f"),
    Column("p90_ms", "p90 ms", ".2f"), Column("gflop_per_s", "GFLOP/s", ".1f"),
    Column("peak_mb", "peak MB", ".1f"), Column("share", "% of gelan-c", ".1f"),
    Column("load1", "load", ".2f"), Column("others", "others", ".2f"),
]
CSV_KEYS = [c.key for c in COLUMNS] + ["tokens", "pixels", "peak_gflop_per_s", "threads"]


@torch.no_grad()
def fused_block(block: nn.Module) -> nn.Module:
    """The block as deployed: eval mode, layer scales folded into the convolutions before them."""
    block.eval().fuse()
    return block


def peak_memory_bytes(fn: Callable[[], object]) -> int:
    """High-water mark of the PyTorch CPU allocator during ``fn()``, above its level at the start.

    Read from the profiler's memory events (every allocation and free, in time order), so it counts
    intermediate tensors and kernel workspaces that Python never sees, and only those.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]" and e.device_type()
              == torch.autograd.DeviceType.CPU]
    events.sort(key=lambda e: e.start_ns())
    running = itertools.accumulate((e.nbytes() for e in events), initial=0)
    return max(running)


def growth(rows: list[dict[str, Any]], level: str, block: str, small: int, large: int) -> float | None:
    """Latency ratio large/small of ``block`` at ``level`` (None when either size was not measured)."""
    found = {r["imgsz"]: r["median_ms"] for r in rows if r["level"] == level and r["block"] == block}
    if small in found and large in found:
        return found[large] / found[small]
    return None


def speed_ratio(rows: list[dict[str, Any]], level: str, imgsz: int, slow: str = "attn",
                fast: str = "focal") -> float | None:
    """How many times faster ``fast`` is than ``slow`` at (level, imgsz), or None."""
    found = {r["block"]: r["median_ms"] for r in rows if r["level"] == level and r["imgsz"] == imgsz}
    if slow in found and fast in found:
        return found[slow] / found[fast]
    return None


def summary_lines(rows: list[dict[str, Any]], sizes: list[int], levels: list[str]) -> list[str]:
    """Growth ratios between the two sizes nearest 640 -> 1280 (exactly those when measured) and the
    attention/focal speed ratio at the largest size, per level."""
    lines = []
    small, large = (640, 1280) if {640, 1280} <= set(sizes) else (sorted(sizes)[0], sorted(sizes)[-1])
    for level in levels:
        parts = []
        for block in BLOCKS:
            g = growth(rows, level, block, small, large)
            if g is not None:
                parts.append(f"{block} ×{g:.2f}")
        ratio = speed_ratio(rows, level, max(sizes))
        positions = (large / small) ** 2
        text = f"{level}: latency growth {small}→{large} (×{positions:.0f} positions): " + ", ".join(parts)
        if ratio is not None:
            text += f"; focal is {ratio:.2f}× faster than attention at {max(sizes)}"
        lines.append(text)
    return lines


def plot_scaling(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """``block_scaling.png``: log-log latency vs input pixels; colour = block, solid = P4, dashed = P5, the whole
    gelan-c dotted, and grey guides of slope 1 (linear in positions) and 2 (quadratic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    colours = {"focal": "tab:green", "attn": "tab:blue", "none": "black"}
    dashes = {"P4": "-", "P5": "--", None: ":"}
    keys = sorted({(r["block"], r["level"]) for r in rows if r["block"] != "none"}) + [("none", None)]
    for block, level in keys:
        points = dict(sorted((float(r["pixels"]), float(r["median_ms"])) for r in rows
                             if r["block"] == block and (level is None or r["level"] == level)))
        if not points:  # 'none' rows repeat per level: the dict keeps one point per size
            continue
        label = "gelan-c (whole network, fused)" if block == "none" else f"{block} @ {level}"
        ax.loglog(list(points), list(points.values()), dashes[level], marker="o" if block != "none" else "^",
                  color=colours.get(block), label=label)
    anchor = [(float(r["pixels"]), float(r["median_ms"])) for r in rows if r["block"] != "none"]
    if anchor:
        x0 = min(p for p, _ in anchor)
        y0 = min(t for p, t in anchor if p == x0)
        xs = sorted({p for p, _ in anchor})
        for slope, text in ((1, "∝ pixels"), (2, "∝ pixels²")):
            ax.loglog(xs, [y0 * (x / x0) ** slope for x in xs], color="grey", lw=0.8, alpha=0.5)
            ax.annotate(text, (xs[-1], y0 * (xs[-1] / x0) ** slope), fontsize=7, color="grey")
    ax.set_xlabel("input pixels (imgsz²)")
    ax.set_ylabel("latency, median (ms)")
    ax.set_title(f"Context block latency, C={CHANNELS}, batch 1")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def benchmark_blocks(sizes: list[int], levels: list[str] = ("P5", "P4"), runs: int = 10, warmup: int = 2,
                     baseline: bool = True, max_seconds: float | None = None, output: str | Path | None = None,
                     command: str = "", log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Measure the focal and attention blocks (and, with ``baseline``, the whole fused gelan-c) per size and
    level on the CPU; return the rows, and with ``output`` write ``blocks.csv``, ``blocks.md`` and
    ``block_scaling.png``."""
    bad = [lv for lv in levels if lv not in LEVEL_STRIDE]
    if bad:
        raise FocalYoloError(f"unknown level(s) {bad}; choose from {list(LEVEL_STRIDE)}")
    sizes = list(dict.fromkeys(stride_multiple(s, max(LEVEL_STRIDE.values())) for s in sizes))  # gelan-c's P5
    info = machine_info()
    peak = matmul_peak()
    log(f"machine: {info.line()}")
    log(f"fp32 matmul peak (2048x2048, best of 5): {peak:.1f} GFLOP/s")
    blocks = {name: fused_block(make()) for name, make in BLOCKS.items()}
    rows: list[dict[str, Any]] = []
    network_rows: dict[int, dict[str, Any]] = {}
    network = deployment_form(build_model("gelan-c")) if baseline else None

    def forward(net: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
        def fn():
            with torch.inference_mode():
                return net(x)
        return fn

    def measured(net: nn.Module, x: torch.Tensor) -> tuple[Any, Any, int, float]:
        fn = forward(net, x)
        flops = count_flops(net, x) / 1e9
        with LoadMonitor() as load:
            timing = measure(fn, warmup, runs, max_seconds)
        return timing, load, peak_memory_bytes(fn), flops

    for level in levels:
        for size in sizes:
            side = size // LEVEL_STRIDE[level]
            x = torch.randn(1, CHANNELS, side, side)
            fns = {name: forward(block, x) for name, block in blocks.items()}
            budget = None if max_seconds is None else max_seconds * len(fns)
            with LoadMonitor() as load:  # the blocks take turns, so load drift hits them alike
                timings = measure_interleaved(fns, warmup, runs, max_seconds=budget, settle=1)
            for name, block in blocks.items():
                timing, flops, memory = timings[name], count_flops(block, x) / 1e9, peak_memory_bytes(fns[name])
                rows.append({"level": level, "imgsz": size, "map": f"{side}×{side}", "block": name,
                             "params": count_parameters(block), "tokens": side * side, "pixels": size * size,
                             "gflops": flops, "runs": timing.runs, "median_ms": 1000 * timing.median,
                             "p10_ms": 1000 * timing.p10, "p90_ms": 1000 * timing.p90,
                             "gflop_per_s": flops / timing.median, "peak_mb": memory / 2**20,
                             "load1": load.load1, "others": load.others, "peak_gflop_per_s": peak,
                             "threads": torch.get_num_threads()})
                log(f"{level} {size:>5} {name:>5}: {1000 * timing.median:9.2f} ms, {memory / 2**20:7.1f} MB, "
                    f"{flops:.2f} GFLOPs, load {load.load1:.2f}")
            if network is not None:
                if size not in network_rows:
                    timing, load, memory, flops = measured(network, torch.rand(1, 3, size, size))
                    network_rows[size] = {"block": "none", "params": count_parameters(network), "gflops": flops,
                                          "runs": timing.runs, "median_ms": 1000 * timing.median,
                                          "p10_ms": 1000 * timing.p10, "p90_ms": 1000 * timing.p90,
                                          "gflop_per_s": flops / timing.median, "peak_mb": memory / 2**20,
                                          "load1": load.load1, "others": load.others, "share": 100.0}
                    log(f"   {size:>5} gelan-c: {1000 * timing.median:9.2f} ms, load {load.load1:.2f}")
                rows.append({"level": level, "imgsz": size, "map": "–", "tokens": None, "pixels": size * size,
                             "peak_gflop_per_s": peak, "threads": torch.get_num_threads(), **network_rows[size]})
                for row in rows[-len(blocks) - 1:-1]:
                    row["share"] = 100 * row["median_ms"] / network_rows[size]["median_ms"]
    peak = max(peak, matmul_peak())  # the best of the start and the end of the run
    for row in rows:
        row["peak_gflop_per_s"] = peak
    summary = summary_lines(rows, list(sizes), list(levels))
    log("")
    log(render_text(rows, COLUMNS))
    log("")
    for line in summary:
        log(line)
    if output is not None:
        notes = [f"machine: {info.line()}",
                 f"fp32 matmul peak (2048² matmul, best of the start and the end of this run): {peak:.1f} GFLOP/s",
                 "focal and attention rows of one (level, imgsz) are timed in turns (load drift hits both alike)",
                 f"blocks at C={CHANNELS}, batch 1, map = imgsz/32 (P5) or imgsz/16 (P4); none = the whole fused "
                 "gelan-c at that input size; % of gelan-c = block latency ÷ that",
                 "GFLOPs: torch flop counter (2 per multiply-add) with the CPU attention kernel added",
                 "peak MB: high-water mark of the PyTorch CPU allocator during one forward pass above its "
                 "starting level (torch.profiler memory events; input and weights excluded)",
                 "load: 1-minute load average at the row's start; others: CPUs' worth of work by other processes"]
        if command:
            notes.insert(0, f"command: `{command}`")
        notes += summary
        csv_path, md_path = write_report(output, "blocks", "Context block scaling", notes, rows, COLUMNS, CSV_KEYS)
        png = plot_scaling(rows, Path(output) / "block_scaling.png")
        log(f"\nwrote {csv_path}, {md_path} and {png}")
    return rows
