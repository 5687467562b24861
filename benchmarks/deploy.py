"""Deployment runtimes side by side: latency in PyTorch, onnxruntime and OpenVINO, fp32 and INT8, and what INT8
costs in accuracy.

1. Latency: gelan-c and gelan-c-focal at 640, batch 1 (``focalyolo benchmark --backends channels_last,onnxruntime,
   onnxruntime-int8,openvino,openvino-int8[,tensorrt]``: every row timed in turns, so load drift hits them alike;
   INT8 calibrated on synthetic images), then the ratio of OpenVINO INT8 to onnxruntime INT8 latency per model.
2. Accuracy: a trained checkpoint (``--weights``; by default the README's first command is run, ``focalyolo
   train``: yolov9-t-focal on the built-in synthetic data) exported to each runtime and validated on the synthetic
   val set (pycocotools mAP50-95 and mAP50) against the PyTorch checkpoint.

    python benchmarks/deploy.py --threads 2 --wait-load 1.5
    python benchmarks/deploy.py --weights runs/train/exp/weights/best.pt --skip-latency

Writes ``benchmark.md`` / ``.csv`` (latency) and ``accuracy.md`` under ``--output``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

import torch

from focalyolo.analysis.models import benchmark_models
from focalyolo.analysis.timing import machine_info, wait_for_quiet
from focalyolo.cfg import ValConfig
from focalyolo.deploy.export import export_model
from focalyolo.engine.trainer import train
from focalyolo.engine.validator import val
from focalyolo.weights.sources import load_source

LATENCY_BACKENDS = ["channels_last", "onnxruntime", "onnxruntime-int8", "openvino", "openvino-int8"]
RUNTIMES = {  # accuracy rows: (export format, INT8, which written file)
    "onnxruntime": ("onnx", False, 0), "onnxruntime-int8": ("onnx", True, 1),
    "openvino": ("openvino", False, 0), "openvino-int8": ("openvino", True, 1),
}


def latency(opts: argparse.Namespace) -> None:
    backends = LATENCY_BACKENDS + (["tensorrt"] if torch.cuda.is_available() else [])
    command = (f"focalyolo benchmark --models {opts.models} --imgsz {opts.imgsz} --batch 1 --backends "
               f"{','.join(backends)} --runs {opts.runs} --warmup {opts.warmup} --max-seconds {opts.max_seconds:g} "
               f"--data synthetic" + (f" --threads {opts.threads}" if opts.threads else ""))
    print(f"### latency: {command}\n")
    rows = benchmark_models(opts.models.split(","), [opts.imgsz], [1], opts.runs, opts.warmup, backends, "cpu",
                            opts.max_seconds, opts.output / "latency", command, data="synthetic")
    median = {(r["model"], r["backend"]): r["median_ms"] for r in rows}
    for model in opts.models.split(","):
        if (model, "openvino-int8") in median and (model, "onnxruntime-int8") in median:
            ratio = median[model, "openvino-int8"] / median[model, "onnxruntime-int8"]
            print(f"{model}: OpenVINO INT8 {median[model, 'openvino-int8']:.1f} ms / onnxruntime INT8 "
                  f"{median[model, 'onnxruntime-int8']:.1f} ms = {ratio:.2f}x")


def accuracy(opts: argparse.Namespace) -> None:
    weights = opts.weights
    if weights is None:
        print("### accuracy: training the README's first command's model (focalyolo train) ...")
        weights = train(project=str(opts.output), name="train", exist_ok=True, verbose=False) / "weights" / "best.pt"
    model = load_source(weights)
    imgsz = int(model.train_args.get("imgsz") or 640)
    data = model.train_args.get("data") or "synthetic"
    lines = [f"checkpoint {weights} (imgsz {imgsz}, data {data}); each export validated with `focalyolo val` "
             "(pycocotools on the val split; exports with --dynamic, so every runtime sees the same rect batches)", "",
             "| runtime | mAP50-95 | mAP50 | Δ mAP50-95 vs PyTorch | export s |", "| --- | ---: | ---: | ---: | ---: |"]
    reference = None
    for name in ["pytorch", *RUNTIMES]:
        start = time.perf_counter()
        if name == "pytorch":
            source = str(weights)
        else:
            format, int8, index = RUNTIMES[name]
            with contextlib.redirect_stdout(io.StringIO()):
                paths = export_model(model, format, opts.output / "exports" / format, imgsz=imgsz, dynamic=True,
                                     int8=int8, data=data if int8 else None)
            source = str(paths[index])
        seconds = time.perf_counter() - start
        scores = val(ValConfig(model=source, data=data, imgsz=imgsz, project=str(opts.output / "val"), name=name,
                               exist_ok=True, verbose=False, plots=False))
        ap, ap50 = scores["coco/AP50-95"], scores["coco/AP50"]
        reference = ap if reference is None else reference
        lines.append(f"| {name} | {ap:.4f} | {ap50:.4f} | {ap - reference:+.4f} | {seconds:.0f} |")
        print(lines[-1])
    (opts.output / "accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="gelan-c,gelan-c-focal")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time budget per latency row")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--wait-load", type=float, default=None, help="wait up to 5 min for a load below this")
    parser.add_argument("--weights", type=Path, default=None, help="checkpoint for the accuracy rows")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark/deploy"))
    opts = parser.parse_args(argv)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    if opts.wait_load:
        wait_for_quiet(opts.wait_load)
    opts.output.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d')}, {machine_info().line()}")
    if not opts.skip_latency:
        latency(opts)
    if not opts.skip_accuracy:
        accuracy(opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
