"""The README's model table: parameters, GFLOPs and CPU latency of the tiny and compact models.

Plain script; prints the tables and writes CSV + Markdown under ``--output`` (default runs/benchmark/models).
It measures the gelan-t family (and yolov9-t) at 320/640 (batch 1 and 8), the gelan-t family at 1280 (batch 1),
and the gelan-c family at 640 (batch 1), each unfused (eager), fused, fused in channels-last memory format, and
in ONNX Runtime. The rows of one (size, batch) are timed in turns; a row's timed phase is capped at
``--max-seconds`` (at least 3 rounds), so the whole script takes about 12 minutes on a 2-core CPU.

    python benchmarks/models.py [--threads 1] [--runs 10] [--quick]

Equivalent CLI for one part: ``focalyolo benchmark --models gelan-t,gelan-t-focal,gelan-t-attn
--imgsz 320,640 --batch 1,8 --backends eager,fused,channels_last,onnxruntime``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from focalyolo.analysis.models import benchmark_models
from focalyolo.analysis.timing import wait_for_quiet

PLAN = [  # (models, sizes, batches)
    (["gelan-t", "gelan-t-focal", "gelan-t-attn", "yolov9-t"], [320, 640], [1, 8]),
    (["gelan-t", "gelan-t-focal", "gelan-t-attn"], [1280], [1]),
    (["gelan-c", "gelan-c-focal", "gelan-c-attn"], [640], [1]),
]
QUICK = [(["gelan-t", "gelan-t-focal", "gelan-t-attn"], [320], [1])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=8.0, help="time budget per row")
    parser.add_argument("--threads", type=int, default=None, help="torch / ONNX Runtime threads")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false")
    parser.add_argument("--quick", action="store_true", help="only the tiny models at 320, batch 1")
    parser.add_argument("--wait-load", type=float, default=1.5, help="wait up to 5 min for a load below this")
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark/models"))
    opts = parser.parse_args(argv)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    wait_for_quiet(opts.wait_load)
    backends = ["eager", "fused", "channels_last"] + (["onnxruntime"] if opts.onnx else [])
    for i, (models, sizes, batches) in enumerate(QUICK if opts.quick else PLAN):
        command = (f"focalyolo benchmark --models {','.join(models)} --imgsz {','.join(map(str, sizes))} "
                   f"--batch {','.join(map(str, batches))} --runs {opts.runs} --warmup {opts.warmup} "
                   f"--max-seconds {opts.max_seconds:g} --backends eager,fused,channels_last"
                   + (",onnxruntime" if opts.onnx else "")
                   + (f" --threads {opts.threads}" if opts.threads else "") + f" --output {opts.output / str(i)}")
        print(f"\n### part {i + 1}: {command}\n")
        benchmark_models(models, sizes, batches, opts.runs, opts.warmup, backends, "cpu", opts.max_seconds,
                         opts.output / str(i), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
