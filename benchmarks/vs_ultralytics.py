"""focalyolo vs Ultralytics, side by side in one process on one machine (CPU).

Measures, when the optional ``ultralytics`` package is importable (``pip install ultralytics``; it is never a
dependency of focalyolo), and prints the ratios:

1. training throughput (images/s, steady state: the first step of the epoch excluded): our gelan-t vs
   Ultralytics yolov9t, same data (coco128), imgsz 320, batch 16, 1 epoch, same data-loader workers and torch
   threads, mosaic on for both; also our yolov9-t (PGI) ÷ gelan-t step time;
2. inference latency: our fused gelan-c vs Ultralytics' fused yolov9c, 640, batch 1, same threads, timed in
   turns, in NCHW and in channels-last (Ultralytics' predictor uses channels-last on x86 CPUs); GFLOPs of both
   counted by the same counter, achieved GFLOP/s against the matmul peak of this run;
3. end-to-end predict throughput over the coco128 image folder (decode, letterbox, forward, NMS), batch 1,
   640, tiny models (gelan-t vs yolov9t).

Ultralytics runs offline (``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=False``), models are built from yaml names, so
nothing is downloaded; ``plots=False`` and ``amp=False``. Note Ultralytics' own CPU rules: it forces
``workers=0`` for CPU training and sets torch to ``min(8, cores - 1)`` threads; we match both by default.

    python benchmarks/vs_ultralytics.py                     # all three parts
    python benchmarks/vs_ultralytics.py --parts latency --runs 20 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_VERBOSE", "False")

import torch  # noqa: E402

from focalyolo import build_model  # noqa: E402
from focalyolo.analysis.flops import model_gflops  # noqa: E402
from focalyolo.analysis.timing import LoadMonitor, machine_info, matmul_peak, measure_interleaved, wait_for_quiet  # noqa: E402
from focalyolo.weights.convert import deployment_form  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COCO128 = REPO.parent / "shared" / "data" / "coco128" / "data.yaml"


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f}"


# ----------------------------------------------------------------------------------------------- training
def steady_rate(stamps: list[float], batch: int) -> float:
    """Images/s between the end of the first step and the end of the last."""
    if len(stamps) < 2:
        return float("nan")
    return (len(stamps) - 1) * batch / (stamps[-1] - stamps[0])


def train_ours(model: str, data: str, imgsz: int, batch: int, workers: int, threads: int, folder: Path) -> dict:
    from focalyolo.cfg import TrainConfig
    from focalyolo.engine.trainer import Trainer

    stamps: list[float] = []
    args = TrainConfig(model=model, data=data, epochs=1, imgsz=imgsz, batch=batch, workers=workers, device="cpu",
                       close_mosaic=0, val=False, plots=False, verbose=False, project=str(folder), name=model,
                       exist_ok=True, threads=threads)
    trainer = Trainer(args, on_step=lambda *_: stamps.append(time.perf_counter()))
    t0 = time.perf_counter()
    trainer.train()
    return {"steady": steady_rate(stamps, batch), "steps": len(stamps), "epoch_s": stamps[-1] - t0,
            "threads": torch.get_num_threads()}


def train_ultralytics(cfg: str, data: str, imgsz: int, batch: int, workers: int, folder: Path) -> dict:
    from ultralytics import YOLO

    stamps: list[float] = []
    start: list[float] = []
    yolo = YOLO(cfg)
    yolo.add_callback("on_train_epoch_start", lambda _: start.append(time.perf_counter()))
    yolo.add_callback("on_train_batch_end", lambda _: stamps.append(time.perf_counter()))
    with contextlib.redirect_stdout(io.StringIO()):
        yolo.train(data=data, epochs=1, imgsz=imgsz, batch=batch, workers=workers, device="cpu", amp=False,
                   plots=False, val=False, close_mosaic=0, project=str(folder), name=cfg, exist_ok=True,
                   verbose=False, seed=0)
    return {"steady": steady_rate(stamps, batch), "steps": len(stamps), "epoch_s": stamps[-1] - start[0],
            "threads": torch.get_num_threads()}


def part_training(opts: argparse.Namespace, threads: int) -> dict:
    print(f"\n== 1. training throughput: coco128, imgsz {opts.train_imgsz}, batch {opts.train_batch}, 1 epoch, "
          f"workers {opts.workers}, {threads} torch thread(s), mosaic on ==")
    runs: dict[str, list[dict]] = {"ours gelan-t": [], "ultralytics yolov9t": [], "ours yolov9-t (PGI)": []}
    with tempfile.TemporaryDirectory(prefix="vs-ultra-") as tmp:
        for r in range(opts.rounds):
            for name in runs:
                with LoadMonitor() as load:
                    if name.startswith("ultralytics"):
                        result = train_ultralytics("yolov9t.yaml", str(opts.data), opts.train_imgsz, opts.train_batch,
                                                   opts.workers, Path(tmp))
                    else:
                        model = "yolov9-t" if "PGI" in name else "gelan-t"
                        result = train_ours(model, str(opts.data), opts.train_imgsz, opts.train_batch, opts.workers,
                                            threads, Path(tmp))
                result.update(load=load.load1, others=load.others)
                runs[name].append(result)
                print(f"round {r + 1} {name:>22}: {result['steady']:6.2f} img/s steady ({result['steps']} steps, "
                      f"epoch {result['epoch_s']:.1f} s, {result['threads']} threads), load {load.load1:.2f}, "
                      f"others {load.others if load.others is None else round(load.others, 2)}")
    median = {name: statistics.median(r["steady"] for r in rs) for name, rs in runs.items()}
    print(f"\n{'':>24} {'img/s (median of rounds)':>26}")
    for name, value in median.items():
        print(f"{name:>24} {value:26.2f}")
    ratio = median["ours gelan-t"] / median["ultralytics yolov9t"]
    pgi = median["ours gelan-t"] / median["ours yolov9-t (PGI)"]
    verdict = "met" if ratio >= 1.1 else "missed"
    print(f"ratio ours/Ultralytics training throughput: {ratio:.2f}x (bar >= 1.1x: {verdict})")
    print(f"PGI cost: yolov9-t step time / gelan-t step time = {pgi:.2f}x")
    return {"train_ratio": ratio, "pgi_cost": pgi, **{f"train {k}": v for k, v in median.items()}}


# ---------------------------------------------------------------------------------------------- inference
def ultralytics_net(cfg: str) -> torch.nn.Module:
    from ultralytics import YOLO

    with contextlib.redirect_stdout(io.StringIO()):
        return YOLO(cfg).model.fuse().eval()


def part_latency(opts: argparse.Namespace, threads: int, peak: float) -> dict:
    """Both fused models, NCHW (plain ``model(x)``) and channels-last (how Ultralytics' predictor runs a
    PyTorch model on x86 CPUs), all four timed in turns."""
    torch.set_num_threads(threads)
    print(f"\n== 2. inference latency: fused gelan-c vs fused yolov9c, {opts.imgsz}, batch 1, {threads} thread(s), "
          f"{opts.runs} runs each in turns ==")
    nets = {"ours gelan-c": deployment_form(build_model("gelan-c")),
            "ultralytics yolov9c": ultralytics_net("yolov9c.yaml")}
    torch.set_num_threads(threads)  # Ultralytics' select_device may have reset it
    gflops = {name: model_gflops(net, opts.imgsz) for name, net in nets.items()}
    x = torch.rand(1, 3, opts.imgsz, opts.imgsz)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def call(net, images):
        def fn():
            with torch.inference_mode():
                return net(images)
        return fn

    fns = {name: call(net, x) for name, net in nets.items()}
    fns.update({f"{name} (channels-last)": call(copy.deepcopy(net).to(memory_format=torch.channels_last), x_cl)
                for name, net in nets.items()})
    folder = Path(tempfile.mkdtemp(prefix="focalyolo-int8-"))
    for name, detector in onnx_detectors(nets["ours gelan-c"], opts, folder).items():
        fns[name] = call(detector, x)
        gflops[name] = gflops["ours gelan-c"]
        nets[name] = nets["ours gelan-c"]
    with LoadMonitor() as load:
        timings = measure_interleaved(fns, warmup=opts.warmup, runs=opts.runs)
    peak = max(peak, matmul_peak())  # a busy moment at the start must not set the bar
    print(f"{'':>38} {'params (M)':>10} {'GFLOPs':>7} {'median ms':>10} {'p10':>8} {'p90':>8} {'GFLOP/s':>8} "
          f"{'% peak':>7}")
    for name, timing in timings.items():
        base = name.removesuffix(" (channels-last)")  # ONNX rows: fp32 GFLOPs of the same network
        rate = gflops[base] / timing.median
        print(f"{name:>38} {sum(p.numel() for p in nets[base].parameters()) / 1e6:10.2f} {gflops[base]:7.1f} "
              f"{1000 * timing.median:10.1f} {1000 * timing.p10:8.1f} {1000 * timing.p90:8.1f} {rate:8.1f} "
              f"{100 * rate / peak:7.0f}")
    ratio = timings["ours gelan-c"].median / timings["ultralytics yolov9c"].median
    ratio_cl = timings["ours gelan-c (channels-last)"].median / timings["ultralytics yolov9c (channels-last)"].median
    print(f"load {load.load1:.2f}, others {load.others if load.others is None else round(load.others, 2)}; "
          f"matmul peak {peak:.1f} GFLOP/s (best of the start of the script and right after this timing)")
    print(f"ratio ours/Ultralytics latency, NCHW: {ratio:.2f}x; channels-last: {ratio_cl:.2f}x "
          f"(bar <= 1.0x: {'met' if max(ratio, ratio_cl) <= 1.0 else 'missed'})")
    ultralytics_best = min(timings["ultralytics yolov9c"].median, timings["ultralytics yolov9c (channels-last)"].median)
    int8 = timings.get("ours gelan-c onnxruntime INT8")
    if int8 is not None:
        print(f"ratio ours INT8 (onnxruntime) / Ultralytics fp32 (faster of its two layouts): "
              f"{int8.median / ultralytics_best:.2f}x (bar <= 0.6x: "
              f"{'met' if int8.median <= 0.6 * ultralytics_best else 'missed'}); accuracy: benchmarks/deploy.py")
    if opts.profile:
        for name, net in nets.items():
            print(f"\n-- profile: {name} forward (NCHW), top ops by self CPU time --")
            print(top_ops(call(net, x)))
    if int8 is not None:
        ratio_int8 = {"latency_ratio_int8_vs_fp32": int8.median / ultralytics_best}
    else:
        ratio_int8 = {}
    return {"latency_ratio": ratio, "latency_ratio_channels_last": ratio_cl, **ratio_int8,
            **{f"latency {k} ms": 1000 * t.median for k, t in timings.items()}}


def onnx_detectors(model: torch.nn.Module, opts: argparse.Namespace, folder: Path) -> dict[str, torch.nn.Module]:
    """Our model exported to ONNX (fp32) and quantized to INT8 (calibrated on 32 training images of
    ``opts.data``), each in an onnxruntime session with the same thread count; empty without onnxruntime."""
    try:
        from focalyolo.deploy.export import export_onnx
        from focalyolo.deploy.onnx_model import OnnxModel
        from focalyolo.deploy.quantize import calibration_dataset, quantize_int8
    except ImportError as exc:
        print(f"ONNX rows skipped: {exc}")
        return {}
    fp32 = folder / "gelan-c.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        export_onnx(model, fp32, imgsz=opts.imgsz)
        calibration = calibration_dataset("detect", opts.data, opts.imgsz)
        quantize_int8(fp32, folder / "gelan-c-int8.onnx", calibration, count=32)
    return {"ours gelan-c onnxruntime fp32": OnnxModel(fp32),
            "ours gelan-c onnxruntime INT8": OnnxModel(folder / "gelan-c-int8.onnx")}


def top_ops(fn, rows: int = 15) -> str:
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            fn()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40)


# ------------------------------------------------------------------------------------------------ predict
def part_predict(opts: argparse.Namespace, threads: int) -> dict:
    """Pipelines take turns on chunks of 16 images (so load drift hits all alike); the first chunk is warm-up."""
    from ultralytics import YOLO

    from focalyolo.deploy.inference import load_inference_model
    from focalyolo.engine.predictor import expand_source, predict

    folder = opts.predict_source or opts.data.parent / "images" / "train2017"
    paths = [str(p) for p in expand_source(folder)]
    chunks = [paths[i:i + 16] for i in range(0, len(paths), 16)]
    print(f"\n== 3. predict throughput: {folder} ({len(paths)} images), {opts.imgsz}, batch 1, conf 0.25, "
          f"{threads} thread(s), pipelines in turns over chunks of 16 images, first chunk = warm-up ==")
    yolo = YOLO("yolov9t.yaml")  # Ultralytics fuses it when its predictor is set up
    fused = deployment_form(build_model("gelan-t"))
    loaded = load_inference_model("gelan-t")  # what `focalyolo predict` runs: fused and channels-last

    def ours(net):
        return lambda chunk: sum(1 for _ in predict(net, chunk, imgsz=opts.imgsz, batch=1, conf=0.25, device="cpu"))

    def theirs(chunk):
        return sum(1 for _ in yolo.predict(source=chunk, imgsz=opts.imgsz, batch=1, conf=0.25, stream=True,
                                           verbose=False, save=False, device="cpu"))

    pipelines = {"ours gelan-t (fused)": ours(fused), "ultralytics yolov9t (fused)": theirs,
                 "ours gelan-t (fused, channels-last, as predict loads a .pt)": ours(loaded)}
    seconds = {name: 0.0 for name in pipelines}
    images = {name: 0 for name in pipelines}
    with LoadMonitor() as load:
        for i, chunk in enumerate(chunks):
            for name, run in pipelines.items():
                torch.set_num_threads(threads)
                t0 = time.perf_counter()
                n = run(chunk)
                if i:
                    seconds[name] += time.perf_counter() - t0
                    images[name] += n
    rates = {name: images[name] / seconds[name] for name in pipelines}
    for name, rate in rates.items():
        print(f"{name:>60}: {rate:6.2f} img/s ({images[name]} images timed)")
    ratio = rates["ours gelan-t (fused)"] / rates["ultralytics yolov9t (fused)"]
    print(f"load {load.load1:.2f}, others {load.others if load.others is None else round(load.others, 2)}")
    print(f"ratio ours/Ultralytics predict throughput: {ratio:.2f}x")
    return {"predict_ratio": ratio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="train,latency,predict", help="comma-separated: train, latency, predict")
    parser.add_argument("--data", type=Path, default=COCO128)
    parser.add_argument("--predict-source", type=Path, default=None,
                        help="image folder for part 3 (default: the coco128 images)")
    parser.add_argument("--train-imgsz", type=int, default=320)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0, help="data-loader workers (Ultralytics forces 0 on CPU)")
    parser.add_argument("--rounds", type=int, default=2, help="training rounds (alternating; median reported)")
    parser.add_argument("--imgsz", type=int, default=640, help="inference and predict size")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both (default: what Ultralytics picks, min(8, cores - 1))")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler top ops of the inference models")
    parser.add_argument("--wait-load", type=float, default=1.5, help="wait up to 5 min for a load below this first")
    opts = parser.parse_args(argv)
    try:
        import ultralytics
        import ultralytics.utils.torch_utils as ultra_torch
    except ImportError:
        print("ultralytics is not installed: nothing to compare (pip install ultralytics to run this benchmark)")
        return 0
    if not opts.data.is_file():
        print(f"{opts.data} not found: the comparison needs coco128 (../shared/data/coco128)")
        return 0
    threads = opts.threads or ultra_torch.NUM_THREADS
    ultra_torch.NUM_THREADS = threads  # Ultralytics resets torch threads to this in select_device
    wait_for_quiet(opts.wait_load)
    torch.set_num_threads(threads)
    info = machine_info()
    peak = matmul_peak()
    print(f"machine: {info.line()}; ultralytics {ultralytics.__version__}")
    print(f"fp32 matmul peak (2048x2048, {threads} threads): {peak:.1f} GFLOP/s; {load_text()}")
    parts = set(opts.parts.split(","))
    summary = {}
    if "train" in parts:
        summary.update(part_training(opts, threads))
    # our Trainer leaves torch's deterministic mode on (with its NaN fill of every new tensor), Ultralytics'
    # switches it off after training: start the inference parts from the same, default state
    torch.use_deterministic_algorithms(False)
    if "latency" in parts:
        summary.update(part_latency(opts, threads, peak))
    if "predict" in parts:
        summary.update(part_predict(opts, threads))
    print("\n== summary ==")
    for key, value in summary.items():
        print(f"{key:>40}: {value:.3f}")
    print(f"{load_text()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
