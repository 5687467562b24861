"""GELAN building blocks of YOLOv9 with the official attribute layout (so state_dict keys match).

Shapes: every block maps (B, c1, H, W) to (B, c2, H', W') with H' = H except the downsamplers (H/2).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conv import Conv, RepConvN
from .registry import LayerContext, LayerPlan, register_module

__all__ = [
    "AConv", "ADown", "CBFuse", "CBLinear", "Concat", "ELAN1", "RepNBottleneck", "RepNCSP", "RepNCSPELAN4", "SP",
    "SPPELAN", "Silence",
]


class RepNBottleneck(nn.Module):
    """RepConvN 3x3 -> Conv 3x3, with a residual when ``shortcut`` and c1 == c2."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, k: tuple[int, int] = (3, 3),
                 e: float = 0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = RepConvN(c1, hidden, k[0], 1)
        self.cv2 = Conv(hidden, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


@register_module(channels="out_first", repeats_arg=2)
class RepNCSP(nn.Module):
    """CSP stage: two 1x1 branches, one through ``n`` RepNBottlenecks, concatenated and fused by a 1x1."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(c1, hidden, 1, 1)
        self.cv3 = Conv(2 * hidden, c2, 1)
        self.m = nn.Sequential(*(RepNBottleneck(hidden, hidden, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


@register_module(channels="out_first")
class RepNCSPELAN4(nn.Module):
    """GELAN block: split a 1x1 projection in two, chain two RepNCSP+Conv stages, concatenate all four parts.

    Args: c1 in, c2 out, c3 width of the first projection, c4 width of each stage, c5 bottlenecks per RepNCSP.
    """

    def __init__(self, c1: int, c2: int, c3: int, c4: int, c5: int = 1):
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = nn.Sequential(RepNCSP(c3 // 2, c4, c5), Conv(c4, c4, 3, 1))
        self.cv3 = nn.Sequential(RepNCSP(c4, c4, c5), Conv(c4, c4, 3, 1))
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.append(self.cv2(y[-1]))
        y.append(self.cv3(y[-1]))
        return self.cv4(torch.cat(y, 1))


@register_module(channels="out_first")
class ELAN1(nn.Module):
    """The light ELAN of the T/S models: RepNCSPELAN4's layout with plain 3x3 Convs as stages."""

    def __init__(self, c1: int, c2: int, c3: int, c4: int):
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = Conv(c3 // 2, c4, 3, 1)
        self.cv3 = Conv(c4, c4, 3, 1)
        self.cv4 = Conv(c3 + 2 * c4, c2, 1, 1)

    forward = RepNCSPELAN4.forward


@register_module(channels="out_first")
class ADown(nn.Module):
    """Downsample by 2: 2x2 average blur, then half the channels by a strided 3x3 conv, half by max-pool + 1x1."""

    def __init__(self, c1: int, c2: int):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1 // 2, self.c, 3, 2, 1)
        self.cv2 = Conv(c1 // 2, self.c, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 2, 1, 0, False, True)
        x1, x2 = x.chunk(2, 1)
        x2 = F.max_pool2d(x2, 3, 2, 1)
        return torch.cat((self.cv1(x1), self.cv2(x2)), 1)


@register_module(channels="out_first")
class AConv(nn.Module):
    """Downsample by 2: 2x2 average blur then a strided 3x3 Conv."""

    def __init__(self, c1: int, c2: int):
        super().__init__()
        self.cv1 = Conv(c1, c2, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv1(F.avg_pool2d(x, 2, 1, 0, False, True))


class SP(nn.Module):
    """Stride-1 max-pool with 'same' padding (the pooling unit of SPPELAN)."""

    def __init__(self, k: int = 5, s: int = 1):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=s, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x)


@register_module(channels="out_first")
class SPPELAN(nn.Module):
    """Spatial pyramid pooling, ELAN style: 1x1 to c3, three chained 5x5 max-pools, concat all, 1x1 to c2."""

    def __init__(self, c1: int, c2: int, c3: int, k: int = 5):
        super().__init__()
        self.c = c3
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = SP(k)
        self.cv3 = SP(k)
        self.cv4 = SP(k)
        self.cv5 = Conv(4 * c3, c2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for pool in (self.cv2, self.cv3, self.cv4):
            y.append(pool(y[-1]))
        return self.cv5(torch.cat(y, 1))


@register_module(channels="concat")
class Concat(nn.Module):
    """Concatenate a list of tensors along ``dimension`` (channels by default)."""

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


@register_module(channels="passthrough")
class Silence(nn.Module):
    """Identity; layer 0 of the dual-branch models so later rows can read the raw image with ``from: 0``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _cblinear_rule(ctx: LayerContext) -> LayerPlan:
    """CBLinear's args[0] is the list of output widths (not scaled); its channel record is that list."""
    c2s = ctx.args[0] if ctx.args else None
    if not (isinstance(c2s, list) and c2s and all(isinstance(c, int) for c in c2s)):
        raise ValueError(f"needs a list of output widths as its first argument, got {c2s!r}")
    return LayerPlan([ctx.single_input(), list(c2s), *ctx.args[1:]], list(c2s), 1)


@register_module(channels=_cblinear_rule)
class CBLinear(nn.Module):
    """One biased conv whose output is split into several tensors of widths ``c2s`` (PGI routing)."""

    def __init__(self, c1: int, c2s: list[int], k: int = 1, s: int = 1, p: int | None = None, g: int = 1):
        super().__init__()
        self.c2s = list(c2s)
        self.conv = nn.Conv2d(c1, sum(c2s), k, s, k // 2 if p is None else p, groups=g, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.conv(x).split(self.c2s, dim=1)


def _cbfuse_rule(ctx: LayerContext) -> LayerPlan:
    """CBFuse outputs the width of its last input (the target map); args: the index picked from each CBLinear."""
    if not ctx.args or not isinstance(ctx.args[0], list) or len(ctx.args[0]) != len(ctx.ch_in) - 1:
        raise ValueError(f"needs one index per CBLinear input ({len(ctx.ch_in) - 1}), got {ctx.args!r}")
    for record, index in zip(ctx.ch_in[:-1], ctx.args[0]):
        if not isinstance(record, list) or not 0 <= index < len(record):
            raise ValueError(f"index {index} does not select an output of a CBLinear with widths {record}")
    picked = [record[i] for record, i in zip(ctx.ch_in[:-1], ctx.args[0])]
    if any(c != ctx.ch_in[-1] for c in picked):
        raise ValueError(f"channel mismatch: fused widths {picked} differ from the target's {ctx.ch_in[-1]}")
    return LayerPlan(list(ctx.args), ctx.ch_in[-1], 1)


@register_module(channels=_cbfuse_rule)
class CBFuse(nn.Module):
    """Sum the selected CBLinear outputs, resized (nearest) to the target map, with the target (last input)."""

    def __init__(self, idx: list[int]):
        super().__init__()
        self.idx = list(idx)

    def forward(self, xs: list) -> torch.Tensor:
        target = xs[-1]
        size = target.shape[2:]
        out = target
        for i, branch in enumerate(xs[:-1]):
            out = out + F.interpolate(branch[self.idx[i]], size=size, mode="nearest")
        return out
