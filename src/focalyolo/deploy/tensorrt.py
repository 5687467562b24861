"""TensorRT: a serialized engine built from the ONNX export, run on CUDA with torch tensors as its buffers.

``export --format engine`` writes ``<output>.engine``: the export's metadata (``task``, ``names``, ``stride``,
``train_args``, pose's ``kpt_shape`` and ``skeleton``) as a header (:data:`ENGINE_MAGIC`, 4 bytes little-endian
length, that many bytes of JSON), then the plan TensorRT serialized. An engine runs only with the TensorRT version
and the GPU model that built it.

The network is strongly typed (TensorRT 10 and 11 alike; TensorRT 11 dropped the precision flags and the INT8
calibrators): the precision is the ONNX graph's. ``--half`` builds from an fp16 export (box decoding kept fp32,
as :func:`~focalyolo.deploy.export.to_half` does); ``--int8`` from a Q/DQ export calibrated by onnxruntime in
TensorRT's scheme (int8 weights per channel and activations per tensor, both symmetric; biases and the box
decoding in float: :func:`~focalyolo.deploy.quantize.quantize_int8` with ``symmetric=True``). With ``--dynamic``
the engine takes batches up to ``--batch`` and square-or-smaller images up to ``--imgsz``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from ..errors import FocalYoloError
from .onnx_model import INPUT_NAME, ExportedModel, read_onnx_metadata

__all__ = ["ENGINE_MAGIC", "TENSORRT_NEEDS", "TensorRTModel", "build_engine", "import_tensorrt", "read_engine",
           "write_engine"]

LOGGER = logging.getLogger("focalyolo")
ENGINE_MAGIC = b"focalyolo-engine\n"
TENSORRT_NEEDS = "an NVIDIA GPU with CUDA and the tensorrt package (pip install tensorrt)"


def import_tensorrt() -> Any | None:
    """The ``tensorrt`` module when it is installed and a CUDA device is present; else None."""
    if not torch.cuda.is_available():
        return None
    try:
        import tensorrt
    except ImportError:
        return None
    return tensorrt


def write_engine(path: str | Path, plan: bytes | memoryview, metadata: dict[str, Any]) -> Path:
    """Write a serialized engine with the export's metadata in front (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps(metadata).encode()
    with path.open("wb") as handle:
        handle.write(ENGINE_MAGIC + len(header).to_bytes(4, "little") + header)
        handle.write(plan)
    return path


def read_engine(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """(metadata, plan) of an engine file; an engine without focalyolo's header (e.g. from trtexec) has no
    metadata."""
    data = Path(path).read_bytes()
    if not data.startswith(ENGINE_MAGIC):
        return {}, data
    start = len(ENGINE_MAGIC) + 4
    size = int.from_bytes(data[len(ENGINE_MAGIC):start], "little")
    return json.loads(data[start:start + size]), data[start + size:]


def build_engine(onnx_path: str | Path, engine_path: str | Path, *, batch: int = 1, imgsz: int = 640,
                 dynamic: bool = False, workspace_gib: float | None = None) -> Path:
    """Build the ONNX export ``onnx_path`` (fp32, fp16 or Q/DQ int8: the precision is the graph's) into a strongly
    typed engine at ``engine_path``, with the export's metadata in front. A ``dynamic`` export gets one optimization
    profile: batch 1 to ``batch``, sides from the largest stride to ``imgsz``, tuned for (batch, 3, imgsz, imgsz)."""
    trt = import_tensorrt()
    if trt is None:
        raise FocalYoloError(f"TensorRT export needs {TENSORRT_NEEDS}")
    metadata = read_onnx_metadata(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise FocalYoloError(f"{onnx_path}: TensorRT cannot parse the ONNX export: {errors[:300]}")
    config = builder.create_builder_config()
    if workspace_gib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if dynamic:
        smallest = int(max(metadata.get("stride", [32])))
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT_NAME, (1, 3, smallest, smallest), (batch, 3, imgsz, imgsz), (batch, 3, imgsz, imgsz))
        config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise FocalYoloError(f"{onnx_path}: TensorRT could not build an engine (its log above says why)")
    return write_engine(engine_path, plan, metadata)


def _torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.INT32: torch.int32,
             trt.DataType.INT64: torch.int64, trt.DataType.BOOL: torch.bool}
    if dtype not in table:
        raise FocalYoloError(f"a TensorRT engine tensor of type {dtype} is not supported here")
    return table[dtype]


class TensorRTModel(ExportedModel):
    """A TensorRT engine on a CUDA device, called like a Model in eval mode (attributes: see
    :class:`~focalyolo.deploy.onnx_model.ExportedModel`; the metadata from the engine's header). Inputs and outputs
    are torch CUDA tensors handed to TensorRT by address; results come back on the input's device.

    ``device``: the CUDA device to run on (a CPU device given by ``val --device cpu`` means ``cuda``).
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cuda"):
        super().__init__()
        trt = import_tensorrt()
        if trt is None:
            raise FocalYoloError(f"running a TensorRT engine needs {TENSORRT_NEEDS}")
        self.path = Path(path)
        if not self.path.is_file():
            raise FocalYoloError(f"{self.path}: no such TensorRT engine")
        device = torch.device(device)
        self.device = device if device.type == "cuda" else torch.device("cuda")
        metadata, plan = read_engine(self.path)
        with torch.cuda.device(self.device):
            self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            self.engine = self.runtime.deserialize_cuda_engine(plan)
            if self.engine is None:
                raise FocalYoloError(f"{self.path}: TensorRT cannot load it (an engine runs only with the TensorRT "
                                     f"version and GPU that built it)")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.input_name = inputs[0]
        self.output_names = sorted(n for n in names if n not in inputs)  # output0 (, output1)
        self.input_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(self.input_name))
        self.output_dtypes = [_torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in self.output_names]
        shape = list(self.engine.get_tensor_shape(self.input_name))
        if shape[0] < 0:
            self.max_batch = int(self.engine.get_tensor_profile_shape(self.input_name, 0)[2][0])
        output_shapes = [list(self.engine.get_tensor_shape(n)) for n in self.output_names]
        self.describe(metadata, [d if d >= 0 else None for d in shape],
                      [s[1] if len(s) > 1 and s[1] >= 0 else None for s in output_shapes])

    def run_batch(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = images.to(self.device, self.input_dtype).contiguous()
        if not self.context.set_input_shape(self.input_name, tuple(x.shape)):
            raise FocalYoloError(f"{self.path}: the engine does not take inputs of shape {tuple(x.shape)} "
                                 f"(export with --dynamic, or a larger --batch / --imgsz)")
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        outputs = []
        for name, dtype in zip(self.output_names, self.output_dtypes):
            out = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype, device=self.device)
            self.context.set_tensor_address(name, out.data_ptr())
            outputs.append(out)
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise FocalYoloError(f"{self.path}: TensorRT failed to run the engine")
        stream.synchronize()
        return [out.float() for out in outputs]
