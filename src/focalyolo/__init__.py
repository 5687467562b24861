"""focalyolo: YOLOv9 (GELAN + PGI) with FocalNet focal modulation, built from YAML.

Public API: :func:`build_model`, :func:`register_module`, and the modules in :mod:`focalyolo.nn`.
"""

from ._version import __version__
from .api import YOLO
from .errors import CheckpointError, ConfigError, DataError, FocalYoloError
from .models import Model, build_model
from .nn.registry import register_module
from .weights.checkpoint import load_model

__all__ = [
    "CheckpointError", "ConfigError", "YOLO", "DataError", "Model", "FocalYoloError", "__version__",
    "build_model", "load_model", "register_module",
]
