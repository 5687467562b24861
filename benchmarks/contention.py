"""Training on a shared CPU: how much one epoch slows down when another process wants the cores.

One epoch of gelan-t (ours) and yolov9t (Ultralytics) on coco128 at imgsz 320, batch 16, each with its own
defaults for threads and data-loading workers, run as separate processes in three settings:

  (a) quiet: alone on the machine;
  (b) busy: beside one busy single-threaded process (``python -c "while 1: pass"``);
  (c) twin: beside a second identical training command, started at the same moment.

For each it prints the steady-state seconds per optimizer step (median step time, the first step excluded) and
the whole command's wall time (start-up, label scan, the epoch, validation), and the slowdowns against (a).
Settings and tools are timed in turns, ``--rounds`` times; the table shows medians over rounds. Ours runs exactly
what ``focalyolo train`` runs with these flags (same defaults); Ultralytics runs offline from its packaged
``yolov9t.yaml`` (no download), with ``plots=False`` (its plots fetch a font).

    python benchmarks/contention.py --data ../shared/data/coco128/data.yaml
    python benchmarks/contention.py --ultralytics-python .venv-ultralytics/bin/python   # Ultralytics in its own venv
    python benchmarks/contention.py --tools ours --threads 2                              # one side, other threads

Ultralytics needs ``pip install ultralytics``; it pulls ``opencv-python``, which clashes with the
``opencv-python-headless`` focalyolo uses, so give it its own virtual environment (``--ultralytics-python``).
Writes ``contention.md`` / ``contention.csv`` into ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COCO128 = REPO.parent / "shared" / "data" / "coco128" / "data.yaml"
SETTINGS = {"quiet": "(a) alone", "busy": "(b) beside a busy 1-thread process", "twin": "(c) beside a twin training"}


def child_ours(opts: argparse.Namespace) -> None:
    """``focalyolo train --model gelan-t --data ... --imgsz 320 --epochs 1 --batch 16`` with per-step stamps."""
    from focalyolo.engine.run import train_run
    from focalyolo.engine.trainer import Trainer
    from focalyolo.utils.logging import setup_logging

    setup_logging()
    options = dict(model="gelan-t", data=opts.data, imgsz=opts.imgsz, epochs=1, batch=opts.batch,
                   project=opts.project, name="ours", plots=False, verbose=False)
    if opts.threads:
        options["threads"] = opts.threads
    if opts.workers is not None:
        options["workers"] = opts.workers
    stamps: list[float] = []
    trainer = Trainer(train_run(**options), on_step=lambda *_: stamps.append(time.perf_counter()))
    stamps.insert(0, time.perf_counter())  # the epoch starts after set-up
    trainer.train()
    Path(opts.stamps).write_text(json.dumps({"stamps": stamps, "threads": trainer.threads}))


def child_ultralytics(opts: argparse.Namespace) -> None:
    """Ultralytics' ``yolo train model=yolov9t.yaml data=... imgsz=320 epochs=1 batch=16`` with per-step stamps."""
    import torch
    from ultralytics import YOLO

    stamps: list[float] = []
    model = YOLO("yolov9t.yaml")
    model.add_callback("on_train_epoch_start", lambda _: stamps.append(time.perf_counter()))
    model.add_callback("on_train_batch_end", lambda _: stamps.append(time.perf_counter()))
    model.train(data=opts.data, imgsz=opts.imgsz, epochs=1, batch=opts.batch, device="cpu", plots=False,
                project=opts.project, name="ultralytics", exist_ok=True, verbose=False)
    Path(opts.stamps).write_text(json.dumps({"stamps": stamps, "threads": torch.get_num_threads()}))


def run_child(tool: str, opts: argparse.Namespace, folder: Path, tag: str) -> subprocess.Popen:
    """Start one training command (this script in child mode) and return its process."""
    python = opts.ultralytics_python if tool == "ultralytics" else sys.executable
    stamps = folder / f"{tool}-{tag}.json"
    cmd = [python, __file__, "--child", tool, "--data", str(opts.data), "--imgsz", str(opts.imgsz),
           "--batch", str(opts.batch), "--project", str(folder / tag), "--stamps", str(stamps)]
    if opts.threads:
        cmd += ["--threads", str(opts.threads)]
    if opts.workers is not None and tool == "ours":
        cmd += ["--workers", str(opts.workers)]
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, started: float, stamps: Path) -> dict:
    """Wait for a child; its steady seconds per step, step count, threads and whole-command seconds."""
    _, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"training command failed (exit {proc.returncode}): {err.strip().splitlines()[-1:]}")
    data = json.loads(stamps.read_text())
    steps = [b - a for a, b in zip(data["stamps"], data["stamps"][1:])]
    return {"step_s": statistics.median(steps[1:] or steps), "steps": len(steps), "threads": data["threads"],
            "command_s": seconds}


def measure(tool: str, setting: str, opts: argparse.Namespace, folder: Path, tag: str) -> dict:
    """One training command of ``tool`` under ``setting``; for ``twin`` the mean of the two commands."""
    busy = None
    if setting == "busy":
        busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        time.sleep(1.0)
    try:
        started = time.perf_counter()
        procs = [run_child(tool, opts, folder, f"{tag}-{i}") for i in range(2 if setting == "twin" else 1)]
        results = [finish(p, started, folder / f"{tool}-{tag}-{i}.json") for i, p in enumerate(procs)]
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return {k: statistics.mean(r[k] for r in results) for k in ("step_s", "command_s", "steps", "threads")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(COCO128))
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tools", default="ours,ultralytics", help="ours, ultralytics or both")
    parser.add_argument("--settings", default="quiet,busy,twin")
    parser.add_argument("--threads", type=int, default=None, help="force torch threads for both (default: each "
                                                                   "tool's own default)")
    parser.add_argument("--workers", type=int, default=None, help="ours: data-loading workers (default: its own)")
    parser.add_argument("--ultralytics-python", default=sys.executable,
                        help="interpreter that has ultralytics installed (default: this one)")
    parser.add_argument("--output", default="runs/benchmark/contention")
    parser.add_argument("--child", choices=["ours", "ultralytics"], help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    parser.add_argument("--stamps", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.child:
        {"ours": child_ours, "ultralytics": child_ultralytics}[opts.child](opts)
        return 0

    tools, settings = opts.tools.split(","), opts.settings.split(",")
    output = Path(opts.output)
    output.mkdir(parents=True, exist_ok=True)
    header = (f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at the start; "
              f"one epoch on {opts.data}, imgsz {opts.imgsz}, batch {opts.batch}; {opts.rounds} round(s)")
    print(header)
    rows: dict[tuple[str, str], list[dict]] = {(t, s): [] for t in tools for s in settings}
    with tempfile.TemporaryDirectory(prefix="contention-") as tmp:
        for r in range(opts.rounds):
            for setting in settings:
                for tool in tools:
                    result = measure(tool, setting, opts, Path(tmp), f"{setting}-{r}")
                    rows[(tool, setting)].append(result)
                    print(f"round {r + 1} {tool:>11} {setting:>5}: {result['step_s']:.3f} s/step "
                          f"({result['steps']:.0f} steps, {result['threads']:.0f} thread(s)), command "
                          f"{result['command_s']:.1f} s", flush=True)
    table = ["| tool | setting | threads | s/step | step slowdown | command s | command slowdown |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    csv = ["tool,setting,threads,step_s,step_slowdown,command_s,command_slowdown"]
    for tool in tools:
        quiet = rows.get((tool, "quiet"))
        base_step = statistics.median(r["step_s"] for r in quiet) if quiet else None
        base_cmd = statistics.median(r["command_s"] for r in quiet) if quiet else None
        for setting in settings:
            runs = rows[(tool, setting)]
            step, cmd = (statistics.median(r[k] for r in runs) for k in ("step_s", "command_s"))
            threads = statistics.median(r["threads"] for r in runs)
            step_x = step / base_step if base_step else float("nan")
            cmd_x = cmd / base_cmd if base_cmd else float("nan")
            table.append(f"| {tool} | {SETTINGS[setting]} | {threads:.0f} | {step:.3f} | {step_x:.2f}x | {cmd:.1f} | "
                         f"{cmd_x:.2f}x |")
            csv.append(f"{tool},{setting},{threads:.0f},{step:.4f},{step_x:.3f},{cmd:.2f},{cmd_x:.3f}")
    text = "\n".join(table)
    print("\n" + text)
    (output / "contention.md").write_text(f"{header}\n\ncommand: `{' '.join(['python', *sys.argv])}`\n\n{text}\n")
    (output / "contention.csv").write_text("\n".join(csv) + "\n")
    print(f"\nwrote {output / 'contention.md'} and {output / 'contention.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
