"""The image size (and data) a ``val`` / ``predict`` / ``export`` job runs with: explicit, else the model's record.

Those commands leave ``imgsz`` (and ``val`` its ``data``) unset by default; they are taken from the model's training
record (``Model.train_args``, saved in every checkpoint and carried through conversion and ONNX export), with one
line saying so, else :data:`~focalyolo.cfg.imgsz.INFERENCE_IMGSZ`. An explicit value always wins. The size is then
held to the one rule for every command (:func:`~focalyolo.cfg.imgsz.stride_multiple`: rounded up to a multiple of
the model's largest stride, with a warning); the job runs with the returned configuration, the given one is left
as it was.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from ..errors import ConfigError
from .imgsz import INFERENCE_IMGSZ, stride_multiple
from .options import Config

__all__ = ["inference_config"]

LOGGER = logging.getLogger("focalyolo")
C = TypeVar("C", bound=Config)


def inference_config(cfg: C, model: Any, need_data: bool = False) -> C:
    """A copy of ``cfg`` with ``imgsz`` (and, when ``need_data``, ``data``) filled from ``model.train_args`` where
    unset, and ``imgsz`` a multiple of ``model.stride.max()``.

    Without a record ``imgsz`` is :data:`INFERENCE_IMGSZ`; missing ``data`` is a ConfigError (nothing to evaluate
    on)."""
    record = getattr(model, "train_args", None) or {}
    changes: dict[str, Any] = {}
    taken: list[str] = []
    if cfg.imgsz is None:
        changes["imgsz"] = record.get("imgsz") or INFERENCE_IMGSZ
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
    imgsz = changes.get("imgsz", cfg.imgsz)
    used = stride_multiple(imgsz, int(model.stride.max()))
    if used != imgsz:
        changes["imgsz"] = used
    return cfg.replace(**changes) if changes else cfg
