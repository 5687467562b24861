"""Convolution units: Conv (conv-BN-act) and RepConvN (3x3 + 1x1 branches, mergeable into one conv).

Attribute names follow the official YOLOv9 layout so state_dict keys match (``conv.weight``, ``bn.*``,
``conv1.conv.weight`` ...). The default activation is SiLU; a model YAML's ``activation:`` key changes it
only for the model being built, through :func:`activation_scope` (no class-level global is mutated).
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_module

__all__ = ["Conv", "RepConvN", "activation_scope", "autopad", "fuse_conv_bn", "make_activation"]

_DEFAULT_ACT: contextvars.ContextVar[Callable[[], nn.Module]] = contextvars.ContextVar(
    "focalyolo_default_act", default=lambda: nn.SiLU(inplace=True)
)


@contextlib.contextmanager
def activation_scope(factory: Callable[[], nn.Module]) -> Iterator[None]:
    """Within the block, ``act=True`` in Conv/RepConvN builds ``factory()`` instead of SiLU."""
    token = _DEFAULT_ACT.set(factory)
    try:
        yield
    finally:
        _DEFAULT_ACT.reset(token)


def make_activation(act: bool | nn.Module) -> nn.Module:
    """``True`` -> the scope's default activation, ``False`` -> Identity, a module -> itself."""
    if act is True:
        return _DEFAULT_ACT.get()()
    return act if isinstance(act, nn.Module) else nn.Identity()


def autopad(k: int | tuple[int, int], p: int | None = None, d: int = 1) -> int | list[int]:
    """'Same' padding for kernel ``k`` with dilation ``d`` unless ``p`` is given."""
    if p is not None:
        return p
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    return k // 2 if isinstance(k, int) else [x // 2 for x in k]


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A biased Conv2d equal to ``bn(conv(x))`` in eval mode (BatchNorm folded into the weights)."""
    fused = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
        conv.dilation, conv.groups, bias=True,
    ).to(conv.weight.device)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.data.copy_(conv.weight.detach() * scale.view(-1, 1, 1, 1))
    conv_bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.data.copy_((conv_bias - bn.running_mean) * scale + bn.bias.detach())
    fused.requires_grad_(False)
    return fused


@register_module(channels="out_first")
class Conv(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> activation. (B, c1, H, W) -> (B, c2, H/s, W/s)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1, d: int = 1,
                 act: bool | nn.Module = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is None:
            return self.act(self.conv(x))
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        """Fold the BatchNorm into the conv (inference only); afterwards ``bn`` is None."""
        if self.bn is not None:
            self.conv = fuse_conv_bn(self.conv, self.bn)
            self.bn = None


@register_module(channels="out_first")
class RepConvN(nn.Module):
    """act(conv3x3-BN(x) + conv1x1-BN(x)) without an identity branch; ``fuse`` merges it into one 3x3 conv."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, p: int = 1, g: int = 1, d: int = 1,
                 act: bool | nn.Module = True):
        super().__init__()
        if k != 3 or p != 1:
            raise ValueError(f"RepConvN needs k=3 and p=1, got k={k}, p={p}")
        self.g, self.c1, self.c2 = g, c1, c2
        self.act = make_activation(act)
        self.conv1 = Conv(c1, c2, k, s, p=p, g=g, act=False)
        self.conv2 = Conv(c1, c2, 1, s, p=p - k // 2, g=g, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "conv"):
            return self.act(self.conv(x))
        return self.act(self.conv1(x) + self.conv2(x))

    def fuse(self) -> None:
        """Merge both branches (BN folded, 1x1 zero-padded to 3x3) into a single biased ``conv``."""
        if hasattr(self, "conv"):
            return
        k3 = fuse_conv_bn(self.conv1.conv, self.conv1.bn)
        k1 = fuse_conv_bn(self.conv2.conv, self.conv2.bn)
        k3.weight.data += F.pad(k1.weight.data, [1, 1, 1, 1])
        k3.bias.data += k1.bias.data
        self.conv = k3
        del self.conv1, self.conv2
