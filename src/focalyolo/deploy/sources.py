"""One answer to "what does this model argument name?", for every command and the ``YOLO`` API.

A model source is a packaged config name (``gelan-c-focal``), a model YAML, a focalyolo checkpoint (``.pt``,
or any other existing file), or an exported ``.onnx`` file. Official YOLOv9 checkpoints are refused by
:func:`~focalyolo.deploy.checkpoint.read_checkpoint` with the import command to run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..errors import FocalYoloError
from ..models import DetectionModel, build_model
from .checkpoint import load_model
from .convert import deployment_form

__all__ = ["SourceKind", "load_inference_model", "load_source", "source_kind"]

LOGGER = logging.getLogger("focalyolo")
SourceKind = Literal["config", "checkpoint", "onnx"]


def source_kind(source: str | Path | dict) -> SourceKind:
    """``"onnx"`` for a .onnx file, ``"checkpoint"`` for a .pt or any other existing non-YAML file,
    ``"config"`` for a YAML, a config dict or a packaged config name."""
    if isinstance(source, dict):
        return "config"
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in (".yaml", ".yml"):
        return "config"
    if suffix == ".pt" or path.is_file():
        return "checkpoint"
    return "config"


def load_source(source: str | Path | dict, device: str | torch.device = "cpu", nc: int | None = None
                ) -> DetectionModel:
    """The PyTorch model a config or checkpoint names, in eval mode on ``device`` (a config gets random
    weights; ``nc`` overrides its class count). An ONNX file is not a PyTorch model: FocalYoloError."""
    kind = source_kind(source)
    if kind == "onnx":
        raise FocalYoloError(f"{source}: an exported ONNX file runs in val and predict only; give a checkpoint "
                             f"or a model config")
    if kind == "checkpoint":
        return load_model(source, device)
    return build_model(source, nc=nc).to(device).eval()


def load_inference_model(source: str | Path | nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """A model ready for inference: a checkpoint or config in deployment form (GELAN, fused, channels-last,
    eval), an ONNX file in onnxruntime (:class:`OnnxDetector`), or a module passed in (converted the same way
    when it is a :class:`DetectionModel`). A config has random weights: a warning says so."""
    if isinstance(source, nn.Module):
        model = source
    elif source_kind(source) == "onnx":
        from .onnx_model import OnnxDetector

        return OnnxDetector(source).eval()
    else:
        model = load_source(source, device)
        if source_kind(source) == "config":
            LOGGER.warning(f"{source} is a model config, not trained weights: the model has random weights")
    if isinstance(model, DetectionModel):
        return deployment_form(model.to(device), channels_last=True)
    return model.to(device).eval()
