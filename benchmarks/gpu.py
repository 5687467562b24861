"""focalyolo on one GPU: training wall time and epoch time, fp16 latency, and the focal block against
self-attention, in one table. Nothing is downloaded: the data is generated, every model is built from its config.

Rows (``--small`` shrinks every size, see below):

a. the README command, ``focalyolo train --device cuda`` (yolov9-t-focal, built-in synthetic data, 160 px,
   batch 8, 10 epochs, validation every epoch), run as a separate process: wall time from start to exit;
b. training seconds per epoch, the mean of epochs 2 and after (the first one also times cuDNN's kernel choice and
   the allocator's growth), at 640 px, batch 32, on the same generated images (mosaic on, no validation): gelan-c,
   gelan-c-focal and yolov9-c-focal (PGI, two heads), and Ultralytics' yolov9c (from its yaml, no weights) when
   ``import ultralytics`` works; the runs take turns (``--rounds`` > 1 repeats the turn, median reported);
   each framework's default mixed precision (fp16) and determinism;
c. inference latency of the fused models (as deployed: PGI branch dropped, BN folded) in fp16 at 640, batch 1
   and 32, median of runs timed in turns, each synchronised; Ultralytics' fused yolov9c beside them;
d. one context block alone on gelan-c's P4 map (512 channels, side imgsz / 16) at 1280, 1920 and 2560 px,
   batch 8, fp16: FocalModulationBlock against SelfAttentionBlock (global attention through torch's scaled
   dot-product kernel), median time and the peak memory allocated during one call above what was held before.

    python benchmarks/gpu.py                         # the full table, about 5 minutes on one recent GPU
    python benchmarks/gpu.py --device cpu --small    # every row at toy sizes, under a minute: checks the script

``--small``: (a) one epoch at 64 px on 8 generated images, (b) gelan-t, gelan-t-focal, yolov9-t-focal (and
Ultralytics' yolov9t) for 2 epochs of 2 steps at 64 px, (c) 64 px, batch 1 and 2, (d) P4 of 128 and 256 px,
batch 1. On a CPU every row runs in float32.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_VERBOSE", "False")

import torch  # noqa: E402
import yaml  # noqa: E402

from focalyolo import build_model  # noqa: E402
from focalyolo.analysis.blocks import BLOCKS, CHANNELS, LEVEL_STRIDE, fused_block, peak_memory_bytes  # noqa: E402
from focalyolo.analysis.table import Column, render_text  # noqa: E402
from focalyolo.analysis.timing import cpu_name, measure, measure_interleaved  # noqa: E402
from focalyolo.data import generate_synthetic  # noqa: E402
from focalyolo.weights.convert import deployment_form  # noqa: E402

COLUMNS = [Column("part", "part"), Column("what", "what"), Column("setting", "setting"),
           Column("value", "value", ".2f"), Column("unit", "unit"), Column("peak_mb", "peak MB", ".1f")]


@dataclass(frozen=True)
class Plan:
    """The sizes of one run of the script (full or ``--small``)."""

    readme_args: tuple[str, ...]
    train_models: tuple[str, ...]
    ultralytics_train: str
    train_imgsz: int
    train_batch: int
    train_epochs: int
    train_images: int
    latency_models: tuple[str, ...]
    ultralytics_latency: str
    latency_imgsz: int
    latency_batches: tuple[int, ...]
    latency_runs: int
    block_sizes: tuple[int, ...]
    block_batch: int
    block_runs: int


FULL = Plan(readme_args=(), train_models=("gelan-c", "gelan-c-focal", "yolov9-c-focal"),
            ultralytics_train="yolov9c.yaml", train_imgsz=640, train_batch=32, train_epochs=3, train_images=320,
            latency_models=("gelan-c", "gelan-c-focal", "yolov9-c-focal"), ultralytics_latency="yolov9c.yaml",
            latency_imgsz=640, latency_batches=(1, 32), latency_runs=50, block_sizes=(1280, 1920, 2560),
            block_batch=8, block_runs=20)
SMALL = Plan(readme_args=("--epochs", "1", "--imgsz", "64", "--batch", "4", "--workers", "0", "--no-plots"),
             train_models=("gelan-t", "gelan-t-focal", "yolov9-t-focal"), ultralytics_train="yolov9t.yaml",
             train_imgsz=64, train_batch=2, train_epochs=2, train_images=4,
             latency_models=("gelan-t", "gelan-t-focal", "yolov9-t-focal"), ultralytics_latency="yolov9t.yaml",
             latency_imgsz=64, latency_batches=(1, 2), latency_runs=3, block_sizes=(128, 256), block_batch=1,
             block_runs=3)


def has_ultralytics() -> bool:
    """Whether Ultralytics is installed (found, not imported: importing it patches ``cv2.imread`` process-wide)."""
    return importlib.util.find_spec("ultralytics") is not None


def gpu_lines(device: torch.device) -> list[str]:
    """Date, machine, GPU name, driver and torch: the table's header."""
    gpu, driver = "none", "none"
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        if shutil.which("nvidia-smi"):
            query = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True, check=False)
            driver = query.stdout.strip().splitlines()[0] if query.stdout.strip() else "unknown"
    return [f"date: {time.strftime('%Y-%m-%d %H:%M')}",
            f"machine: {platform.node()}; {cpu_name()}, {os.cpu_count()} cores",
            f"GPU: {gpu}; driver {driver}",
            f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})"]


# ------------------------------------------------------------------------------------------------ a. README
def part_readme(plan: Plan, device: str, folder: Path) -> list[dict[str, Any]]:
    """The README's ``focalyolo train`` in its own process (``--small``: on a few generated images)."""
    args = ["train", "--device", device, "--project", str(folder / "readme"), *plan.readme_args]
    if plan.readme_args:
        args += ["--data", str(generate_synthetic(folder / "readme-data", n_train=8, n_val=4, imgsz=64, seed=0))]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "focalyolo", *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"focalyolo {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    shown = ["train", "--device", device, *plan.readme_args] + (["--data", "(8 generated images)"] if plan.readme_args
                                                                 else [])
    setting = "focalyolo " + " ".join(shown)
    return [{"part": "a", "what": "README command, wall time", "setting": setting, "value": seconds, "unit": "s"}]


# ---------------------------------------------------------------------------------------------- b. epochs
def epochs_ours(model: str, data: Path, plan: Plan, device: str, folder: Path) -> list[float]:
    """Seconds of each training epoch of ``model`` (no validation, no checkpoints)."""
    from focalyolo.cfg import TrainConfig
    from focalyolo.engine.trainer import Trainer

    cfg = TrainConfig(model=model, data=str(data), epochs=plan.train_epochs, imgsz=plan.train_imgsz,
                      batch=plan.train_batch, device=device, val=False, plots=False, verbose=False,
                      project=str(folder), name=model, exist_ok=True, close_mosaic=0)
    trainer = Trainer(cfg)
    seconds = [trainer.train_epoch(epoch).seconds for epoch in range(plan.train_epochs)]
    del trainer
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return seconds


def epochs_ultralytics(cfg: str, data: Path, plan: Plan, device: str, folder: Path) -> list[float]:
    """Seconds of each training epoch of Ultralytics' model ``cfg`` (its yaml: no weights), from its callbacks."""
    from ultralytics import YOLO

    starts: list[float] = []
    ends: list[float] = []
    yolo = YOLO(cfg)
    spec = yaml.safe_load(data.read_text())
    spec["path"] = str(data.parent.resolve())  # Ultralytics resolves "path: ." against its own datasets folder
    data = data.with_name("data-ultralytics.yaml")
    data.write_text(yaml.safe_dump(spec))
    yolo.add_callback("on_train_epoch_start", lambda _: starts.append(time.perf_counter()))
    yolo.add_callback("on_train_epoch_end", lambda _: ends.append(time.perf_counter()))
    ultra_device = "cpu" if device == "cpu" else device.removeprefix("cuda:").replace("cuda", "0")
    with contextlib.redirect_stdout(io.StringIO()):
        yolo.train(data=str(data), epochs=plan.train_epochs, imgsz=plan.train_imgsz, batch=plan.train_batch,
                   device=ultra_device, val=False, plots=False, close_mosaic=0, project=str(folder), name=cfg,
                   exist_ok=True, verbose=False, seed=0)
    return [end - start for start, end in zip(starts, ends)]


def part_epochs(plan: Plan, device: str, folder: Path, rounds: int) -> list[dict[str, Any]]:
    data = generate_synthetic(folder / "train-data", n_train=plan.train_images, n_val=4, imgsz=plan.train_imgsz,
                              seed=0)
    runs: dict[str, Callable[[], list[float]]] = {
        model: (lambda m=model: epochs_ours(m, data, plan, device, folder)) for model in plan.train_models}
    if has_ultralytics():
        runs[f"ultralytics {plan.ultralytics_train.removesuffix('.yaml')}"] = (
            lambda: epochs_ultralytics(plan.ultralytics_train, data, plan, device, folder))
    later: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            seconds = run()
            later[name].append(statistics.mean(seconds[1:] or seconds))
    setting = (f"{plan.train_imgsz} px, batch {plan.train_batch}, {plan.train_images} images, epochs 2-"
               f"{plan.train_epochs}")
    return [{"part": "b", "what": f"{name}, training epoch", "setting": setting,
             "value": statistics.median(values), "unit": "s/epoch"} for name, values in later.items()]


# --------------------------------------------------------------------------------------------- c. latency
def ultralytics_fused(cfg: str) -> torch.nn.Module:
    from ultralytics import YOLO

    with contextlib.redirect_stdout(io.StringIO()):
        return YOLO(cfg).model.fuse().eval()


def part_latency(plan: Plan, device: torch.device) -> list[dict[str, Any]]:
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    nets = {f"{name} (fused)": deployment_form(build_model(name)) for name in plan.latency_models}
    if has_ultralytics():
        nets[f"ultralytics {plan.ultralytics_latency.removesuffix('.yaml')} (fused)"] = ultralytics_fused(
            plan.ultralytics_latency)
    nets = {name: net.to(device, dtype).eval() for name, net in nets.items()}
    rows = []
    for batch in plan.latency_batches:
        x = torch.rand(batch, 3, plan.latency_imgsz, plan.latency_imgsz, device=device, dtype=dtype)

        def call(net: torch.nn.Module, images: torch.Tensor = x) -> Callable[[], Any]:
            return lambda: net(images)

        with torch.inference_mode():
            timings = measure_interleaved({name: call(net) for name, net in nets.items()}, warmup=3,
                                          runs=plan.latency_runs, device=device)
        rows += [{"part": "c", "what": f"{name}, latency", "unit": "ms", "value": 1000 * timing.median,
                  "setting": f"{plan.latency_imgsz} px, batch {batch}, {str(dtype).removeprefix('torch.')}"}
                 for name, timing in timings.items()]
    return rows


# ---------------------------------------------------------------------------------------------- d. blocks
def peak_mb(fn: Callable[[], Any], device: torch.device) -> float:
    """Memory allocated at the peak of one ``fn()`` above what was allocated before it, in MB."""
    if device.type != "cuda":
        return peak_memory_bytes(fn) / 1e6
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 1e6


def part_blocks(plan: Plan, device: torch.device) -> list[dict[str, Any]]:
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    rows = []
    for size in plan.block_sizes:
        side = size // LEVEL_STRIDE["P4"]
        x = torch.randn(plan.block_batch, CHANNELS, side, side, device=device, dtype=dtype)
        setting = f"P4 of {size} px ({side}x{side}), batch {plan.block_batch}, {str(dtype).removeprefix('torch.')}"
        for name, make in BLOCKS.items():
            block = fused_block(make()).to(device, dtype)

            def call(net: torch.nn.Module = block) -> Any:
                with torch.inference_mode():
                    return net(x)

            try:
                timing = measure(call, warmup=2, runs=plan.block_runs, device=device)
                peak = peak_mb(call, device)
                value = 1000 * timing.median
            except torch.cuda.OutOfMemoryError:
                value, peak = float("nan"), float("nan")
                setting_row = setting + " (out of memory)"
            else:
                setting_row = setting
            rows.append({"part": "d", "what": f"{name} block, one call", "setting": setting_row, "value": value,
                         "unit": "ms", "peak_mb": peak})
            del block
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--small", action="store_true", help="every row at toy sizes (a check of the script)")
    parser.add_argument("--parts", default="a,b,c,d", help="comma-separated subset of a, b, c, d")
    parser.add_argument("--rounds", type=int, default=1, help="turns of part b (median reported)")
    opts = parser.parse_args(argv)
    device = torch.device(opts.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu --small to check the script")
        return 2
    plan = SMALL if opts.small else FULL
    parts = set(opts.parts.split(","))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="focalyolo-gpu-") as tmp:
        folder = Path(tmp)
        if "a" in parts:
            rows += part_readme(plan, opts.device, folder)
        if "b" in parts:
            rows += part_epochs(plan, opts.device, folder, opts.rounds)
    # the trainers leave torch deterministic (and Ultralytics' may not): time inference in torch's default mode,
    # with cuDNN picking its fastest kernels for these fixed sizes
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
    if "c" in parts:
        rows += part_latency(plan, device)
    if "d" in parts:
        rows += part_blocks(plan, device)
    print("\n".join(gpu_lines(device)))
    if not has_ultralytics():
        print("ultralytics: not installed (its rows are left out)")
    print(render_text(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
