"""Parse a YOLOv9-format model YAML into layers: ``backbone:``/``head:`` rows ``[from, repeats, module, args]``.

The parser knows no module by name: each row's module is looked up in the registry
(:mod:`focalyolo.nn.registry`), whose channel rule maps input widths and YAML args to constructor args and
output width. Every fault raises :class:`ConfigError` with one line naming the file, the YAML line, the
layer index and what is wrong; a string where the constructor's annotation takes a number (``[16, 3, "two"]``)
is named by its position in the args and the parameter it lands in, before anything computes with it.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

import torch.nn as nn
import yaml

from ..errors import ConfigError
from ..nn.conv import activation_scope
from ..nn.registry import LayerContext, LayerPlan, lookup

__all__ = [
    "CONFIG_PACKAGE", "LayerRow", "build_layers", "config_task", "layer_dependencies", "load_model_config",
    "main_head_inputs", "packaged_configs", "read_rows",
]

CONFIG_PACKAGE = "focalyolo.models.configs"
_ACTIVATION = re.compile(r"^nn\.(\w+)\((.*)\)$")
_CONSTANTS = {"None": None, "True": True, "False": False}
_MESSAGE_CHARS = 240  # a fault's own text is cut to this: a message is one short line whatever raised it


@dataclass
class LayerRow:
    """One parsed YAML row, with where it came from (for messages and the ``info`` table)."""

    index: int
    frm: int | list[int]
    sources: list[int]
    repeats: int
    module: str
    args: list[Any]
    line: int | None


def packaged_configs() -> list[str]:
    """Names of the model YAMLs shipped with the package (without ``.yaml``)."""
    return sorted(p.name[:-5] for p in resources.files(CONFIG_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def load_model_config(cfg: str | Path | dict) -> tuple[dict, str]:
    """Read a model config: a packaged name (``"gelan-c"``), a YAML path, or a dict.

    Returns the config dict (a deep copy) and a source label used in error messages. For YAML files the
    dict carries ``_lines``: the YAML line of each backbone/head row, in order.
    """
    if isinstance(cfg, dict):
        return copy.deepcopy(cfg), str(cfg.get("yaml_file", "<dict config>"))
    path = Path(cfg)
    if not path.suffix and not path.exists():
        packaged = resources.files(CONFIG_PACKAGE) / f"{cfg}.yaml"
        if not packaged.is_file():
            raise ConfigError(f"unknown model {cfg!r}: not a file, and not one of {', '.join(packaged_configs())}")
        text, source = packaged.read_text(encoding="utf-8"), f"{cfg}.yaml"
    elif not path.is_file():
        raise ConfigError(f"{path}: model config file not found")
    else:
        text, source = path.read_text(encoding="utf-8"), str(path)
    try:
        data = yaml.safe_load(text)
        lines = _row_lines(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a model config must be a mapping with backbone: and head:")
    data["_lines"] = lines
    data.setdefault("yaml_file", source)
    return data, source


def _row_lines(text: str) -> list[int]:
    """1-based YAML line numbers of the backbone rows then the head rows."""
    root = yaml.compose(text)
    lines: list[int] = []
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value in ("backbone", "head") and isinstance(value, yaml.SequenceNode):
                lines.extend(item.start_mark.line + 1 for item in value.value)
    return lines


def _resolve_arg(value: Any, symbols: dict[str, Any]) -> Any:
    """YAML arg -> Python value without eval: the config's symbols (``nc``, and ``kpt_shape`` when the config has
    one), ``None``/``True``/``False`` and numbers in strings."""
    if isinstance(value, list):
        return [_resolve_arg(v, symbols) for v in value]
    if not isinstance(value, str):
        return value
    if value in symbols:
        return symbols[value]
    if value in _CONSTANTS:
        return _CONSTANTS[value]
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return literal if isinstance(literal, (int, float)) else value


def _admits_str(hint: Any) -> bool:
    """Whether a constructor parameter annotated ``hint`` takes a string (``str``, ``str | None``, ``Any``,
    a ``Literal`` of strings)."""
    if hint is str or hint is Any:
        return True
    origin, members = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_admits_str(m) for m in members)
    return origin is Literal and any(isinstance(m, str) for m in members)


def _item_hint(hint: Any) -> Any:
    """The annotation of the items of a list-valued parameter (``list[int]`` -> int); Any when it names none."""
    origin, members = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return next((_item_hint(m) for m in members if typing.get_origin(m) in (list, tuple, Sequence)), Any)
    return members[0] if origin in (list, tuple, Sequence) and members else Any


def _stray_string(hint: Any, value: Any) -> str | None:
    """The first string in ``value`` (or in its nested lists) that stands where ``hint`` admits no string."""
    if isinstance(value, str):
        return None if _admits_str(hint) else value
    if isinstance(value, (list, tuple)):
        return next((s for v in value if (s := _stray_string(_item_hint(hint), v)) is not None), None)
    return None


def _stray_argument(cls: type, plan: LayerPlan) -> tuple[str, str, Any] | None:
    """``(parameter, string, annotation)`` of the first constructor parameter of ``cls`` that ``plan`` gives a
    string its annotation does not admit (``Conv(..., s="abc")``); None when there is none or ``cls`` is not
    annotated. A wrong number of arguments is left for the constructor to report."""
    try:
        bound = inspect.signature(cls).bind(*plan.args, **plan.kwargs)
        hints = typing.get_type_hints(cls.__init__)
    except (TypeError, ValueError, NameError):
        return None
    for name, value in bound.arguments.items():
        if name in hints and (text := _stray_string(hints[name], value)) is not None:
            return name, text, hints[name]
    return None


def _short(text: str, limit: int = _MESSAGE_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fault(exc: Exception, ch_in: list[Any], args: list[Any]) -> str:
    """What a channel rule or a constructor raised, shortened, with the layer's input widths and YAML args."""
    return f"{_short(str(exc))} (inputs with channels {ch_in}, args {_short(repr(args), 120)})"


def _hint_text(hint: Any) -> str:
    """An annotation as written in code: ``float | tuple[float, ...] | None``."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " | ".join(_hint_text(m) for m in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else str(hint).replace("typing.", "")


def _not_a_number(args: list[Any], text: str, wanted: str) -> str:
    """The message for a string where a number belongs: which YAML argument holds it (``args[i]``) and what
    belongs there."""
    position = next((i for i, arg in enumerate(args) if arg == text or (isinstance(arg, list) and text in arg)), None)
    where = f"args[{position}]" if position is not None else "an argument"
    return f"{where} is the string {_short(repr(text), 40)}; {wanted}"


def _activation_factory(spec: Any, source: str):
    """``activation: nn.ReLU()`` / ``nn.LeakyReLU(0.1)`` -> a factory of fresh activation modules."""
    match = _ACTIVATION.match(str(spec).strip())
    klass = getattr(nn, match.group(1), None) if match else None
    if klass is None:
        raise ConfigError(f"{source}: activation {spec!r} is not of the form nn.Name(args)")
    try:
        call = ast.parse(f"f({match.group(2)})", mode="eval").body
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        klass(*args, **kwargs)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise ConfigError(f"{source}: activation {spec!r}: {exc}") from None
    return lambda: klass(*args, **kwargs)


def read_rows(cfg: dict, source: str) -> list[LayerRow]:
    """Validate the row syntax of ``backbone`` + ``head`` and make every ``from`` index absolute."""
    rows_raw = list(cfg.get("backbone") or []) + list(cfg.get("head") or [])
    if not rows_raw:
        raise ConfigError(f"{source}: no layers (needs backbone: and head: lists of [from, repeats, module, args])")
    lines = cfg.get("_lines") or []
    rows = []
    for i, raw in enumerate(rows_raw):
        line = lines[i] if i < len(lines) else None
        where = f"{source}:{line}: layer {i}" if line else f"{source}: layer {i}"
        if not (isinstance(raw, (list, tuple)) and len(raw) == 4):
            raise ConfigError(f"{where}: a row must be [from, repeats, module, args], got {raw!r}")
        frm, repeats, module, args = raw
        sources = frm if isinstance(frm, list) else [frm]
        if not sources or not all(isinstance(f, int) and not isinstance(f, bool) for f in sources):
            raise ConfigError(f"{where} ({module}): 'from' must be an int or a list of ints, got {frm!r}")
        absolute = []
        for f in sources:
            a = i + f if f < 0 else f
            if not (-1 <= a < i) or (a == -1 and i > 0) or (f >= 0 and f >= i):
                raise ConfigError(f"{where} ({module}): bad 'from' index {f}: it must refer to an earlier layer "
                                  f"(0..{i - 1}) or be negative")
            absolute.append(a)
        if not isinstance(repeats, int) or repeats < 1:
            raise ConfigError(f"{where} ({module}): repeats must be a positive int, got {repeats!r}")
        if not isinstance(args, list):
            raise ConfigError(f"{where} ({module}): args must be a list, got {args!r}")
        rows.append(LayerRow(i, frm, absolute, repeats, str(module), args, line))
    return rows


def layer_dependencies(rows: list[LayerRow], roots: list[int]) -> set[int]:
    """Indices of ``roots`` and every layer they read, transitively (-1, the image, is not a layer)."""
    keep: set[int] = set()
    stack = [r for r in roots if r >= 0]
    while stack:
        index = stack.pop()
        if index not in keep:
            keep.add(index)
            stack.extend(s for s in rows[index].sources if s >= 0)
    return keep


def main_head_inputs(rows: list[LayerRow]) -> list[int]:
    """The layers feeding the inference branch of the head (the last row), as its class tells (``main_inputs``):
    all inputs of a single head; a dual head's main levels (and main prototype input), not its auxiliary ones."""
    head = rows[-1]
    try:
        main_inputs = getattr(lookup(head.module).cls, "main_inputs", None)
    except KeyError:
        main_inputs = None
    return main_inputs(head.sources) if main_inputs else list(head.sources)


def config_task(cfg: str | Path | dict) -> str:
    """The task name (``"detect"``, ``"classify"`` ...) that the head of a model config (its last row) declares,
    read without building the model; a ConfigError names the row when its module is unknown or not a head."""
    data, source = load_model_config(cfg)
    head = read_rows(data, source)[-1]
    where = f"{source}:{head.line}: layer {head.index}" if head.line else f"{source}: layer {head.index}"
    try:
        task = getattr(lookup(head.module).cls, "task", None)
    except KeyError:
        raise ConfigError(f"{where}: unknown module {head.module!r}; "
                          "register it with focalyolo.register_module") from None
    if not isinstance(task, str):
        raise ConfigError(f"{where} ({head.module}): the last row must be a head (detection, segmentation, pose "
                          f"or classification)")
    return task


def build_layers(cfg: dict, source: str, ch: int, nc: int) -> tuple[nn.ModuleList, list[int], list[LayerRow]]:
    """Construct every layer of the config.

    Returns the layers (each tagged with ``i`` index, ``f`` from (-1 or absolute ints), ``type`` name and
    ``np`` parameter count), the sorted indices whose outputs later layers read, and the parsed rows.
    """
    depth = float(cfg.get("depth_multiple", 1.0))
    width = float(cfg.get("width_multiple", 1.0))
    rows = read_rows(cfg, source)
    activation = cfg.get("activation")
    factory = _activation_factory(activation, source) if activation else (lambda: nn.SiLU(inplace=True))
    symbols = {"nc": nc, **({"kpt_shape": cfg["kpt_shape"]} if "kpt_shape" in cfg else {})}
    channels: list[Any] = []
    layers, save = [], set()
    with activation_scope(factory):
        for row in rows:
            where = (f"{source}:{row.line}: layer {row.index} ({row.module})" if row.line
                     else f"{source}: layer {row.index} ({row.module})")
            try:
                spec = lookup(row.module)
            except KeyError:
                raise ConfigError(f"{where}: unknown module {row.module!r}; "
                                  "register it with focalyolo.register_module") from None
            ch_in = [ch if a == -1 else channels[a] for a in row.sources]
            repeats = max(round(row.repeats * depth), 1) if row.repeats > 1 else row.repeats
            args = _resolve_arg(row.args, symbols)
            try:
                plan = spec.rule(LayerContext(ch_in, args, repeats, width, nc))
            except (ValueError, TypeError, IndexError, RuntimeError) as exc:
                # a rule computes with numbers: on a TypeError, a string among the args is the likely cause
                text = next((a for a in args if isinstance(a, str)), None) if isinstance(exc, TypeError) else None
                fault = (_not_a_number(args, text, "a number belongs there") if text is not None
                         else _fault(exc, ch_in, row.args))
                raise ConfigError(f"{where}: {fault}") from None
            stray = _stray_argument(spec.cls, plan)
            if stray:
                name, text, hint = stray
                raise ConfigError(f"{where}: {_not_a_number(args, text, f'argument {name} takes {_hint_text(hint)}')}")
            try:
                made = [spec.cls(*plan.args, **plan.kwargs) for _ in range(plan.repeats)]
            except (ValueError, TypeError, IndexError, RuntimeError) as exc:
                raise ConfigError(f"{where}: {_fault(exc, ch_in, row.args)}") from None
            layer = made[0] if len(made) == 1 else nn.Sequential(*made)
            relative = [-1 if a == row.index - 1 else a for a in row.sources]
            layer.i, layer.type = row.index, row.module
            layer.f = relative[0] if len(relative) == 1 else relative
            layer.np = sum(p.numel() for p in layer.parameters())
            save.update(a for a in row.sources if a != row.index - 1 and a >= 0)
            layers.append(layer)
            channels.append(plan.c_out)
    return nn.ModuleList(layers), sorted(save), rows
