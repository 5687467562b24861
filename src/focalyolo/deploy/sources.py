"""One answer to "what does this model argument name?", for every command and the ``YOLO`` API.

A model source is a packaged config name (``gelan-c-focal``), a model YAML, a checkpoint (``.pt``, or any other
existing file) — focalyolo's own, or an official YOLOv9 one, imported on the fly with the restricted unpickler
(nothing in it runs) — or an exported model: an ``.onnx`` file, an OpenVINO IR (its folder, holding one ``.xml``, or
the ``.xml``) or a TensorRT ``.engine``; those run in ``val`` and ``predict`` only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..errors import FocalYoloError, OfficialCheckpointError
from ..models import DetectionModel, build_model
from .checkpoint import model_from_checkpoint, read_checkpoint
from .convert import deployment_form
from .official import import_official
from .openvino_model import openvino_xml

__all__ = ["EXPORTED_KINDS", "SourceKind", "load_inference_model", "load_source", "read_source_checkpoint",
           "source_kind"]

LOGGER = logging.getLogger("focalyolo")
SourceKind = Literal["config", "checkpoint", "onnx", "openvino", "engine"]
EXPORTED_KINDS = ("onnx", "openvino", "engine")
"""Source kinds that are exported models (run by a runtime, not PyTorch): val and predict only."""
EXPORTED_SUFFIXES: dict[str, SourceKind] = {".onnx": "onnx", ".xml": "openvino", ".engine": "engine"}


def source_kind(source: str | Path | dict) -> SourceKind:
    """``"onnx"`` for a .onnx file, ``"openvino"`` for an .xml file or a folder holding exactly one, ``"engine"``
    for a TensorRT .engine file, ``"checkpoint"`` for a .pt or any other existing non-YAML file, ``"config"`` for a
    YAML, a config dict or a packaged config name."""
    if isinstance(source, dict):
        return "config"
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in EXPORTED_SUFFIXES:
        return EXPORTED_SUFFIXES[suffix]
    if openvino_xml(path) is not None:
        return "openvino"
    if suffix in (".yaml", ".yml"):
        return "config"
    if suffix == ".pt" or path.is_file():
        return "checkpoint"
    return "config"


def read_source_checkpoint(path: str | Path) -> dict:
    """Checkpoint data of a focalyolo checkpoint, or of an official YOLOv9 file (imported, with a log line)."""
    try:
        return read_checkpoint(path)
    except OfficialCheckpointError:
        LOGGER.info(f"{path}: an official YOLOv9 checkpoint; importing its weights (read without running its code)")
        return import_official(path)


def load_source(source: str | Path | dict, device: str | torch.device = "cpu", nc: int | None = None
                ) -> DetectionModel:
    """The PyTorch model a config or checkpoint names, in eval mode on ``device`` (a config gets random
    weights; ``nc`` overrides its class count). An exported model is not a PyTorch model: FocalYoloError."""
    kind = source_kind(source)
    if kind in EXPORTED_KINDS:
        what = {"onnx": "ONNX file", "openvino": "OpenVINO model", "engine": "TensorRT engine"}[kind]
        raise FocalYoloError(f"{source}: an exported {what} runs in val and predict only; give a checkpoint "
                             f"or a model config")
    if kind == "checkpoint":
        return model_from_checkpoint(read_source_checkpoint(source)).to(device).eval()
    return build_model(source, nc=nc).to(device).eval()


def load_inference_model(source: str | Path | nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """A model ready for inference: a checkpoint or config in deployment form (GELAN, fused, channels-last,
    eval), an ONNX file in onnxruntime (:class:`OnnxDetector`), an OpenVINO IR on the CPU
    (:class:`OpenVinoDetector`), a TensorRT engine on CUDA (:class:`TensorRTDetector`), or a module passed in
    (converted the same way when it is a :class:`DetectionModel`). A config has random weights: a warning says so."""
    if isinstance(source, nn.Module):
        model = source
    elif source_kind(source) == "onnx":
        from .onnx_model import OnnxDetector

        return OnnxDetector(source).eval()
    elif source_kind(source) == "openvino":
        from .openvino_model import OpenVinoDetector

        return OpenVinoDetector(source).eval()
    elif source_kind(source) == "engine":
        from .tensorrt import TensorRTDetector

        return TensorRTDetector(source, device).eval()
    else:
        model = load_source(source, device)
        if source_kind(source) == "config":
            LOGGER.warning(f"{source} is a model config, not trained weights: the model has random weights")
    if isinstance(model, DetectionModel):
        return deployment_form(model.to(device), channels_last=True)
    return model.to(device).eval()
