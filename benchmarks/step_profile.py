"""Where the host time of one training step goes: ms per step, the top torch ops and the top Python frames.

Runs the README recipe (``focalyolo train``: yolov9-t-focal on the built-in synthetic data, 160 px, batch 8) for
``--steps`` steps of :meth:`Trainer.train_epoch` (the first ``--warmup`` steps untimed), then the same steps again
under ``torch.profiler`` (top ops by self CPU time) and ``cProfile`` (top Python functions by own time). Data
loading happens in the main process (``--workers 0``) so its cost shows in the tables; the progress bar is on, as
for a user. A step's time is the wall time between two ``on_step`` calls.

    python benchmarks/step_profile.py [--steps 12] [--threads 1] [--no-deterministic] [--device cpu]
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

import torch
from torch.profiler import ProfilerActivity, profile

from focalyolo.benchmark.timing import machine_info
from focalyolo.cfg import TrainConfig
from focalyolo.engine.trainer import Trainer


class _Enough(Exception):
    """Raised from the step hook to end the epoch after the steps wanted."""


def run_steps(trainer: Trainer, steps: int) -> list[float]:
    """Seconds of each of ``steps`` training steps (the first measured from the epoch's start)."""
    stamps = [time.perf_counter()]

    def on_step(_trainer: Trainer, _step: int) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) > steps:
            raise _Enough

    trainer.on_step = on_step
    try:
        trainer.train_epoch(0)
    except _Enough:
        pass
    return [b - a for a, b in zip(stamps, stamps[1:])]


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
    parser.add_argument("--top", type=int, default=15, help="rows of each table")
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="step-profile-") as tmp:
        cfg = TrainConfig(model=opts.model, imgsz=opts.imgsz, batch=opts.batch, epochs=1, workers=0, val=False,
                          plots=False, threads=opts.threads, device=opts.device, deterministic=opts.deterministic,
                          project=tmp, exist_ok=True)
        trainer = Trainer(cfg)
        run_steps(trainer, opts.warmup)
        seconds = run_steps(trainer, opts.steps)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run_steps(trainer, opts.steps)
        python = cProfile.Profile()
        python.enable()
        run_steps(trainer, opts.steps)
        python.disable()
    print(f"\nmachine: {machine_info().line()}; torch {torch.__version__}; {torch.get_num_threads()} thread(s)")
    print(f"{opts.model}, {opts.imgsz} px, batch {opts.batch}, deterministic {opts.deterministic}, {opts.device}: "
          f"{1000 * statistics.median(seconds):.1f} ms per step (median of {len(seconds)}; "
          f"min {1000 * min(seconds):.1f}, max {1000 * max(seconds):.1f})")
    print(f"\n-- top torch ops by self CPU time ({opts.steps} steps) --")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=opts.top, max_name_column_width=40))
    text = io.StringIO()
    pstats.Stats(python, stream=text).sort_stats("tottime").print_stats(opts.top)
    print(f"-- top Python functions by own time ({opts.steps} steps, cProfile) --")
    print(text.getvalue().split("\n\n", 1)[-1].strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
