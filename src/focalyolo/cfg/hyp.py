"""Hyp YAML files: packaged ones (``scratch-high``, ``cpu-short``) by name, the user's by path.

This module reads them; :func:`focalyolo.cfg.schema.load_hyp` checks their keys and values against the schema.
The anchor-based keys that official YOLOv9 hyp files still carry (:data:`LEGACY_KEYS`) are accepted with a
warning that nothing reads them, so those files load unchanged.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["LEGACY_KEYS", "packaged_hyps", "read_hyp_file"]

LEGACY_KEYS = {
    "obj": "objectness gain of anchor-based heads",
    "obj_pw": "objectness BCE positive weight of anchor-based heads",
    "iou_t": "anchor IoU threshold of anchor-based heads",
    "anchor_t": "anchor-multiple threshold of anchor-based heads",
    "cls_pw": "class BCE positive weight (the DFL head's loss uses plain BCE)",
    "fl_gamma": "focal-loss gamma (the DFL head's loss uses plain BCE)",
    "copy_paste": "copy-paste augmentation (needs segmentation polygons)",
}
"""Keys of official YOLOv9 hyp files that no part of a DFL-head detector reads, and why."""


def _packaged(name: str) -> Path | None:
    packaged = resources.files("focalyolo").joinpath("cfg", f"hyp.{name}.yaml")
    return Path(str(packaged)) if packaged.is_file() else None


def read_hyp_file(hyp: str | Path) -> tuple[dict[str, Any], str]:
    """The mapping in a hyp YAML (a path, or the name of a packaged file) and the path it was read from."""
    path = Path(hyp)
    if not path.is_file():
        path = _packaged(str(hyp)) or path
    if not path.is_file():
        raise ConfigError(f"{hyp}: hyper-parameter file not found (nor a packaged one: {', '.join(packaged_hyps())})")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of hyper-parameters")
    return values, str(path)


def packaged_hyps() -> list[str]:
    """Names of the hyp files shipped in ``focalyolo/cfg`` (``hyp.<name>.yaml``), for ``--hyp <name>``."""
    folder = resources.files("focalyolo").joinpath("cfg")
    return sorted(f.name[4:-5] for f in folder.iterdir() if f.name.startswith("hyp.") and f.name.endswith(".yaml"))
