"""Whole-model inference benchmark: parameters, GFLOPs and latency per model, input size, batch and backend.

Backends:

- ``eager``: the model as built (a ``yolov9-*`` model still runs its PGI branch), BatchNorm unfused;
- ``fused``: the deployment form: converted to GELAN when dual-headed, BatchNorm folded, RepConvN merged;
- ``channels_last``: the deployment form with weights and input in channels-last (NHWC) memory format, which
  lets oneDNN skip its layout reorders on x86 CPUs (often 10-25 % faster there);
- ``onnxruntime``: that deployment form exported to ONNX (fixed shape) and run by ONNX Runtime;
  ``onnxruntime-int8`` its INT8 (QDQ) version, calibrated on ``data``;
- ``openvino`` / ``openvino-int8``: the ONNX export converted to an OpenVINO IR (INT8: NNCF, calibrated on ``data``),
  run by OpenVINO on the CPU;
- ``tensorrt``: a TensorRT engine (CUDA only).

An exported backend whose runtime is not installed is skipped with a warning.

The rows of one (size, batch) are timed in turns, so a change in machine load hits every model and backend
alike. Each row is a median over timed runs after warm-up, with p10-p90, the GFLOP/s it achieved and that rate
as a share of the fp32 matmul peak measured at the start of the same run, and the machine load.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from ..cfg.imgsz import stride_multiple
from ..errors import FocalYoloError
from ..models import Model, build_model
from ..models.summary import count_parameters
from ..weights.convert import deployment_form
from .flops import model_gflops
from .table import Column, render_text, write_report
from .timing import LoadMonitor, machine_info, matmul_peak, measure_interleaved

LOGGER = logging.getLogger("focalyolo")

__all__ = ["BACKENDS", "COLUMNS", "CSV_KEYS", "EXPORTED", "benchmark_models", "exported_runner"]

BACKENDS = ("eager", "fused", "channels_last", "onnxruntime", "onnxruntime-int8", "openvino", "openvino-int8",
            "tensorrt")

COLUMNS = [
    Column("model", "model"), Column("backend", "backend"), Column("imgsz", "imgsz"), Column("batch", "batch"),
    Column("params", "params (M)", lambda v: f"{v / 1e6:.2f}"), Column("gflops", "GFLOPs/img", ".1f"),
    Column("runs", "runs"), Column("median_ms", "median ms", ".1f"),
    Column("p10_ms", "p10 ms", ".1f"), Column("p90_ms", "p90 ms", ".1f"), Column("img_per_s", "img/s", ".1f"),
    Column("gflop_per_s", "GFLOP/s", ".1f"), Column("peak_pct", "% peak", ".0f"),
    Column("load1", "load", ".2f"), Column("others", "others", ".2f"),
]
CSV_KEYS = [c.key for c in COLUMNS] + ["ms_per_img", "peak_gflop_per_s", "threads", "device"]


EXPORTED = {"onnxruntime": ("onnx", False), "onnxruntime-int8": ("onnx", True), "openvino": ("openvino", False),
            "openvino-int8": ("openvino", True), "tensorrt": ("engine", False)}
"""Backend -> (export format, INT8) of the backends that run an exported file."""


def exported_runner(model: Model, backend: str, imgsz: int, batch: int, folder: Path,
                    device: torch.device, data: str | Path) -> torch.nn.Module | None:
    """Export ``model`` (fixed batch and size) for ``backend`` (one of :data:`EXPORTED`; INT8 calibrated on ``data``)
    and return the runtime's model (called like the PyTorch one), or None with a logged warning when the runtime
    or its export is unavailable here."""
    from ..deploy.export import export_model
    from ..deploy.inference import load_inference_model

    format, int8 = EXPORTED[backend]
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter's own check lines would break the table
            paths = export_model(model, format, folder / f"model-{imgsz}-b{batch}", imgsz=imgsz, batch=batch,
                                 int8=int8, data=data if int8 else None)
        return load_inference_model(paths[-1], device)
    except (FocalYoloError, ImportError) as exc:
        LOGGER.warning(f"{backend} backend skipped: {' '.join(str(exc).split())[:200]}")
        return None


def _row(model: str, backend: str, imgsz: int, batch: int, params: int, gflops: float, timing, peak: float,
         load, device: torch.device) -> dict[str, Any]:
    median = timing.median
    achieved = gflops * batch / median
    return {
        "model": model, "backend": backend, "imgsz": imgsz, "batch": batch, "params": params, "gflops": gflops,
        "runs": timing.runs, "median_ms": 1000 * median, "p10_ms": 1000 * timing.p10, "p90_ms": 1000 * timing.p90,
        "ms_per_img": 1000 * median / batch, "img_per_s": batch / median, "gflop_per_s": achieved,
        "peak_pct": 100 * achieved / peak, "load1": load.load1, "others": load.others,
        "peak_gflop_per_s": peak, "threads": torch.get_num_threads(), "device": str(device),
    }


def benchmark_models(models: list[str], sizes: list[int], batches: list[int] = (1, 8), runs: int = 10,
                     warmup: int = 2, backends: list[str] = ("eager", "fused"), device: str | torch.device = "cpu",
                     max_seconds: float | None = None, output: str | Path | None = None, command: str = "",
                     log: Callable[[str], None] = print, data: str | Path = "synthetic") -> list[dict[str, Any]]:
    """Measure every (model, size, batch, backend) and return the rows; with ``output``, also write
    ``benchmark.csv`` and ``benchmark.md`` there.

    Args:
        models: packaged config names or model YAMLs (built with nc=80, random weights).
        sizes: square input sizes, each rounded up to a multiple of the models' largest stride (with a warning;
            :func:`~focalyolo.cfg.imgsz.stride_multiple`, the rule of every command).
        batches: batch sizes.
        runs, warmup: timed and untimed calls per row.
        backends: any of :data:`BACKENDS` (see the module docstring).
        device: where PyTorch runs (``cpu`` or a CUDA device).
        max_seconds: time budget per row; the rows of one (size, batch) share their budgets and are timed in
            turns, model after model and backend after backend, so load drift hits them alike; at least 3
            rounds are always timed.
        command: the command line, recorded in the Markdown report.
        data: the dataset whose train images calibrate the INT8 backends.
    """
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise FocalYoloError(f"unknown backend(s) {sorted(unknown)}; choose from {list(BACKENDS)}")
    device = torch.device(device)
    info = machine_info()
    peak = matmul_peak(device=device)
    log(f"machine: {info.line()}")
    log(f"fp32 matmul peak (2048x2048, best of 5): {peak:.1f} GFLOP/s")
    nets = {}
    for name in models:
        model = build_model(name).to(device).eval()
        deploy = deployment_form(model) if set(backends) - {"eager"} else None
        nets[Path(str(name)).name.removesuffix(".yaml")] = {
            "eager": model, "fused": deploy, **dict.fromkeys(EXPORTED, deploy),
            "channels_last": copy.deepcopy(deploy).to(memory_format=torch.channels_last)
            if "channels_last" in backends else None}
    stride = max(int(forms["eager"].stride.max()) for forms in nets.values())
    sizes = list(dict.fromkeys(stride_multiple(size, stride) for size in sizes))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="focalyolo-bench-") as tmp:
        for size in sizes:
            gflops = {(label, backend): model_gflops(forms[backend], size)
                      for label, forms in nets.items() for backend in backends}
            for batch in batches:
                images = torch.rand(batch, 3, size, size, device=device)
                fns: dict[tuple[str, str], Callable[[], Any]] = {}
                for label, forms in nets.items():
                    for backend in backends:
                        if backend in EXPORTED:
                            runtime = exported_runner(forms["eager"], backend, size, batch,
                                                      Path(tmp) / label / backend, device, data)
                            if runtime is not None:
                                fns[label, backend] = lambda net=runtime, x=images: net(x)
                            continue
                        x = images.contiguous(memory_format=torch.channels_last) if backend == "channels_last" \
                            else images

                        def fn(net=forms[backend], x=x):
                            with torch.inference_mode():
                                return net(x)
                        fns[label, backend] = fn
                budget = None if max_seconds is None else max_seconds * len(fns)
                with LoadMonitor() as load:
                    timings = measure_interleaved(fns, warmup, runs, device, budget)
                peak = max(peak, matmul_peak(device=device))  # a busy moment at the start must not set the bar
                for (label, backend), timing in timings.items():
                    params = count_parameters(nets[label][backend])
                    row = _row(label, backend, size, batch, params, gflops[label, backend], timing, peak, load, device)
                    rows.append(row)
                    log(f"{label:>16} {backend:>13} {size:>5} b{batch:<2} {row['median_ms']:9.1f} ms "
                        f"(p10 {row['p10_ms']:.1f}, p90 {row['p90_ms']:.1f}, {timing.runs} runs) "
                        f"{row['gflop_per_s']:7.1f} GFLOP/s, load {load.load1:.2f}")
                for folder in Path(tmp).glob("*/*"):
                    shutil.rmtree(folder)
    for row in rows:  # against the best peak seen in the whole run
        row["peak_pct"] = 100 * row["gflop_per_s"] / peak
        row["peak_gflop_per_s"] = peak
    log("")
    log(f"fp32 matmul peak, best of the run: {peak:.1f} GFLOP/s")
    log(render_text(rows, COLUMNS))
    if output is not None:
        notes = [f"machine: {info.line()}",
                 f"fp32 matmul peak (2048² matmul, best of the measurements at the start and after each "
                 f"(imgsz, batch) group of this run): {peak:.1f} GFLOP/s",
                 "latency: median of the timed runs after warm-up, p10-p90 spread; the rows of one (imgsz, batch) are "
                 "timed in turns (model after model, backend after backend) so load drift hits them alike; "
                 "GFLOP/s = GFLOPs/img × batch ÷ median; % peak against the matmul peak",
                 "load: 1-minute load average at the row's start; others: CPUs' worth of work by other "
                 "processes during the row",
                 "eager = model as built (unfused; yolov9-* still runs the PGI branch); fused = converted to "
                 "GELAN + BatchNorm/RepConvN fused; channels_last = fused, NHWC weights and input; "
                 "onnxruntime = the fused form exported to ONNX; openvino = that ONNX converted to an OpenVINO IR; "
                 "-int8 = statically quantized (onnxruntime QDQ; OpenVINO: NNCF), calibrated on the train images of "
                 f"{data}, box decoding in float"]
        if command:
            notes.insert(0, f"command: `{command}`")
        csv_path, md_path = write_report(output, "benchmark", "Model benchmark", notes, rows, COLUMNS, CSV_KEYS)
        log(f"\nwrote {csv_path} and {md_path}")
    return rows
