"""Where the host time of one training step goes: ms per step, the top torch ops and the top Python frames.

Runs the README recipe (``focalyolo train``: yolov9-t-focal on the built-in synthetic data, 160 px, batch 8) for
``--steps`` steps of :meth:`Trainer.train_epoch` (the first ``--warmup`` steps untimed), then the same steps again
under ``torch.profiler`` (top ops by self CPU time) and ``cProfile`` (top Python functions by own time). Data
loading happens in the main process (``--workers 0``) so its cost shows in the tables; the progress bar is on, as
for a user. A step's time is the wall time between two ``on_step`` calls, and the CPU time this process used in
it (on a shared machine the wall time also holds the waits for a core). The profile also counts the step's host
reads of tensors (``aten::_local_scalar_dense``: ``.item()``, ``bool()``; ``aten::nonzero``: ``nonzero()`` and
boolean-mask indexing), each of which would wait for a GPU's queue, and the ops it runs (each a kernel launch
on a GPU).

    python benchmarks/step_profile.py [--steps 12] [--threads 1] [--no-deterministic] [--compile] [--device cpu]

``--compile`` trains the ``torch.compile``d model (the first, untimed steps compile it: their time is printed).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from typing import Any, Callable

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from focalyolo.analysis.timing import machine_info
from focalyolo.cfg import TrainConfig
from focalyolo.engine.trainer import Trainer


class _Enough(Exception):
    """Raised from the step hook to end the epoch after the steps wanted."""


HOST_READS = ("aten::_local_scalar_dense", "aten::nonzero")


def run_steps(trainer: Trainer, steps: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of ``steps`` training steps (the first measured from the epoch's start)."""
    stamps = [(time.perf_counter(), time.process_time())]

    def on_step(_trainer: Trainer, _step: int) -> None:
        stamps.append((time.perf_counter(), time.process_time()))
        if len(stamps) > steps:
            raise _Enough

    trainer.on_step = on_step
    try:
        trainer.train_epoch(0)
    except _Enough:
        pass
    return ([b[0] - a[0] for a, b in zip(stamps, stamps[1:])], [b[1] - a[1] for a, b in zip(stamps, stamps[1:])])


def read_site(event: Any) -> str:
    """``op < caller``: the read op and the nearest focalyolo or torch data-loader frame above it."""
    parent = event.cpu_parent
    while parent is not None and "focalyolo/" not in parent.name and "torch/utils/data" not in parent.name:
        parent = parent.cpu_parent
    return f"{event.name} < {parent.name if parent is not None else '?'}"


def timed_loss(loss_fn: Callable) -> Callable:
    """``loss_fn`` inside a profiler range named ``loss``."""
    def call(preds: Any, targets: Any) -> Any:
        with record_function("loss"):
            return loss_fn(preds, targets)
    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolov9-t-focal")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=12, help="steps timed (and profiled)")
    parser.add_argument("--warmup", type=int, default=2, help="steps run first, untimed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-deterministic", dest="deterministic", action="store_false")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--no-tables", dest="tables", action="store_false", help="time the steps only")
    parser.add_argument("--top", type=int, default=15, help="rows of each table")
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="step-profile-") as tmp:
        cfg = TrainConfig(model=opts.model, imgsz=opts.imgsz, batch=opts.batch, epochs=1, workers=0, val=False,
                          plots=False, threads=opts.threads, device=opts.device, deterministic=opts.deterministic,
                          project=tmp, exist_ok=True, **({"compile": True} if opts.compile else {}))
        trainer = Trainer(cfg)
        first, _ = run_steps(trainer, opts.warmup)
        seconds, cpu_seconds = run_steps(trainer, opts.steps)
        if opts.tables:
            trainer.loss_fn = timed_loss(trainer.loss_fn)
            with profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof:
                run_steps(trainer, opts.steps)
            python = cProfile.Profile()
            python.enable()
            run_steps(trainer, opts.steps)
            python.disable()
    print(f"\nmachine: {machine_info().line()}; torch {torch.__version__}; {torch.get_num_threads()} thread(s)")
    print(f"{opts.model}, {opts.imgsz} px, batch {opts.batch}, deterministic {opts.deterministic}, compile "
          f"{opts.compile}, {opts.device}: {1000 * statistics.median(seconds):.1f} ms per step (median of "
          f"{len(seconds)}; min {1000 * min(seconds):.1f}, max {1000 * max(seconds):.1f}), CPU time "
          f"{1000 * statistics.median(cpu_seconds):.1f} ms per step; the {len(first)} untimed first steps: "
          f"{sum(first):.1f} s")
    if not opts.tables:
        return 0
    events = prof.events()
    reads = Counter(read_site(e) for e in events if e.name in HOST_READS)
    ops = sum(1 for e in events if e.name.startswith("aten::") and not (e.cpu_parent and
                                                                      e.cpu_parent.name.startswith("aten::")))
    loss_ms = sum(e.cpu_time_total for e in events if e.name == "loss") / 1000
    print(f"per step: {ops / opts.steps:.0f} top-level aten ops, loss {loss_ms / opts.steps:.1f} ms CPU, "
          f"{sum(reads.values()) / opts.steps:.1f} host reads of tensors, by caller:")
    for site, n in reads.most_common():
        print(f"  {n / opts.steps:5.1f}  {site}")
    print(f"\n-- top torch ops by self CPU time ({opts.steps} steps) --")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=opts.top, max_name_column_width=40))
    text = io.StringIO()
    pstats.Stats(python, stream=text).sort_stats("tottime").print_stats(opts.top)
    print(f"-- top Python functions by own time ({opts.steps} steps, cProfile) --")
    print(text.getvalue().split("\n\n", 1)[-1].strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
