"""The synthetic ablation: gelan-t vs gelan-t-focal vs gelan-t-attn, 3 seeds, one short CPU schedule.

Plain script around ``focalyolo compare``; prints and writes ablation.md / ablation.csv under
``<project>/<name>`` (default runs/compare/synthetic-ablation) and is resumable like compare (run it again
after an interruption; finished (model, seed) runs are not retrained).

The schedule is sized to finish in about 20 minutes on a 2-core CPU (9 runs of ~2 minutes): the built-in
synthetic data (400 train / 100 val images, 5 classes), imgsz 160, batch 16, ``--epochs 6``, and a short-schedule
hyp written next to the results (no gradient accumulation: nbs 16 so each epoch is 25 optimizer steps;
1 warmup epoch; scale 0.5; no mixup), because the full recipe (nbs 64, 3 warmup epochs >= 100 steps) spends
most of a 6-epoch run warming up. At this budget the detectors are barely trained (mAP50-95 of a few %), so
the table demonstrates the pipeline and the cost columns; differences in mAP between the blocks are within
the seed spread. For a meaningful accuracy comparison use e.g. ``--epochs 100`` (hours on this CPU) or a GPU.

    python benchmarks/ablation.py [--epochs 6] [--imgsz 160] [--seeds 0,1,2] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

from focalyolo.benchmark.compare import compare
from focalyolo.utils.logging import setup_logging

SHORT_HYP = {"nbs": 16, "warmup_epochs": 1.0, "scale": 0.5, "mixup": 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="gelan-t,gelan-t-focal,gelan-t-attn")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is faster on a busy 2-core box)")
    parser.add_argument("--full-hyp", action="store_true", help="use the full scratch-high recipe, not the short one")
    parser.add_argument("--project", default="runs/compare")
    parser.add_argument("--name", default="synthetic-ablation")
    opts = parser.parse_args(argv)
    setup_logging()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    root = Path(opts.project) / opts.name
    hyp = None
    if not opts.full_hyp:
        root.mkdir(parents=True, exist_ok=True)
        hyp = root / "hyp.short.yaml"
        hyp.write_text("# short CPU schedule of benchmarks/ablation.py\n" + yaml.safe_dump(SHORT_HYP, sort_keys=False))
    command = (f"focalyolo compare --models {opts.models} --data {opts.data} --epochs {opts.epochs} "
               f"--imgsz {opts.imgsz} --seeds {opts.seeds} --batch {opts.batch} --workers {opts.workers} "
               + (f"--hyp {hyp} " if hyp else "") + f"--project {opts.project} --name {opts.name}"
               + (f"  (torch threads {opts.threads})" if opts.threads else ""))
    print(command)
    t0 = time.perf_counter()
    compare(opts.models.split(","), opts.data, opts.epochs, opts.imgsz, [int(s) for s in opts.seeds.split(",")],
            opts.batch, str(hyp) if hyp else None, "cpu", opts.workers, opts.project, opts.name,
            verbose=False, command=command)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
