"""Models ready for inference, whatever the source: a checkpoint or config in deployment form, or an exported model
in its runtime (ONNX Runtime, OpenVINO, TensorRT). ``val`` and ``predict`` load their model here."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ..models import Model
from ..weights.convert import deployment_form
from ..weights.sources import load_source, source_kind

__all__ = ["load_inference_model"]

LOGGER = logging.getLogger("focalyolo")


def load_inference_model(source: str | Path | nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """A model ready for inference: a checkpoint or config in deployment form (GELAN, fused, channels-last,
    eval), an ONNX file in onnxruntime (:class:`OnnxModel`), an OpenVINO IR on the CPU
    (:class:`OpenVinoModel`), a TensorRT engine on CUDA (:class:`TensorRTModel`), or a module passed in
    (converted the same way when it is a :class:`Model`). A config has random weights: a warning says so."""
    if isinstance(source, nn.Module):
        model = source
    elif source_kind(source) == "onnx":
        from .onnx_model import OnnxModel

        return OnnxModel(source).eval()
    elif source_kind(source) == "openvino":
        from .openvino_model import OpenVinoModel

        return OpenVinoModel(source).eval()
    elif source_kind(source) == "engine":
        from .tensorrt import TensorRTModel

        return TensorRTModel(source, device).eval()
    else:
        model = load_source(source, device)
        if source_kind(source) == "config":
            LOGGER.warning(f"{source} is a model config, not trained weights: the model has random weights")
    if isinstance(model, Model):
        return deployment_form(model.to(device), channels_last=True)
    return model.to(device).eval()
