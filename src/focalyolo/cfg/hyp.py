"""Hyp YAMLs: packaged (``scratch-high``, ``cpu-short``) or the user's, checked against the schema.

A hyp file sets hyper-parameters (the fields of :data:`~focalyolo.cfg.schema.HYP_GROUPS`); keys it leaves out
keep YOLOv9's scratch-high values. A key that is no hyper-parameter is one error naming the closest valid
key; the anchor-based keys that official YOLOv9 hyp files still carry (``obj``, ``anchor_t`` ...) are accepted
with a warning that nothing reads them, so those files load unchanged.
"""

from __future__ import annotations

import logging
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ConfigError
from .options import OptionError, UnknownOptionError, coerce, option_fields

__all__ = ["LEGACY_KEYS", "load_hyp", "packaged_hyps", "read_hyp_file"]

LOGGER = logging.getLogger("focalyolo")
LEGACY_KEYS = {
    "obj": "objectness gain of anchor-based heads",
    "obj_pw": "objectness BCE positive weight of anchor-based heads",
    "iou_t": "anchor IoU threshold of anchor-based heads",
    "anchor_t": "anchor-multiple threshold of anchor-based heads",
    "cls_pw": "class BCE positive weight (the DFL head's loss uses plain BCE)",
    "fl_gamma": "focal-loss gamma (the DFL head's loss uses plain BCE)",
    "copy_paste": "copy-paste augmentation (needs segmentation polygons)",
    "label_smoothing": "label smoothing (not part of YOLOv9's detection loss)",
}
"""Keys of official YOLOv9 hyp files that no part of a DFL-head detector reads, and why."""


def _hyper_fields() -> dict[str, Any]:
    from .schema import TrainConfig

    return {f.name: f for f in option_fields(TrainConfig) if f.metadata["hyper"]}


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


def checked_hyperparameters(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``values`` with each key checked against the schema (type and rule); legacy keys dropped with a warning."""
    from .schema import TrainConfig

    hyper_fields = _hyper_fields()
    all_fields = set(TrainConfig.names())
    legacy = sorted(k for k in values if k in LEGACY_KEYS)
    if legacy:
        LOGGER.warning(f"{source}: ignored {', '.join(legacy)}: YOLOv9 legacy key(s) that nothing reads "
                       f"({'; '.join(LEGACY_KEYS[k] for k in legacy)})")
    type_hints = typing.get_type_hints(TrainConfig)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in LEGACY_KEYS:
            continue
        if key not in hyper_fields:
            if key in all_fields:
                raise ConfigError(f"{source}: '{key}' is a run option, not a hyper-parameter: "
                                  f"pass it as --{key.replace('_', '-')} or {key}=")
            raise UnknownOptionError(str(key), hyper_fields, "hyper-parameter", source)
        checked = coerce(key, value, type_hints[key], source)
        rule = hyper_fields[key].metadata["rule"]
        if rule is not None and not rule.test(checked):
            raise OptionError(key, checked, rule.text, source)
        out[key] = checked
    return out


def load_hyp(hyp: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every hyper-parameter: scratch-high's values updated by ``hyp``, a YAML path, the name of a packaged
    file (``cpu-short`` for ``focalyolo/cfg/hyp.cpu-short.yaml``) or a mapping. Unknown keys are an error."""
    from .schema import default_hyperparameters

    values = default_hyperparameters()
    if hyp is None:
        return values
    if isinstance(hyp, Mapping):
        override, source = dict(hyp), "hyp"
    else:
        override, source = read_hyp_file(hyp)
    return {**values, **checked_hyperparameters(override, source)}


def packaged_hyps() -> list[str]:
    """Names of the hyp files shipped in ``focalyolo/cfg`` (``hyp.<name>.yaml``), for ``--hyp <name>``."""
    folder = resources.files("focalyolo").joinpath("cfg")
    return sorted(f.name[4:-5] for f in folder.iterdir() if f.name.startswith("hyp.") and f.name.endswith(".yaml"))
