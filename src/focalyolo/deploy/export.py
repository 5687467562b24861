"""Export a detector for deployment: ONNX (checked against onnxruntime), TorchScript, OpenVINO IR or a TensorRT engine.

The exported network is the inference form: a dual-head model is converted to GELAN, BatchNorm and
RepConvN are fused, and the graph maps ``images`` (B, 3, H, W) float in [0, 1] to ``output0``
(B, 4 + nc, A): xywh boxes in input pixels then class probabilities, A = sum over levels of H_i * W_i
(8400 at 640). A segmentation model appends its ``nm`` mask coefficients to ``output0`` (B, 4 + nc + nm, A) and
has a second output, ``output1`` (B, nm, H / 4, W / 4), the prototypes; a pose model appends its keypoints, x, y in
input pixels (and visibility) per keypoint, to ``output0`` (B, 4 + nc + nk * ndim, A) and records ``kpt_shape`` and
``skeleton`` in the file's metadata. The output names and their dynamic axes
are the model's task's (``Task.export_outputs``). NMS is not part of the graph, unless ``nms`` asks for it
(:mod:`focalyolo.deploy.nms_graph`: outputs ``detections`` and ``count``, and a segmentation model's ``output1``).

OpenVINO IR (:mod:`focalyolo.deploy.openvino_model`) and TensorRT engines (:mod:`focalyolo.deploy.tensorrt`) are
converted from that ONNX graph (written to a temporary folder) and keep its inputs, outputs and metadata.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import torch

from ..cfg import ExportConfig
from ..cfg.imgsz import stride_multiple
from ..cfg.recorded import inference_config
from ..errors import FocalYoloError
from ..models import Model
from ..nn.head import DDetect
from ..tasks import task_of
from ..utils.threads import configure_threads
from ..weights.convert import deployment_form
from ..weights.sources import load_source, source_kind
from .check import FP16, FP32, Comparison, NmsSettings, Tolerance, compare_detections, compare_outputs
from .nms_graph import NMS_OUTPUTS, NmsExport
from .onnx_model import INPUT_AXES, INPUT_NAME
from .quantize import calibration_dataset, quantize_int8

__all__ = ["ExportError", "default_output", "export", "export_converted", "export_model", "export_onnx",
           "export_torchscript", "inference_model", "input_size", "log_check", "onnx_check", "to_half", "write_onnx"]

LOGGER = logging.getLogger("focalyolo")


class ExportError(FocalYoloError):
    """An export cannot be done as asked (fp16 without CUDA, INT8 without calibration data, a missing runtime)."""


def to_half(net: Model) -> Model:
    """fp16 weights in place, except a detection head's box decoding (DFL and anchors), which stays fp32."""
    net.half()
    if isinstance(net.head, DDetect):
        net.head.decode_fp32 = True
        net.head.dfl.float()
    return net


def inference_model(model: Model, half: bool = False) -> Model:
    """GELAN-converted, fused copy in eval mode; on CUDA in fp16 when ``half`` (ExportError without CUDA)."""
    if half and not torch.cuda.is_available():
        raise ExportError("--half needs a CUDA device (fp16 convolutions are not exported on CPU); "
                          "export in fp32 instead")
    net = deployment_form(model)
    return to_half(net.cuda()) if half else net


def input_size(model: Model, imgsz: int) -> int:
    """The exported input size: ``imgsz`` rounded up to a multiple of the model's largest stride (one warning when it
    changes; :func:`~focalyolo.cfg.imgsz.stride_multiple`, the rule of every command)."""
    return stride_multiple(imgsz, int(model.stride.max()))


def example_input(net: Model, imgsz: int, batch: int) -> torch.Tensor:
    """A random (batch, 3, imgsz, imgsz) image on the model's device and dtype (``imgsz``: an :func:`input_size`)."""
    if batch < 1:
        raise ExportError(f"batch must be at least 1, got {batch}")
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


def log_check(label: str, comparison: Comparison | None, example: torch.Tensor, tolerance: Tolerance | None) -> None:
    """Log an export check in one line: info when within ``tolerance`` (or when there is none: INT8), else a warning
    naming the largest difference and the tolerance. Nothing for ``None`` (the check could not run; said already)."""
    if comparison is None:
        return
    shape = tuple(example.shape)
    if tolerance is None:
        LOGGER.info(f"{label} check: {comparison.line} on input {shape} (INT8: not held to the fp32 tolerance)")
    elif comparison.ok:
        LOGGER.info(f"{label} check: {comparison.line} on input {shape}, within the tolerance")
    else:
        LOGGER.warning(f"{label} check: {comparison.line} on input {shape}, beyond the tolerance "
                       f"({tolerance.describe()}): the export does not compute what PyTorch does")


def onnx_check(path: Path, net: torch.nn.Module, example: torch.Tensor, tolerance: Tolerance) -> Comparison | None:
    """Run the ONNX file on ``example`` in onnxruntime (CPU provider) and compare with ``net`` (what was traced):
    raw outputs, or, for an :class:`NmsExport`, detections (:mod:`focalyolo.deploy.check`); None (with a message)
    if onnxruntime cannot run it."""
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
        if isinstance(net, NmsExport):
            predictions = output_tensors(net.net(example))[0].float().cpu().numpy()
            nms = (float(net.conf), float(net.iou), net.max_det)
            return compare_detections(got, want, predictions, net.nc, nms, tolerance)
    return compare_outputs(got, want, [o.name for o in session.get_outputs()], tolerance)


def write_onnx(net: Model, example: torch.Tensor, path: Path, dynamic: bool = False, opset: int = 17,
               nms: NmsSettings | None = None) -> torch.nn.Module:
    """Trace ``net`` (eval, ready for inference) on ``example`` into an ONNX file ``images`` -> the task's outputs
    (``output0``, and ``output1`` for segmentation), or, with ``nms`` (conf, iou, max_det), -> ``detections``,
    ``count`` (and ``output1``) through :class:`NmsExport`. Returns the module the graph was traced from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    outputs = dict(task_of(net).export_outputs)
    graph_net: torch.nn.Module = net
    if nms is not None:
        graph_net = NmsExport(net, net.nc, *nms).eval()
        outputs = {**NMS_OUTPUTS, **{k: v for k, v in outputs.items() if k != "output0"}}
    with _quiet_tracing():
        torch.onnx.export(graph_net, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=list(outputs),
                          dynamic_axes={INPUT_NAME: INPUT_AXES, **outputs} if dynamic else None)
    import onnx

    graph = onnx.load(str(path))
    _fix_static_dims(graph, graph_net, example, outputs if dynamic else {})
    record = {k: v for k, v in getattr(net, "train_args", {}).items() if k in ("imgsz", "data")}
    onnx.helper.set_model_props(graph, {"stride": ",".join(str(int(s)) for s in net.stride.tolist()),
                                        "names": json.dumps(list(net.names)), "producer": "focalyolo",
                                        "task": task_of(net).name,
                                        "train_args": json.dumps(record),
                                        **_keypoint_metadata(net),
                                        **({"nms": json.dumps(dict(zip(("conf", "iou", "max_det"), nms)))}
                                           if nms is not None else {})})
    onnx.save(graph, str(path))
    return graph_net


def _keypoint_metadata(net: Model) -> dict[str, str]:
    """A pose model's ``kpt_shape`` and ``skeleton`` as metadata strings (nothing for other tasks)."""
    if getattr(net, "kpt_shape", None) is None:
        return {}
    return {"kpt_shape": json.dumps(net.kpt_shape), "skeleton": json.dumps(net.skeleton)}


def _fix_static_dims(graph: Any, net: torch.nn.Module, example: torch.Tensor,
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


def export_onnx(model: Model, path: str | Path, imgsz: int = 640, batch: int = 1, dynamic: bool = False,
                half: bool = False, simplify: bool = False, opset: int = 17,
                nms: NmsSettings | None = None) -> Path:
    """Write ``model``'s inference form as ONNX (input ``images``, output ``output0`` (B, 4 + nc, A); see the
    module docstring for segmentation's and pose's).

    ``dynamic`` makes batch, height and width symbolic; ``half`` exports fp16 (CUDA only); ``simplify``
    runs onnxsim if installed; ``nms`` (conf, iou, max_det) ends the graph in NMS (outputs ``detections``,
    ``count``; :mod:`focalyolo.deploy.nms_graph`). The file is then run in onnxruntime on a random input against
    PyTorch (:mod:`focalyolo.deploy.check`: fp32 or fp16 tolerance); a difference beyond it is a one-line warning.
    """
    _require_onnx()
    path = Path(path)
    imgsz = input_size(model, imgsz)
    net = inference_model(model, half)
    example = example_input(net, imgsz, batch)
    traced = write_onnx(net, example, path, dynamic, opset, nms)
    if simplify:
        _simplify(path)
    tolerance = FP16 if half else FP32
    log_check("onnxruntime", onnx_check(path, traced, example, tolerance), example, tolerance)
    return path


def export_torchscript(model: Model, path: str | Path, imgsz: int = 640, batch: int = 1,
                       half: bool = False) -> Path:
    """Write ``model``'s inference form as a traced TorchScript file, reload it and check it against PyTorch.

    PyTorch has deprecated TorchScript (it warns on trace/load); ONNX is the maintained route.
    """
    path = Path(path)
    imgsz = input_size(model, imgsz)
    net = inference_model(model, half)
    example = example_input(net, imgsz, batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(net, example, strict=False, check_trace=False)  # checked below, after reload
    traced.save(str(path))
    with torch.no_grad():
        got = output_tensors(torch.jit.load(str(path), map_location=example.device)(example))
        want = output_tensors(net(example))
    tolerance = FP16 if half else FP32
    log_check("TorchScript", _compare_tensors(got, want, tolerance), example, tolerance)
    return path


def _check_int8(int8: bool, format: str, half: bool, data: str | Path | None) -> None:
    if int8 and (format not in ("onnx", "openvino", "engine") or half or data is None):
        raise ExportError("--int8 needs --format onnx, openvino or engine, fp32 (no --half) and --data for "
                          "calibration images")


def _require_runtime(format: str, int8: bool) -> None:
    """ExportError naming what to install when the runtime that ``format`` (openvino, engine) converts to is
    missing."""
    if format == "openvino":
        try:
            import openvino  # noqa: F401

            if int8:
                import nncf  # noqa: F401
        except ImportError:
            raise ExportError("OpenVINO export needs openvino (and nncf for --int8): "
                              "pip install 'focalyolo[openvino]'") from None
    else:
        from .tensorrt import TENSORRT_NEEDS, import_tensorrt

        if import_tensorrt() is None:
            raise ExportError(f"TensorRT export needs {TENSORRT_NEEDS}")


def _compare_tensors(got: list[torch.Tensor], want: list[torch.Tensor], tolerance: Tolerance) -> Comparison:
    """:func:`compare_outputs` of torch outputs (named ``output0``, ``output1``, ...)."""
    return compare_outputs([t.float().cpu().numpy() for t in got], [t.float().cpu().numpy() for t in want],
                           [f"output{k}" for k in range(len(want))], tolerance)


def _runtime_check(path: Path, runner: torch.nn.Module, model: Model, imgsz: int, batch: int,
                   tolerance: Tolerance | None) -> None:
    """Check a converted export against PyTorch's fp32 model on a random input (``tolerance`` None: INT8, the
    difference is only reported)."""
    net = inference_model(model)
    example = example_input(net, imgsz, batch)
    with torch.no_grad():
        got, want = output_tensors(runner(example)), output_tensors(net(example))
    log_check(path.name, _compare_tensors(got, want, tolerance or FP32), example, tolerance)


def export_converted(model: Model, format: str, output: str | Path, *, imgsz: int = 640, batch: int = 1,
                     dynamic: bool = False, half: bool = False, simplify: bool = False, opset: int = 17,
                     int8: bool = False, data: str | Path | None = None, calib_images: int = 64) -> list[Path]:
    """Export ``model`` to ONNX in a temporary folder and convert it: ``format`` "openvino" writes
    ``<output>_openvino_model/`` (``half``: fp16 weights) and, with ``int8``, ``<output>_int8_openvino_model/``
    quantized by NNCF; "engine" builds ``<output>.engine`` with TensorRT (``half``: fp16; ``int8``: from a Q/DQ
    graph calibrated by onnxruntime). INT8 calibrates on ``calib_images`` of ``data``'s train images. Each result is
    run on a random input against PyTorch and checked (fp32 / fp16 tolerance; INT8 only reported). Returns the
    written paths."""
    _require_onnx()
    _require_runtime(format, int8)
    output = Path(output)
    imgsz = input_size(model, imgsz)
    calibration = calibration_dataset(task_of(model).name, data, imgsz) if int8 else None
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / f"{output.name}.onnx"
        if format == "openvino":
            from .openvino_model import OpenVinoModel, write_openvino

            runner: type[torch.nn.Module] = OpenVinoModel
            export_onnx(model, onnx_path, imgsz, batch, dynamic, False, simplify, opset)
            paths = write_openvino(onnx_path, output, half=half, calibration=calibration, calib_images=calib_images,
                                   batch=1 if dynamic else batch)
        else:
            from .tensorrt import TensorRTModel, build_engine

            runner = TensorRTModel
            export_onnx(model, onnx_path, imgsz, batch, dynamic, half, simplify, opset)
            if calibration is not None:
                onnx_path = quantize_int8(onnx_path, onnx_path.with_name("int8.onnx"), calibration, calib_images,
                                          1 if dynamic else batch, symmetric=True)
            paths = [build_engine(onnx_path, output.with_suffix(".engine"), batch=batch, imgsz=imgsz,
                                  dynamic=dynamic)]
    if format == "openvino":
        tolerances = [FP16 if half else FP32, None]  # None: the INT8 IR
    else:  # TensorRT may run fp32 layers in TF32 (10-bit mantissa)
        tolerances = [None if int8 else FP16]
    for path, checked in zip(paths, tolerances):
        _runtime_check(path, runner(path), model, imgsz, batch, checked)
    return paths


def _check_nms(nms: NmsSettings | None, format: str, model: Model) -> None:
    if nms is None:
        return
    task = task_of(model)
    if format != "onnx" or not task.nms_export:
        raise ExportError(f"--nms needs --format onnx and a task with an NMS graph (detect, segment, pose); got "
                          f"--format {format} and a {task.name} model")


def export_model(model: Model, format: str = "onnx", output: str | Path = "model", *, imgsz: int = 640,
                 batch: int = 1, dynamic: bool = False, half: bool = False, simplify: bool = False, opset: int = 17,
                 int8: bool = False, data: str | Path | None = None, calib_images: int = 64,
                 nms: NmsSettings | None = None) -> list[Path]:
    """Export ``model`` as ``format`` ("onnx", "torchscript", "openvino" or "engine": see
    :func:`export_converted` for the last two) to ``output`` (its suffix is replaced by the format's); with
    ``int8`` (ONNX) also ``<output>-int8.onnx``, calibrated on ``data``'s train images; with ``nms`` (conf, iou,
    max_det; ONNX only) the graph ends in NMS. Returns the written files."""
    output = Path(output)
    if format not in ("onnx", "torchscript", "openvino", "engine"):
        raise ExportError(f"unknown export format '{format}' (onnx, torchscript, openvino or engine)")
    _check_int8(int8, format, half, data)
    _check_nms(nms, format, model)
    imgsz = input_size(model, imgsz)
    if format in ("openvino", "engine"):
        return export_converted(model, format, output.with_suffix(""), imgsz=imgsz, batch=batch, dynamic=dynamic,
                                half=half, simplify=simplify, opset=opset, int8=int8, data=data,
                                calib_images=calib_images)
    target = output.with_suffix(f".{format}")
    if format == "torchscript":
        return [export_torchscript(model, target, imgsz, batch, half)]
    paths = [export_onnx(model, target, imgsz, batch, dynamic, half, simplify, opset, nms)]
    if int8:
        calibration = calibration_dataset(task_of(model).name, data, imgsz)
        paths.append(quantize_int8(target, target.with_name(f"{target.stem}-int8.onnx"), calibration, calib_images,
                                   1 if dynamic else batch))
    return paths


def default_output(model: str | None, nms: bool = False) -> Path:
    """Where an export goes without ``--output``: next to the model, named after it (``runs/.../best`` for
    ``best.pt``; ``model`` without one; the format adds its suffix), or for an NMS export (ONNX only) that name with
    ``-nms.onnx`` (``best-nms.onnx``), so that it and a plain export of the same checkpoint do not overwrite each
    other."""
    output = Path(str(model or "model")).with_suffix("")
    return output.with_name(f"{output.name}-nms.onnx") if nms else output


def export(cfg: ExportConfig, model: Model | None = None) -> list[Path]:
    """The ``export`` job (``focalyolo export`` and ``YOLO.export``): export ``cfg.model`` (or ``model``) as
    ``cfg.format`` to ``cfg.output`` (default: :func:`default_output`); image size (and, for INT8, the calibration
    data) default to the model's training run. Returns the written files (the INT8 one last)."""
    configure_threads(cfg.threads)
    if model is None:
        if cfg.model is None:
            raise ExportError("export needs a model (--model)")
        model = load_source(cfg.model)
    cfg = inference_config(cfg, model)
    data = cfg.data or (model.train_args.get("data") if cfg.int8 else None)
    _check_int8(cfg.int8, cfg.format, cfg.half, data)
    if cfg.model is not None and source_kind(cfg.model) == "config":
        LOGGER.warning(f"{cfg.model} is a model config, not trained weights: exporting random weights")
    output = cfg.output or default_output(cfg.model, cfg.nms)
    return export_model(model, cfg.format, output, imgsz=cfg.imgsz, batch=cfg.batch, dynamic=cfg.dynamic,
                        half=cfg.half, simplify=cfg.simplify, opset=cfg.opset, int8=cfg.int8, data=data,
                        calib_images=cfg.calib_images, nms=(cfg.conf, cfg.iou, cfg.max_det) if cfg.nms else None)
