"""The default configuration as commented YAML (``focalyolo cfg``)."""

from __future__ import annotations

import yaml

from .options import Config, option_fields
from .schema import GROUP_TITLES, HYP_GROUPS

__all__ = ["format_config"]


def _yaml_value(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def format_config(config: Config, width: int = 120) -> str:
    """``config`` as YAML, one key per line with its help as a comment, grouped under commented headers.

    The hyper-parameter groups of a :class:`TrainConfig` form a valid hyp file on their own."""
    cls = type(config)
    lines = [f"# focalyolo {cls.command}: every option with its default (see 'focalyolo {cls.command} --help')"]
    fields = option_fields(cls)
    groups = list(dict.fromkeys(f.metadata["group"] for f in fields))
    for group in groups:
        hyp = " (hyper-parameters: a hyp YAML may set these)" if group in HYP_GROUPS else ""
        lines += ["", f"# --- {GROUP_TITLES.get(group, group)}{hyp}"]
        members = [f for f in fields if f.metadata["group"] == group]
        entries = [(f"{f.name}: {_yaml_value(getattr(config, f.name))}", f.metadata["help"]) for f in members]
        pad = max(len(e) for e, _ in entries) + 2
        for entry, help_text in entries:
            text = f"{entry:<{pad}}# {help_text}"
            lines.append(text if len(text) <= width else f"# {help_text}\n{entry}")
    return "\n".join(lines) + "\n"
