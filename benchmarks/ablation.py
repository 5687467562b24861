"""The synthetic ablation: gelan-t vs gelan-t-focal vs gelan-t-attn, 3 seeds, one short CPU schedule.

Plain script around ``focalyolo compare``; prints and writes ablation.md / ablation.csv under
``<project>/<name>`` (default runs/compare/synthetic-ablation) and is resumable like compare (run it again
after an interruption; finished (model, seed) runs are not retrained).

The schedule is the one the learning acceptance test uses, sized for a 2-core CPU (9 runs of ~4 minutes): the
built-in synthetic data (400 train / 100 val images, 5 classes), imgsz 160, batch 8, 20 epochs (1,000 optimizer
steps), AdamW and the packaged ``cpu-short`` hyp (lr 0.006 -> 0.0006, 3 warmup epochs, no mosaic/mixup, scale 0.3),
validation every 5 epochs. The full scratch-high recipe needs hundreds of epochs; for that use e.g.
``--epochs 300 --hyp scratch-high --optimizer SGD --batch 16`` on a GPU.

    python benchmarks/ablation.py [--epochs 20] [--imgsz 160] [--seeds 0,1,2] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time

from focalyolo.analysis.compare import compare
from focalyolo.cfg import CompareConfig
from focalyolo.utils.logging import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="gelan-t,gelan-t-focal,gelan-t-attn")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hyp", default="cpu-short", help="hyp YAML or packaged name (scratch-high, cpu-short)")
    parser.add_argument("--optimizer", default="AdamW", choices=["SGD", "AdamW"])
    parser.add_argument("--val-interval", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: all cores but one, see docs/training.md)")
    parser.add_argument("--project", default="runs/compare")
    parser.add_argument("--name", default="synthetic-ablation")
    opts = parser.parse_args(argv)
    setup_logging()
    command = (f"focalyolo compare --models {opts.models} --data {opts.data} --epochs {opts.epochs} "
               f"--imgsz {opts.imgsz} --seeds {opts.seeds} --batch {opts.batch} --hyp {opts.hyp} "
               f"--optimizer {opts.optimizer} --val-interval {opts.val_interval} --workers {opts.workers} "
               + (f"--threads {opts.threads} " if opts.threads else "")
               + f"--project {opts.project} --name {opts.name}")
    print(command)
    t0 = time.perf_counter()
    cfg = CompareConfig(models=opts.models.split(","), data=opts.data, epochs=opts.epochs, imgsz=opts.imgsz,
                        seeds=[int(s) for s in opts.seeds.split(",")], batch=opts.batch, hyp=opts.hyp, device="cpu",
                        workers=opts.workers, project=opts.project, name=opts.name, verbose=False,
                        optimizer=opts.optimizer, val_interval=opts.val_interval, threads=opts.threads)
    compare(cfg, command=command)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
