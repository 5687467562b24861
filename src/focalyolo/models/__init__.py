"""Model construction from YAML configs."""

from __future__ import annotations

from pathlib import Path

from .model import Model
from .parser import config_task, load_model_config, packaged_configs


def build_model(cfg: str | Path | dict, nc: int | None = None, ch: int = 3, kpt_shape: list[int] | None = None,
                skeleton: list[list[int]] | None = None) -> Model:
    """Build a model (a detector, segmenter or classifier) from a packaged config name (``"yolov9-c"``,
    ``"gelan-t-cls-focal"``), a YAML path or a dict.

    ``nc`` overrides the config's class count (the config's own, else 80, when None), ``kpt_shape`` a pose model's
    keypoint shape ``[nk, ndim]`` (``skeleton``, its keypoint pairs, is recorded for drawing).
    """
    return Model(cfg, ch=ch, nc=nc, kpt_shape=kpt_shape, skeleton=skeleton)


__all__ = ["Model", "build_model", "config_task", "load_model_config", "packaged_configs"]
