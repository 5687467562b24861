"""Context-block scaling: FocalModulationBlock vs SelfAttentionBlock at gelan-c's P5 and P4 maps (C=512).

Plain script; prints the table, the growth ratios 640 -> 1280 and the focal-vs-attention speed ratio, and
writes blocks.csv, blocks.md and block_scaling.png under ``--output`` (default runs/benchmark/blocks).
The bars it reports against: at P4, focal latency grows <= 4.5x from 640 to 1280 while self-attention
grows >= 8x, and focal is >= 3x faster than attention at 1280.

    python benchmarks/blocks.py [--threads 1] [--runs 10]

Same as ``focalyolo benchmark --blocks --sizes 320,640,960,1280 --level P5,P4``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from focalyolo.analysis.blocks import benchmark_blocks, growth, speed_ratio
from focalyolo.analysis.timing import wait_for_quiet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="320,640,960,1280")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="time budget per row")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the whole-gelan-c rows")
    parser.add_argument("--wait-load", type=float, default=1.5)
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark/blocks"))
    opts = parser.parse_args(argv)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    wait_for_quiet(opts.wait_load)
    sizes = [int(s) for s in opts.sizes.split(",")]
    command = (f"focalyolo benchmark --blocks --sizes {opts.sizes} --level P5,P4 --runs {opts.runs} "
               f"--warmup {opts.warmup} --max-seconds {opts.max_seconds:g}"
               + (f" --threads {opts.threads}" if opts.threads else "")
               + ("" if opts.baseline else " --no-baseline") + f" --output {opts.output}")
    rows = benchmark_blocks(sizes, ["P5", "P4"], opts.runs, opts.warmup, opts.baseline, opts.max_seconds,
                            opts.output, command)
    if {640, 1280} <= set(sizes):
        focal, attn = growth(rows, "P4", "focal", 640, 1280), growth(rows, "P4", "attn", 640, 1280)
        ratio = speed_ratio(rows, "P4", 1280)
        print("\nbars at P4:")
        print(f"  focal growth 640->1280: x{focal:.2f} (bar <= 4.5: {'met' if focal <= 4.5 else 'missed'})")
        print(f"  attention growth 640->1280: x{attn:.2f} (bar >= 8: {'met' if attn >= 8 else 'missed'})")
        print(f"  focal vs attention at 1280: {ratio:.2f}x faster (bar >= 3: {'met' if ratio >= 3 else 'missed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
