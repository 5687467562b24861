"""Export a detector for deployment: ONNX (checked against onnxruntime) or TorchScript.

The exported network is the inference form: a dual-head model is converted to GELAN, BatchNorm and
RepConvN are fused, and the graph maps ``images`` (B, 3, H, W) float in [0, 1] to ``output0``
(B, 4 + nc, A): xywh boxes in input pixels then class probabilities, A = sum over levels of H_i * W_i
(8400 at 640). A segmentation model appends its ``nm`` mask coefficients to ``output0`` (B, 4 + nc + nm, A) and
has a second output, ``output1`` (B, nm, H / 4, W / 4), the prototypes; a pose model appends its keypoints, x, y in
input pixels (and visibility) per keypoint, to ``output0`` (B, 4 + nc + nk * ndim, A) and records ``kpt_shape`` and
``skeleton`` in the file's metadata. The output names and their dynamic axes
are the model's task's (``Task.export_outputs``). NMS is not part of the graph.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..cfg import ExportConfig
from ..cfg.recorded import with_recorded_defaults
from ..errors import FocalYoloError
from ..models import DetectionModel
from ..nn.head import DDetect
from ..tasks import task_of
from ..utils.threads import configure_threads
from .convert import deployment_form
from .onnx_model import INPUT_AXES, INPUT_NAME
from .quantize import calibration_dataset, quantize_int8
from .sources import load_source, source_kind

__all__ = ["ExportError", "export", "export_model", "export_onnx", "export_torchscript", "inference_model", "to_half",
           "write_onnx"]

LOGGER = logging.getLogger("focalyolo")


class ExportError(FocalYoloError):
    """An export cannot be done as asked (input size not a multiple of the stride, fp16 without CUDA)."""


def to_half(net: DetectionModel) -> DetectionModel:
    """fp16 weights in place, except a detection head's box decoding (DFL and anchors), which stays fp32."""
    net.half()
    if isinstance(net.head, DDetect):
        net.head.decode_fp32 = True
        net.head.dfl.float()
    return net


def inference_model(model: DetectionModel, half: bool = False) -> DetectionModel:
    """GELAN-converted, fused copy in eval mode; on CUDA in fp16 when ``half`` (ExportError without CUDA)."""
    if half and not torch.cuda.is_available():
        raise ExportError("--half needs a CUDA device (fp16 convolutions are not exported on CPU); "
                          "export in fp32 instead")
    net = deployment_form(model)
    return to_half(net.cuda()) if half else net


def example_input(net: DetectionModel, imgsz: int, batch: int) -> torch.Tensor:
    """A random (batch, 3, imgsz, imgsz) image on the model's device and dtype; imgsz must be a multiple of 32."""
    stride = int(net.stride.max())
    if imgsz <= 0 or imgsz % stride or batch < 1:
        raise ExportError(f"imgsz must be a positive multiple of {stride} and batch >= 1, "
                          f"got imgsz={imgsz}, batch={batch}")
    reference = next(net.parameters())
    return torch.rand(batch, 3, imgsz, imgsz, device=reference.device, dtype=reference.dtype)


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence the tracer's notes about Python-level shape logic (anchors are rebuilt from traced sizes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _simplify(path: Path) -> None:
    """Run onnx-simplifier in place when it is installed; otherwise say so and keep the plain export."""
    try:
        import onnx
        import onnxsim
    except ImportError:
        LOGGER.warning("simplify: onnxsim is not installed (pip install onnxsim); the model is exported unsimplified")
        return
    simplified, ok = onnxsim.simplify(onnx.load(str(path)))
    if ok:
        onnx.save(simplified, str(path))
    else:
        LOGGER.warning("simplify: onnxsim could not validate the simplified graph; the model is exported unsimplified")


def output_tensors(out: torch.Tensor | tuple) -> list[torch.Tensor]:
    """An eval forward's output as the list of the graph's outputs (one tensor, or a tuple of them)."""
    return list(out) if isinstance(out, (tuple, list)) else [out]


def onnx_max_difference(path: Path, net: DetectionModel, example: torch.Tensor) -> float | None:
    """Max |onnxruntime - PyTorch| over all outputs on ``example`` with the CPU provider; None (with a message) if
    it cannot run."""
    try:
        import onnxruntime
    except ImportError:
        LOGGER.warning("check: onnxruntime is not installed (pip install onnxruntime); the export was not verified")
        return None
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {INPUT_NAME: example.cpu().numpy()})
    except Exception as exc:  # e.g. fp16 kernels missing on CPU
        LOGGER.warning(f"check: onnxruntime (CPU) could not run the model: {str(exc).splitlines()[0][:200]}")
        return None
    with torch.no_grad():
        want = [t.float().cpu().numpy() for t in output_tensors(net(example))]
    return max(float(np.abs(g.astype(np.float32) - w).max()) for g, w in zip(got, want))


def write_onnx(net: DetectionModel, example: torch.Tensor, path: Path, dynamic: bool = False, opset: int = 17) -> None:
    """Trace ``net`` (eval, ready for inference) on ``example`` into an ONNX file ``images`` -> the task's outputs
    (``output0``, and ``output1`` for segmentation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    outputs = task_of(net).export_outputs
    with _quiet_tracing():
        torch.onnx.export(net, (example,), str(path), dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                          output_names=list(outputs),
                          dynamic_axes={INPUT_NAME: INPUT_AXES, **outputs} if dynamic else None)
    import onnx

    graph = onnx.load(str(path))
    _fix_static_dims(graph, net, example, outputs)
    record = {k: v for k, v in getattr(net, "train_args", {}).items() if k in ("imgsz", "data")}
    onnx.helper.set_model_props(graph, {"stride": ",".join(str(int(s)) for s in net.stride.tolist()),
                                        "names": json.dumps(list(net.names)), "producer": "focalyolo",
                                        "task": task_of(net).name,
                                        "train_args": json.dumps(record),
                                        **_keypoint_metadata(net)})
    onnx.save(graph, str(path))


def _keypoint_metadata(net: DetectionModel) -> dict[str, str]:
    """A pose model's ``kpt_shape`` and ``skeleton`` as metadata strings (nothing for other tasks)."""
    if getattr(net, "kpt_shape", None) is None:
        return {}
    return {"kpt_shape": json.dumps(net.kpt_shape), "skeleton": json.dumps(net.skeleton)}


def _fix_static_dims(graph: Any, net: DetectionModel, example: torch.Tensor,
                     outputs: Mapping[str, Mapping[int, str]]) -> None:
    """Write the traced size into every output dimension that is not dynamic (the exporter's shape inference
    leaves a concatenation's channel count symbolic), so runtimes read the class count from the graph."""
    with torch.no_grad():
        shapes = [t.shape for t in output_tensors(net(example))]
    for output, shape in zip(graph.graph.output, shapes):
        dynamic = outputs.get(output.name, {})
        for k, dim in enumerate(output.type.tensor_type.shape.dim):
            if k not in dynamic:
                dim.dim_value = int(shape[k])


def _require_onnx() -> None:
    """ExportError naming the extra to install when the ``onnx`` package is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'focalyolo[export]' (onnx and "
                          "onnxruntime)") from None


def export_onnx(model: DetectionModel, path: str | Path, imgsz: int = 640, batch: int = 1, dynamic: bool = False,
                half: bool = False, simplify: bool = False, opset: int = 17) -> Path:
    """Write ``model``'s inference form as ONNX (input ``images``, output ``output0`` (B, 4 + nc, A); see the
    module docstring for segmentation's).

    ``dynamic`` makes batch, height and width symbolic; ``half`` exports fp16 (CUDA only); ``simplify``
    runs onnxsim if installed. The file is then run in onnxruntime on a random input and the max absolute
    difference to PyTorch is printed.
    """
    _require_onnx()
    path = Path(path)
    net = inference_model(model, half)
    example = example_input(net, imgsz, batch)
    write_onnx(net, example, path, dynamic, opset)
    if simplify:
        _simplify(path)
    diff = onnx_max_difference(path, net, example)
    if diff is not None:
        LOGGER.info(f"onnxruntime check: max abs difference to PyTorch {diff:.3g} on input {tuple(example.shape)}")
    return path


def export_torchscript(model: DetectionModel, path: str | Path, imgsz: int = 640, batch: int = 1,
                       half: bool = False) -> Path:
    """Write ``model``'s inference form as a traced TorchScript file, reload it and print the max difference.

    PyTorch has deprecated TorchScript (it warns on trace/load); ONNX is the maintained route.
    """
    path = Path(path)
    net = inference_model(model, half)
    example = example_input(net, imgsz, batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(net, example, strict=False, check_trace=False)  # checked below, after reload
    traced.save(str(path))
    with torch.no_grad():
        got = output_tensors(torch.jit.load(str(path), map_location=example.device)(example))
        diff = max((g - w).abs().max().item() for g, w in zip(got, output_tensors(net(example))))
    LOGGER.info(f"TorchScript check: max abs difference to PyTorch {diff:.3g} on input {tuple(example.shape)}")
    return path


def _check_int8(int8: bool, format: str, half: bool, data: str | Path | None) -> None:
    if int8 and (format != "onnx" or half or data is None):
        raise ExportError("--int8 needs --format onnx, fp32 (no --half) and --data for calibration images")


def export_model(model: DetectionModel, format: str = "onnx", output: str | Path = "model", *, imgsz: int = 640,
                 batch: int = 1, dynamic: bool = False, half: bool = False, simplify: bool = False, opset: int = 17,
                 int8: bool = False, data: str | Path | None = None, calib_images: int = 64) -> list[Path]:
    """Export ``model`` as ``format`` ("onnx" or "torchscript") to ``output`` (its suffix is replaced by the
    format's); with ``int8`` (ONNX only) also ``<output>-int8.onnx``, calibrated on ``data``'s train images.
    Returns the written files."""
    output = Path(output)
    if format not in ("onnx", "torchscript"):
        raise ExportError(f"unknown export format '{format}' (onnx or torchscript)")
    _check_int8(int8, format, half, data)
    target = output.with_suffix(f".{format}")
    if format == "torchscript":
        return [export_torchscript(model, target, imgsz, batch, half)]
    paths = [export_onnx(model, target, imgsz, batch, dynamic, half, simplify, opset)]
    if int8:
        calibration = calibration_dataset(task_of(model).name, data, imgsz)
        paths.append(quantize_int8(target, target.with_name(f"{target.stem}-int8.onnx"), calibration, calib_images,
                                   1 if dynamic else batch))
    return paths


def export(cfg: ExportConfig, model: DetectionModel | None = None) -> list[Path]:
    """The ``export`` job (``focalyolo export`` and ``YOLO.export``): export ``cfg.model`` (or ``model``) as
    ``cfg.format``; image size (and, for INT8, the calibration data) default to the model's training run.
    Returns the written files (the INT8 one last)."""
    configure_threads(cfg.threads)
    if model is None:
        if cfg.model is None:
            raise ExportError("export needs a model (--model)")
        model = load_source(cfg.model)
    cfg = with_recorded_defaults(cfg, model)
    data = cfg.data or (model.train_args.get("data") if cfg.int8 else None)
    _check_int8(cfg.int8, cfg.format, cfg.half, data)
    if cfg.model is not None and source_kind(cfg.model) == "config":
        LOGGER.warning(f"{cfg.model} is a model config, not trained weights: exporting random weights")
    output = cfg.output or Path(str(cfg.model or "model")).with_suffix("")
    return export_model(model, cfg.format, output, imgsz=cfg.imgsz, batch=cfg.batch, dynamic=cfg.dynamic,
                        half=cfg.half, simplify=cfg.simplify, opset=cfg.opset, int8=cfg.int8, data=data,
                        calib_images=cfg.calib_images)
