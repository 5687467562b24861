"""The module registry: how a YAML row ``[from, repeats, Name, args]`` becomes a constructed layer.

Every module usable in a model YAML is registered under a name together with a *channel rule*: a function
that receives the channel counts of the layer's inputs and its YAML arguments, and returns the constructor
arguments and the layer's output channels. The parser never tests class names, so a new block is one class
plus one decorator::

    @register_module(channels="preserved")
    class MyBlock(nn.Module):
        def __init__(self, c1: int, c2: int, k: int = 3): ...

Built-in rules (see the functions below): ``out_first`` (args[0] is the output width, scaled by
``width_multiple``), ``preserved`` (output width = input width, as for context blocks), ``passthrough``,
``concat`` and ``head``. A class may also pass any callable ``rule(ctx) -> LayerPlan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Union

import torch.nn as nn

from ..utils.boxes import make_divisible

__all__ = [
    "ChannelRule", "Channels", "LayerContext", "LayerPlan", "ModuleSpec", "RULES", "concat", "head", "lookup",
    "out_first", "passthrough", "preserved", "register_module", "registered_names", "repeats_as_arg",
]

Channels = Union[int, list[int]]


@dataclass(frozen=True)
class LayerContext:
    """What a channel rule may read about one YAML row.

    ``ch_in`` holds the output channel record of each ``from`` input (an int, or a list for layers that
    produce several tensors such as CBLinear); ``args`` are the YAML args with ``nc`` already substituted;
    ``repeats`` is the depth-scaled repeat count.
    """

    ch_in: list[Channels]
    args: list[Any]
    repeats: int
    width_multiple: float
    nc: int

    def scale_width(self, channels: int) -> int:
        """Width-scaled channel count, rounded up to a multiple of 8 (applied even at width 1.0)."""
        return make_divisible(channels * self.width_multiple, 8)

    def single_input(self) -> int:
        """The channel count of the one input, or a ValueError naming the problem."""
        if len(self.ch_in) != 1 or not isinstance(self.ch_in[0], int):
            raise ValueError(f"expects one tensor input, got inputs with channels {self.ch_in}")
        return self.ch_in[0]


@dataclass
class LayerPlan:
    """A channel rule's answer: constructor arguments, output channels, and copies to stack."""

    args: list[Any]
    c_out: Channels
    repeats: int = 1
    kwargs: dict[str, Any] = field(default_factory=dict)


ChannelRule = Callable[[LayerContext], LayerPlan]


def out_first(ctx: LayerContext) -> LayerPlan:
    """``args[0]`` is the output width (scaled): constructor gets ``(c_in, c_out, *args[1:])``."""
    if not ctx.args:
        raise ValueError("needs the output channels as its first argument")
    c1, c2 = ctx.single_input(), ctx.scale_width(ctx.args[0])
    return LayerPlan([c1, c2, *ctx.args[1:]], c2, ctx.repeats)


def preserved(ctx: LayerContext) -> LayerPlan:
    """Output width equals input width (``c2 = ch[f]; args = [c2, *args]``); args[0], if given, must agree."""
    c1 = ctx.single_input()
    if ctx.args and isinstance(ctx.args[0], int):
        c2, rest = ctx.scale_width(ctx.args[0]), ctx.args[1:]
    else:
        c2, rest = c1, ctx.args
    return LayerPlan([c1, c2, *rest], c2, ctx.repeats)


def passthrough(ctx: LayerContext) -> LayerPlan:
    """Shape-only layers (Silence, nn.Upsample): args unchanged, output width = input width."""
    return LayerPlan(list(ctx.args), ctx.ch_in[0], ctx.repeats)


def concat(ctx: LayerContext) -> LayerPlan:
    """Channel concatenation: output width is the sum of the inputs'."""
    if not all(isinstance(c, int) for c in ctx.ch_in):
        raise ValueError(f"can only concatenate single tensors, got inputs with channels {ctx.ch_in}")
    return LayerPlan(list(ctx.args), sum(ctx.ch_in), 1)


def head(ctx: LayerContext) -> LayerPlan:
    """Detection heads: the list of input widths is appended to the args (``[nc] -> [nc, [c3, c4, c5]]``)."""
    return LayerPlan([*ctx.args, [int(c) for c in ctx.ch_in]], 0, 1)


def repeats_as_arg(rule: ChannelRule, position: int = 2) -> ChannelRule:
    """Wrap a rule so that the repeat count is passed as a constructor argument instead of stacking copies."""

    def wrapped(ctx: LayerContext) -> LayerPlan:
        plan = rule(ctx)
        plan.args.insert(position, plan.repeats)
        plan.repeats = 1
        return plan

    return wrapped


RULES: dict[str, ChannelRule] = {
    "out_first": out_first,
    "preserved": preserved,
    "passthrough": passthrough,
    "concat": concat,
    "head": head,
}


@dataclass(frozen=True)
class ModuleSpec:
    """A registered module: its class and the channel rule the parser applies to its YAML rows."""

    name: str
    cls: type[nn.Module]
    rule: ChannelRule


_REGISTRY: dict[str, ModuleSpec] = {}


def register_module(
    cls: type[nn.Module] | None = None,
    *,
    name: str | None = None,
    channels: str | ChannelRule | None = None,
    repeats_arg: int | None = None,
    overwrite: bool = False,
):
    """Register a module class for use in model YAMLs (usable bare, with arguments, or as a function).

    Args:
        cls: the class (when used as ``register_module(MyBlock, channels=...)`` or ``@register_module``).
        name: YAML name; defaults to the class name.
        channels: a rule name from ``RULES`` or a callable; defaults to the class's ``yaml_rule``
            static method if it has one, else ``out_first``.
        repeats_arg: if set, the YAML repeat count is passed to the constructor at this position.
        overwrite: allow replacing an existing registration of the same name.
    """

    def decorate(klass: type[nn.Module]) -> type[nn.Module]:
        key = name or klass.__name__
        if key in _REGISTRY and not overwrite and _REGISTRY[key].cls is not klass:
            raise ValueError(f"a module named {key!r} is already registered ({_REGISTRY[key].cls!r})")
        if channels is None:
            rule = getattr(klass, "yaml_rule", None) or out_first
        elif isinstance(channels, str):
            if channels not in RULES:
                raise ValueError(f"unknown channel rule {channels!r}; choose from {sorted(RULES)} or pass a callable")
            rule = RULES[channels]
        else:
            rule = channels
        if repeats_arg is not None:
            rule = repeats_as_arg(rule, repeats_arg)
        _REGISTRY[key] = ModuleSpec(key, klass, rule)
        return klass

    return decorate(cls) if cls is not None else decorate


def _torch_nn_spec(name: str) -> ModuleSpec | None:
    """Specs for ``nn.*`` names: BatchNorm/Conv get their channels, anything else is shape-only."""
    klass = getattr(nn, name, None)
    if not (isinstance(klass, type) and issubclass(klass, nn.Module)):
        return None
    if klass in (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d):
        return ModuleSpec(f"nn.{name}", klass, lambda ctx: LayerPlan([ctx.single_input(), *ctx.args], ctx.ch_in[0]))
    if klass in (nn.Conv2d, nn.ConvTranspose2d):
        return ModuleSpec(f"nn.{name}", klass, out_first)
    return ModuleSpec(f"nn.{name}", klass, passthrough)


def lookup(name: str) -> ModuleSpec:
    """The spec registered under ``name`` (``nn.X`` resolves to ``torch.nn.X``); KeyError if none."""
    if name.startswith("nn."):
        spec = _torch_nn_spec(name[3:])
        if spec is not None:
            return spec
    elif name in _REGISTRY:
        return _REGISTRY[name]
    raise KeyError(name)


def registered_names() -> list[str]:
    """Names usable in a YAML (besides ``nn.*``), sorted."""
    return sorted(_REGISTRY)
