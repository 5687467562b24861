"""INT8 ONNX by onnxruntime static quantization, calibrated on training images.

The fp32 export (converted, fused) is rewritten in QDQ form: convolution and matmul weights int8 per
output channel, their inputs uint8 with ranges observed on calibration images prepared as the model's task
prepares validation images (letterboxed for detection, resized and centre-cropped for classification). The box
decoding (the DFL expectation and anchor arithmetic) stays fp32: it turns bin probabilities into pixel
coordinates, where an 8-bit step would move every box by up to a stride / 16.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..errors import FocalYoloError
from ..tasks import get_task
from .onnx_model import INPUT_NAME

__all__ = ["calibration_batches", "calibration_dataset", "head_decode_nodes", "quantize_int8"]


def calibration_dataset(task: str, data: str | Path, imgsz: int) -> Dataset:
    """The train split of ``data`` as the ``task`` prepares evaluation images of imgsz x imgsz (square letterboxes
    for detection, centre crops for classification), unaugmented."""
    handler = get_task(task)
    config = handler.load_data(data)
    return handler.build_dataset(config.train, imgsz, augment=False, rect=False, verbose=False, need_labels=False,
                                 prefix="calibration: ", **handler.dataset_options(config))


def calibration_batches(dataset: Dataset, count: int, batch: int = 1, seed: int = 0) -> Iterator[np.ndarray]:
    """``count`` images drawn without replacement (seeded) from ``dataset`` (e.g. :func:`calibration_dataset`), as
    the exported model sees them: yields (batch, 3, imgsz, imgsz) float32 in [0, 1]."""
    order = np.random.default_rng(seed).permutation(len(dataset))[:count]
    for start in range(0, len(order) - batch + 1, batch):
        images = [dataset[int(i)]["img"].numpy() for i in order[start:start + batch]]
        yield np.stack(images).astype(np.float32) / 255


def head_decode_nodes(model_path: str | Path) -> list[str]:
    """Names of the nodes of the head's DFL (a fixed 1x1 convolution over bin probabilities): kept fp32. The
    rest of the decoding (anchors, strides) has no Conv/MatMul, so it is not quantized anyway."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    return [node.name for node in graph.node if "/dfl/" in node.name]


def quantize_int8(fp32_path: str | Path, int8_path: str | Path, dataset: Dataset, count: int = 64, batch: int = 1,
                  seed: int = 0, symmetric: bool = False) -> Path:
    """Write the INT8 (QDQ) version of the fp32 ONNX file ``fp32_path``, calibrated on ``count`` images of
    ``dataset`` (:func:`calibration_dataset`: prepared like validation images at the exported size).

    ``batch`` must be the exported batch size when the file has a fixed one. Ranges are min/max over the
    calibration set. ``symmetric`` quantizes activations to int8 with zero point 0 and leaves biases in float:
    the Q/DQ form TensorRT builds (explicit quantization); the default (uint8 activations with a zero point, int32
    biases) suits onnxruntime.
    """
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quant_pre_process,
            quantize_static,
        )
    except ImportError as exc:
        raise FocalYoloError("INT8 export needs onnxruntime (pip install 'focalyolo[export]')") from exc
    if not len(dataset):
        raise FocalYoloError("INT8 calibration needs images: pass --data with a train split")
    int8_path = Path(int8_path)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration_batches(dataset, count, batch, seed)

        def get_next(self) -> dict[str, np.ndarray] | None:
            images = next(self.batches, None)
            return None if images is None else {INPUT_NAME: images}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv", "MatMul"], per_channel=True,
                        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=head_decode_nodes(prepared),
                        extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                                       "QuantizeBias": not symmetric})
    _copy_metadata(fp32_path, int8_path)
    return int8_path


def _copy_metadata(source: str | Path, target: Path) -> None:
    """Carry the export's metadata (strides) over to the quantized file, which the quantizer drops."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(source), load_external_data=False).metadata_props}
    model = onnx.load(str(target))
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(target))
