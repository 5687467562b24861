"""Training hyper-parameters: the shipped ``hyp.scratch-high.yaml`` and user overrides."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ConfigError

DEFAULT_HYP = "hyp.scratch-high.yaml"


def load_hyp(hyp: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the default hyper-parameters updated by ``hyp``: a YAML path, the name of a packaged hyp file
    (``cpu-short`` for ``focalyolo/cfg/hyp.cpu-short.yaml``), or a mapping.

    Unknown keys in an override are an error, so a typo (``mixp: 0.2``) is not silently ignored.
    """
    defaults = yaml.safe_load(resources.files("focalyolo").joinpath("cfg", DEFAULT_HYP).read_text())
    if hyp is None:
        return defaults
    if isinstance(hyp, Mapping):
        override, source = dict(hyp), "hyp"
    else:
        path = Path(hyp)
        packaged = resources.files("focalyolo").joinpath("cfg", f"hyp.{hyp}.yaml")
        if not path.is_file() and packaged.is_file():
            path = Path(str(packaged))
        if not path.is_file():
            raise ConfigError(f"{path}: hyper-parameter file not found (nor a packaged one: {', '.join(packaged_hyps())})")
        override, source = yaml.safe_load(path.read_text()) or {}, str(path)
        if not isinstance(override, dict):
            raise ConfigError(f"{source}: expected a mapping of hyper-parameters")
    unknown = sorted(set(override) - set(defaults))
    if unknown:
        raise ConfigError(f"{source}: unknown hyper-parameter(s) {', '.join(map(str, unknown))}")
    return {**defaults, **override}


def packaged_hyps() -> list[str]:
    """Names of the hyp files shipped in ``focalyolo/cfg`` (``hyp.<name>.yaml``), for ``--hyp <name>``."""
    folder = resources.files("focalyolo").joinpath("cfg")
    return sorted(f.name[4:-5] for f in folder.iterdir() if f.name.startswith("hyp.") and f.name.endswith(".yaml"))
