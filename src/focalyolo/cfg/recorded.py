"""Inference settings a checkpoint knows: the image size (and data) its training run used.

``val``, ``predict`` and ``export`` leave ``imgsz`` (and ``val`` its ``data``) unset by default; they are taken
from the model's training record (``Model.train_args``, saved in every checkpoint and carried through
conversion and ONNX export), with one line saying so. An explicit value always wins.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from ..errors import ConfigError
from .options import Config

__all__ = ["DEFAULT_IMGSZ", "with_recorded_defaults"]

LOGGER = logging.getLogger("focalyolo")
DEFAULT_IMGSZ = 640
C = TypeVar("C", bound=Config)


def with_recorded_defaults(cfg: C, model: Any, need_data: bool = False) -> C:
    """``cfg`` with ``imgsz`` (and, when ``need_data``, ``data``) filled from ``model.train_args`` where unset.

    Without a record ``imgsz`` is 640; missing ``data`` is a ConfigError (nothing to evaluate on)."""
    record = getattr(model, "train_args", None) or {}
    changes: dict[str, Any] = {}
    taken: list[str] = []
    if cfg.imgsz is None:
        changes["imgsz"] = record.get("imgsz") or DEFAULT_IMGSZ
        if record.get("imgsz"):
            taken.append(f"imgsz {record['imgsz']}")
    if need_data and getattr(cfg, "data", None) is None:
        if not record.get("data"):
            raise ConfigError(f"{cfg.model}: no data given and the model records no training data; pass --data")
        changes["data"] = record["data"]
        taken.append(f"data {record['data']}")
    if taken:
        flags = " / ".join(f"--{k}" for k in changes)
        LOGGER.info(f"{cfg.command}: {' and '.join(taken)} from the model's training run (set {flags} to change)")
    return cfg.replace(**changes) if changes else cfg
