"""Spread of the learning acceptance run over seeds, CPU instruction sets and thread counts.

The acceptance tests (``tests/engine/test_train_learns.py``; their recipes: ``tests/engine/learning-recipe*.yaml``)
train a 1M-parameter GELAN with a focal block from scratch on synthetic shapes and assert a minimum mAP50 (of boxes; of
masks for segmentation, of keypoints for pose, of rotated boxes for OBB) or top-1 accuracy (classification). On one
machine the run is bit-reproducible, but another CPU makes oneDNN and ATen pick other kernels (AVX-512 vs AVX2), another
thread count splits reductions differently, float rounding differs, and after a thousand steps the figure lands
elsewhere. This script measures that spread, so the test's bar can keep a margin over it: each (seed, ISA, threads) run
is a separate process, ``--isa avx2`` sets ``ONEDNN_MAX_CPU_ISA=AVX2`` and ``ATEN_CPU_CAPABILITY=avx2`` (the kernels an
AVX2-only machine runs), ``--parallel 2`` runs two at once (use one thread each on a 2-core machine).

    python benchmarks/learning_spread.py --seeds 0,1,2,3,4 --isa native,avx2 --threads 1 --parallel 2
    python benchmarks/learning_spread.py --task segment ...   # the segmentation run (mask figures)
    python benchmarks/learning_spread.py --task pose ...      # the pose run (keypoint figures, OKS)
    python benchmarks/learning_spread.py --task classify ...  # the classification run (top-1 accuracy)
    python benchmarks/learning_spread.py --task obb ...       # the oriented-box run (rotated box mAP)

Prints one row per run (the asserted figure and two more: mAP50 fast and pycocotools, AP50-95; top-1, top-5; for
OBB mAP50-95 and ``turn d``, the change of rotated mAP50 when held-out images (``--turn-images``, default the test's
1000) and their labels turn a quarter; seconds) and the min / mean / max of the asserted figure per ISA.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests" / "engine"
QUARTER_TURN = "quarter turn"  # OBB: change of rotated mAP50 when held-out images turn (tests/engine/quarter_turn.py)
RUNS = {  # task -> (model, recipe, the figures printed: (column, results key), the asserted one first)
    "detect": (str(TESTS / "tiny-gelan-focal.yaml"), TESTS / "learning-recipe.yaml",
               (("mAP50", "metrics/mAP50(B)"), ("COCO AP50", "coco/AP50"), ("AP50-95", "coco/AP50-95"))),
    "segment": (str(TESTS / "tiny-gelan-seg-focal.yaml"), TESTS / "learning-recipe-seg.yaml",
                (("mAP50", "metrics/mAP50(M)"), ("COCO AP50", "coco/AP50(M)"), ("AP50-95", "coco/AP50-95(M)"))),
    "pose": (str(TESTS / "tiny-gelan-pose-focal.yaml"), TESTS / "learning-recipe-pose.yaml",
             (("mAP50", "metrics/mAP50(P)"), ("COCO AP50", "coco/AP50(P)"), ("AP50-95", "coco/AP50-95(P)"))),
    "obb": (str(TESTS / "tiny-gelan-obb-focal.yaml"), TESTS / "learning-recipe-obb.yaml",
            (("mAP50", "metrics/mAP50(B)"), ("mAP50-95", "metrics/mAP50-95(B)"), ("turn d", QUARTER_TURN))),
    "classify": ("gelan-t-cls-focal", TESTS / "learning-recipe-cls.yaml",
                 (("top1", "metrics/accuracy_top1"), ("top5", "metrics/accuracy_top5"))),
}
ISA_ENV = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}


def recipe(task: str) -> dict:
    """The acceptance run's data and training options (``tests/engine/learning-recipe*.yaml``)."""
    import yaml

    return yaml.safe_load(RUNS[task][1].read_text())


def worker(opts: argparse.Namespace) -> None:
    """One training run in this process; prints a JSON line with its figures."""
    from focalyolo.cfg import TrainConfig
    from focalyolo.engine.trainer import Trainer

    start = time.perf_counter()
    model, _, figures = RUNS[opts.task]
    options = {**recipe(opts.task)["train"], "model": model, "data": opts.data, "seed": opts.seed,
               "threads": opts.threads, "project": opts.project, "plots": False, "verbose": False,
               **json.loads(opts.overrides)}
    if opts.epochs:
        options.update(epochs=opts.epochs, val_interval=opts.epochs)
    trainer = Trainer(TrainConfig(**options))
    trainer.train()
    m = dict(trainer.final_metrics)
    if any(key == QUARTER_TURN for _, key in figures):
        sys.path.insert(0, str(TESTS))
        from quarter_turn import quarter_turn_scores

        upright, turned = quarter_turn_scores(trainer.weights_dir / "best.pt", trainer.save_dir, opts.turn_images)
        m[QUARTER_TURN] = turned - upright
    print(json.dumps({**{column: m[key] for column, key in figures}, "seconds": time.perf_counter() - start}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="detect", choices=sorted(RUNS),
                        help="the detection run (box mAP), the segmentation run (mask mAP), the pose run (keypoint "
                             "mAP), the oriented-box run (rotated box mAP) or the classification run (top-1)")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--isa", default="native,avx2", help="comma-separated: native, avx2")
    parser.add_argument("--threads", default="1", help="comma-separated torch thread counts")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--hyp", default="{}", help="JSON dict of option overrides, e.g. '{\"lr0\": 0.008}'")
    parser.add_argument("--turn-images", type=int, default=1000,
                        help="OBB: held-out images of the quarter-turn check (the test's 1000)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.worker:
        opts.threads = int(opts.threads)
        worker(opts)
        return 0

    from focalyolo.data import generate_synthetic

    root = Path(tempfile.mkdtemp(prefix="learning-spread-"))
    data = generate_synthetic(root / "data", **recipe(opts.task)["data"])
    runs = list(itertools.product(opts.isa.split(","), [int(t) for t in opts.threads.split(",")],
                                  [int(s) for s in opts.seeds.split(",")]))
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"{opts.task}, {opts.epochs or recipe(opts.task)['train']['epochs']} epochs, overrides {opts.hyp}; "
          f"{len(runs)} runs, {opts.parallel} at a time")
    columns = [column for column, _ in RUNS[opts.task][2]]
    main_column = columns[0]
    print(f"{'isa':>6} {'threads':>7} {'seed':>4} " + " ".join(f"{c:>9}" for c in columns) + f" {'s':>6}")
    results: dict[tuple, dict] = {}
    pending = list(runs)
    active: list[tuple[tuple, subprocess.Popen]] = []
    while pending or active:
        while pending and len(active) < opts.parallel:
            isa, threads, seed = run = pending.pop(0)
            env = {**os.environ, **ISA_ENV[isa], "OMP_NUM_THREADS": str(threads)}
            cmd = [sys.executable, __file__, "--worker", "--task", opts.task, "--data", str(data), "--seed", str(seed),
                   "--threads", str(threads), "--project", str(root / "runs"), "--overrides", opts.hyp,
                   "--turn-images", str(opts.turn_images)]
            cmd += ["--epochs", str(opts.epochs)] if opts.epochs else []
            active.append((run, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)))
        time.sleep(1)
        for item in list(active):
            run, proc = item
            if proc.poll() is None:
                continue
            active.remove(item)
            lines = [line for line in proc.stdout.read().splitlines() if line.startswith("{")]
            if proc.returncode or not lines:
                print(f"{run}: failed (exit {proc.returncode})")
                continue
            r = results[run] = json.loads(lines[-1])
            print(f"{run[0]:>6} {run[1]:>7} {run[2]:>4} " + " ".join(f"{r[c]:9.3f}" for c in columns)
                  + f" {r['seconds']:6.0f}", flush=True)
    for key, group in itertools.groupby(sorted(results), key=lambda run: run[:2]):
        values = [results[run][main_column] for run in group]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{key[0]} {key[1]} thread(s): {main_column} min {min(values):.3f} mean {statistics.mean(values):.3f} "
              f"max {max(values):.3f} sd {spread:.3f} over {len(values)} seeds")
    all_values = [r[main_column] for r in results.values()]
    if all_values:
        print(f"all: min {min(all_values):.3f} mean {statistics.mean(all_values):.3f} max {max(all_values):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
