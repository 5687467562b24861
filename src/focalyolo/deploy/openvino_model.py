"""OpenVINO: an ONNX export converted to OpenVINO IR (fp32, or INT8 quantized by NNCF), and run on the CPU.

``export --format openvino`` writes a folder ``<output>_openvino_model/`` (``--int8``: also
``<output>_int8_openvino_model/``) holding the IR, ``<stem>.xml`` (the graph) and ``<stem>.bin`` (the weights),
and ``metadata.yaml``: the export's metadata as plain YAML (``task``, ``names``, ``stride``, ``train_args`` and, for
pose, ``kpt_shape`` and ``skeleton``), which the ONNX file keeps in its ``metadata_props`` and the IR has no place
for. The graph is the ONNX one: same input ``images``, same outputs.

INT8 is NNCF's post-training quantization of the fp32 IR: 8-bit weights (symmetric, per channel) and activations
(asymmetric: NNCF's ``mixed`` preset) with ranges from calibration images prepared as the model's task prepares
validation images (:func:`~focalyolo.deploy.quantize.calibration_dataset`). The box decoding stays fp32 as in the
ONNX INT8 export: the DFL (bin probabilities -> distances) and the anchor arithmetic after it
(:data:`DECODE_PATTERNS`).

:class:`OpenVinoModel` compiles an IR for the CPU in full fp32 precision (no bf16 on CPUs that offer it) behind
the interface of :class:`~focalyolo.deploy.onnx_model.OnnxModel`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import Dataset

from ..errors import FocalYoloError
from ..weights.sources import openvino_xml
from .onnx_model import ExportedModel, read_onnx_metadata

__all__ = ["DECODE_PATTERNS", "METADATA_FILE", "OpenVinoModel", "quantize_openvino",
           "write_openvino"]

METADATA_FILE = "metadata.yaml"
DECODE_PATTERNS = (r".*/dfl/.*", r"/[^/]+$")
"""Node names (``re.match``) NNCF leaves in fp32: the head's DFL, and the ops the head runs outside any
sub-module (anchors, distances -> boxes, class sigmoid, concatenation: names with one path component)."""
INSTALL_HINT = "pip install 'focalyolo[openvino]'"


def _save(model: Any, folder: Path, stem: str, metadata: dict[str, Any], half: bool = False) -> Path:
    import openvino

    folder.mkdir(parents=True, exist_ok=True)
    openvino.save_model(model, str(folder / f"{stem}.xml"), compress_to_fp16=half)
    (folder / METADATA_FILE).write_text(yaml.safe_dump(metadata, sort_keys=False))
    return folder


def write_openvino(onnx_path: str | Path, output: str | Path, *, half: bool = False, calibration: Dataset | None = None,
                   calib_images: int = 64, batch: int = 1) -> list[Path]:
    """Convert the ONNX export ``onnx_path`` to ``<output>_openvino_model/<stem>.xml`` (+ ``.bin``,
    ``metadata.yaml``); ``half`` stores the weights in fp16 (the CPU still computes in fp32). With ``calibration``
    (:func:`~focalyolo.deploy.quantize.calibration_dataset`) also ``<output>_int8_openvino_model/``, quantized by
    :func:`quantize_openvino` on ``calib_images`` of its images in batches of ``batch`` (the exported batch size).
    Returns the folders written."""
    import openvino

    onnx_path, output = Path(onnx_path), Path(output)
    stem = output.name
    metadata = read_onnx_metadata(onnx_path)
    model = openvino.convert_model(str(onnx_path))
    folders = [_save(model, output.with_name(f"{stem}_openvino_model"), stem, metadata, half)]
    if calibration is not None:
        quantized = quantize_openvino(model, calibration, calib_images, batch)
        folders.append(_save(quantized, output.with_name(f"{stem}_int8_openvino_model"), stem, metadata))
    return folders


class _Batches:
    """Calibration images as NNCF iterates them (it may pass over the data more than once)."""

    def __init__(self, dataset: Dataset, count: int, batch: int, seed: int):
        self.dataset, self.count, self.batch, self.seed = dataset, count, batch, seed

    def __iter__(self):
        from .quantize import calibration_batches

        return calibration_batches(self.dataset, self.count, self.batch, self.seed)

    def __len__(self) -> int:
        return min(self.count, len(self.dataset)) // self.batch


def quantize_openvino(model: Any, dataset: Dataset, count: int = 64, batch: int = 1, seed: int = 0) -> Any:
    """The INT8 version of the fp32 OpenVINO model ``model`` by NNCF post-training quantization, calibrated on
    ``count`` images of ``dataset`` in batches of ``batch``; the decoding (:data:`DECODE_PATTERNS`) stays fp32."""
    import nncf

    batches = _Batches(dataset, count, batch, seed)
    if not len(batches):
        raise FocalYoloError("INT8 calibration needs images: pass --data with a train split")
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(logging.WARNING)  # not a line per op it leaves unquantized
    try:
        return nncf.quantize(model, nncf.Dataset(batches), preset=nncf.QuantizationPreset.MIXED,
                             subset_size=len(batches),
                             ignored_scope=nncf.IgnoredScope(patterns=list(DECODE_PATTERNS), validate=False))
    finally:
        nncf_logger.setLevel(level)


def _static(dim: Any) -> int | None:
    return dim.get_length() if dim.is_static else None


class OpenVinoModel(ExportedModel):
    """An OpenVINO IR compiled for the CPU, called like a Model in eval mode (attributes: see
    :class:`~focalyolo.deploy.onnx_model.ExportedModel`; the metadata from the folder's ``metadata.yaml``).

    ``path``: the IR's folder or its ``.xml``; ``threads``: inference threads (default: torch's).
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        super().__init__()
        try:
            import openvino
        except ImportError as exc:
            raise FocalYoloError(f"running an OpenVINO model needs openvino: {INSTALL_HINT}") from exc
        self.path = Path(path)
        xml = openvino_xml(self.path)
        if xml is None or not xml.is_file():
            raise FocalYoloError(f"{self.path}: no OpenVINO IR (an .xml file, or a folder holding one)")
        core = openvino.Core()
        config = {"INFERENCE_NUM_THREADS": threads or torch.get_num_threads(), "INFERENCE_PRECISION_HINT": "f32"}
        try:
            self.compiled = core.compile_model(core.read_model(str(xml)), "CPU", config)
        except RuntimeError as exc:
            raise FocalYoloError(f"{xml}: OpenVINO cannot load it: {str(exc).splitlines()[0][:200]}") from exc
        metadata_file = xml.parent / METADATA_FILE
        metadata = yaml.safe_load(metadata_file.read_text()) if metadata_file.is_file() else {}
        shapes = [o.get_partial_shape() for o in self.compiled.outputs]
        self.describe(metadata or {}, [_static(d) for d in self.compiled.input(0).get_partial_shape()],
                      [_static(s[1]) if s.rank.is_static and len(s) > 1 else None for s in shapes])
        self.request = self.compiled.create_infer_request()

    def run_batch(self, images: torch.Tensor) -> list[torch.Tensor]:
        results = self.request.infer({0: images.cpu().numpy()})
        return [torch.from_numpy(np.array(results[output])) for output in self.compiled.outputs]
