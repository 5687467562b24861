"""INT8 (onnxruntime static quantization) against fp32: accuracy and latency of one trained checkpoint.

Exports the checkpoint's inference form to ONNX, quantizes it as ``focalyolo export --int8`` does (calibrated
on training images), then scores the fused PyTorch model, the fp32 ONNX file and the INT8 file on the same
val loader (square letterbox at ``--imgsz``, so all three see identical pixels) and times batch-1 inference of
each, in turns. Prints one table and the mAP50-95 drop of INT8 in points.

    python benchmarks/int8.py --weights runs/train/exp/weights/best.pt --data synthetic --imgsz 160
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

import torch

from focalyolo.benchmark.timing import machine_info, measure_interleaved
from focalyolo.data import load_data_config
from focalyolo.deploy.checkpoint import load_model
from focalyolo.deploy.convert import deployment_form
from focalyolo.deploy.export import export_onnx
from focalyolo.deploy.onnx_model import OnnxDetector
from focalyolo.deploy.quantize import calibration_dataset, quantize_int8
from focalyolo.engine.validator import build_val_loader, validate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="trained checkpoint (.pt)")
    parser.add_argument("--data", default="synthetic", help="dataset: val split scored, train split calibrates")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--calib-images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--runs", type=int, default=30, help="timed batch-1 runs per backend")
    opts = parser.parse_args(argv)
    torch.set_num_threads(opts.threads)
    config = load_data_config(opts.data)
    folder = Path(tempfile.mkdtemp(prefix="focalyolo-int8-"))
    model = load_model(opts.weights, "cpu")
    fp32, int8 = folder / "model.onnx", folder / "model-int8.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        export_onnx(model, fp32, imgsz=opts.imgsz)
    quantize_int8(fp32, int8, calibration_dataset("detect", opts.data, opts.imgsz), count=opts.calib_images)
    backends = {"PyTorch fused fp32": deployment_form(model), "onnxruntime fp32": OnnxDetector(fp32, opts.threads),
                "onnxruntime INT8": OnnxDetector(int8, opts.threads)}
    loader = build_val_loader(backends["onnxruntime fp32"], config.val, opts.imgsz, 16, 0, config.nc)
    scores = {name: validate(net, loader, names=config.names, coco=True, verbose=False)
              for name, net in backends.items()}
    x = torch.rand(1, 3, opts.imgsz, opts.imgsz)

    def forward(net: torch.nn.Module):
        def fn():
            with torch.inference_mode():
                return net(x)
        return fn

    timings = measure_interleaved({name: forward(net) for name, net in backends.items()}, warmup=3, runs=opts.runs)
    print(f"machine: {machine_info().line()}; {opts.threads} thread(s)")
    print(f"weights {opts.weights}, data {config.source} (val {len(loader.dataset)} images), imgsz {opts.imgsz}, "
          f"INT8 calibrated on {opts.calib_images} train images")
    print(f"{'backend':>20} {'mAP50':>7} {'mAP50-95':>9} {'COCO AP':>8} {'ms (b1)':>8} {'size MB':>8}")
    sizes = {"PyTorch fused fp32": None, "onnxruntime fp32": fp32.stat().st_size,
             "onnxruntime INT8": int8.stat().st_size}
    for name, result in scores.items():
        size = f"{sizes[name] / 1e6:8.2f}" if sizes[name] else f"{'':>8}"
        print(f"{name:>20} {result['metrics/mAP50(B)']:7.3f} {result['metrics/mAP50-95(B)']:9.3f} "
              f"{result['coco/AP50-95']:8.3f} {1000 * timings[name].median:8.1f} {size}")
    drop = 100 * (scores["onnxruntime fp32"]["coco/AP50-95"] - scores["onnxruntime INT8"]["coco/AP50-95"])
    speedup = timings["onnxruntime fp32"].median / timings["onnxruntime INT8"].median
    print(f"INT8 - fp32 (onnxruntime): COCO AP50-95 {-drop:+.1f} points (bar: within 1.0: "
          f"{'met' if abs(drop) <= 1.0 else 'missed'}); INT8 is {speedup:.2f}x faster than fp32 onnxruntime")
    return 0


if __name__ == "__main__":
    sys.exit(main())
