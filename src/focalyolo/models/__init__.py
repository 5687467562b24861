"""Model construction from YAML configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .model import Model
from .parser import config_task, load_model_config, packaged_configs


def build_model(cfg: str | Path | dict, nc: int | None = None, ch: int = 3, **config: Any) -> Model:
    """Build a model of any task from a packaged config name (``"yolov9-c"``, ``"gelan-t-cls-focal"``), a YAML path
    or a dict.

    ``nc`` overrides the config's class count (the config's own, else 80, when None); ``config`` sets other top-level
    keys of the config that the data decides (a task's ``model_options``, e.g. pose's ``kpt_shape`` and ``skeleton``).
    """
    return Model(cfg, ch=ch, nc=nc, **config)


__all__ = ["Model", "build_model", "config_task", "load_model_config", "packaged_configs"]
