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

from ..errors import FocalYoloError, OfficialCheckpointError
from ..models import Model, build_model
from .checkpoint import model_from_checkpoint, read_checkpoint
from .official import import_official

__all__ = ["EXPORTED_KINDS", "SourceKind", "load_source", "openvino_xml", "read_source_checkpoint", "source_kind"]

LOGGER = logging.getLogger("focalyolo")
SourceKind = Literal["config", "checkpoint", "onnx", "openvino", "engine"]
EXPORTED_KINDS = ("onnx", "openvino", "engine")
"""Source kinds that are exported models (run by a runtime, not PyTorch): val and predict only."""
EXPORTED_SUFFIXES: dict[str, SourceKind] = {".onnx": "onnx", ".xml": "openvino", ".engine": "engine"}


def openvino_xml(source: str | Path) -> Path | None:
    """The IR graph a source names: an ``.xml`` file, or a folder holding exactly one; else None."""
    path = Path(source)
    if path.suffix.lower() == ".xml":
        return path
    if path.is_dir():
        graphs = sorted(path.glob("*.xml"))
        return graphs[0] if len(graphs) == 1 else None
    return None


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
                ) -> Model:
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
