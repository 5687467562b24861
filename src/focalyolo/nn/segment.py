"""Instance-segmentation heads (official YOLOv9 layout): Segment, DSegment and DualDSegment.

Each is a detection head plus mask *coefficients* per anchor (``nm``, 32) and *prototype* masks at stride 4; an
instance's mask is ``sigmoid(coefficients @ protos)`` cropped to its box (YOLACT's scheme).

- ``Segment(nc, nm, npr, ch)``: the plain ``Detect`` head over ``ch``; prototypes from the P3 input by ``Proto``
  (3x3 conv, 2x nearest upsample, 3x3 conv, 1x1 conv to ``nm``).
- ``DSegment``: ``DDetect`` over ``ch[:-1]``; prototypes by a 1x1 conv from the last input, a stride-4 map the
  YAML builds.
- ``DualDSegment`` (PGI): ``DualDDetect`` over ``ch[:-2]``; ``proto`` / ``proto2`` from the last two inputs, the
  auxiliary and main branch's; coefficient branches ``cv6`` (auxiliary) and ``cv7`` (main).

Training forward returns ``(maps, coefficients, protos)``: the detection maps as the detection head returns them,
coefficients (B, nm, A), prototypes (B, nm, H/4, W/4); a dual head returns each as ``[aux, main]``. Eval forward
returns ``(predictions, protos)`` of the main branch: predictions (B, 4 + nc + nm, A) = xywh boxes in input
pixels, class scores, mask coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from .conv import Conv
from .head import DDetect, Detect, DualDDetect, coefficient_branch
from .registry import LayerContext, LayerPlan, register_module

__all__ = ["DSegment", "DualDSegment", "Proto", "Segment", "mask_head_rule"]


def mask_head_rule(ctx: LayerContext) -> LayerPlan:
    """YAML args ``[nc, nm, npr]``: ``npr`` (prototype width) is width-scaled; the input widths are appended."""
    if len(ctx.args) != 3:
        raise ValueError(f"a segmentation head takes [nc, nm, npr], got {ctx.args}")
    nc, nm, npr = ctx.args
    return LayerPlan([nc, nm, ctx.scale_width(npr), [int(c) for c in ctx.ch_in]], 0, 1)


@register_module(channels="out_first")
class Proto(nn.Module):
    """Prototype masks: (B, c1, H, W) -> (B, c2, 2H, 2W) through a 3x3 conv, 2x nearest upsample, a 3x3 conv and a
    1x1 conv (``cv1``, ``upsample``, ``cv2``, ``cv3``)."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32):
        super().__init__()
        self.cv1 = Conv(c1, c_, 3)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.cv2 = Conv(c_, c_, 3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


def _coefficients(xs: list[torch.Tensor], branches: nn.ModuleList) -> torch.Tensor:
    """Per-level coefficient maps, flattened and joined: (B, nm, A), levels in order."""
    return torch.cat([branch(x).flatten(2) for x, branch in zip(xs, branches)], 2)


class _MaskOutputs:
    """What the three segmentation heads share: the raw-output layout and decoding."""

    task = "segment"
    nm: int

    @staticmethod
    def main_raw(raw: tuple) -> tuple:
        """``(maps, coefficients, protos)`` of the inference branch."""
        return raw

    def decode(self, raw: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """Main-branch raw outputs -> (predictions (B, 4 + nc + nm, A), protos (B, nm, H/4, W/4))."""
        maps, coefficients, protos = raw
        return torch.cat((super().decode(maps), coefficients), 1), protos


@register_module(channels=mask_head_rule)
class Segment(_MaskOutputs, Detect):
    """Plain-Detect segmentation head: ``cv2``/``cv3``/``dfl`` as Detect, ``proto`` (Proto on the P3 input), ``cv4``
    (coefficients, width max(c_P3 // 4, nm))."""

    def __init__(self, nc: int = 80, nm: int = 32, npr: int = 256, ch: list[int] | tuple[int, ...] = ()):
        super().__init__(nc, ch)
        self.nm, self.npr = nm, npr
        self.proto = Proto(ch[0], npr, nm)
        self.cv4 = nn.ModuleList(coefficient_branch(c, max(ch[0] // 4, nm), nm) for c in ch)

    def forward_raw(self, xs: list[torch.Tensor]) -> tuple:
        return super().forward_raw(xs), _coefficients(xs, self.cv4), self.proto(xs[0])


@register_module(channels=mask_head_rule)
class DSegment(_MaskOutputs, DDetect):
    """DDetect segmentation head: detection over ``ch[:-1]``, ``proto`` a 1x1 conv from the last (stride-4)
    input, ``cv4`` coefficients."""

    def __init__(self, nc: int = 80, nm: int = 32, npr: int = 256, ch: list[int] | tuple[int, ...] = ()):
        super().__init__(nc, ch[:-1])
        self.nm, self.npr = nm, npr
        self.proto = Conv(ch[-1], nm, 1)
        self.cv4 = nn.ModuleList(coefficient_branch(c, max(ch[0] // 4, nm), nm) for c in ch[:-1])

    def forward_raw(self, xs: list[torch.Tensor]) -> tuple:
        levels = xs[:-1]
        return super().forward_raw(levels), _coefficients(levels, self.cv4), self.proto(xs[-1])


@register_module(channels=mask_head_rule)
class DualDSegment(_MaskOutputs, DualDDetect):
    """PGI segmentation head: DualDDetect over ``ch[:-2]`` (auxiliary levels, then main levels); ``proto`` and
    ``cv6`` serve the auxiliary branch, ``proto2`` and ``cv7`` the main one."""

    single_form = "DSegment"
    main_branches = {**DualDDetect.main_branches, "cv7": "cv4", "proto2": "proto"}

    @staticmethod
    def main_inputs(sources: Sequence[int]) -> list[int]:
        """``[A3, A4, A5, P3, P4, P5, aux protos, main protos]`` -> ``[P3, P4, P5, main protos]``."""
        levels = (len(sources) - 2) // 2
        return [*sources[levels: 2 * levels], sources[-1]]

    def __init__(self, nc: int = 80, nm: int = 32, npr: int = 256, ch: list[int] | tuple[int, ...] = ()):
        super().__init__(nc, ch[:-2])
        nl = self.nl
        self.nm, self.npr = nm, npr
        self.proto = Conv(ch[-2], nm, 1)
        self.proto2 = Conv(ch[-1], nm, 1)
        self.cv6 = nn.ModuleList(coefficient_branch(c, max(ch[0] // 4, nm), nm) for c in ch[:nl])
        self.cv7 = nn.ModuleList(coefficient_branch(c, max(ch[nl] // 4, nm), nm) for c in ch[nl: 2 * nl])

    def forward_raw(self, xs: list[torch.Tensor]) -> tuple:
        nl = self.nl
        maps = super().forward_raw(xs[:-2])
        coefficients = [_coefficients(xs[:nl], self.cv6), _coefficients(xs[nl: 2 * nl], self.cv7)]
        return maps, coefficients, [self.proto(xs[-2]), self.proto2(xs[-1])]

    @staticmethod
    def main_raw(raw: tuple) -> tuple:
        maps, coefficients, protos = raw
        return maps[1], coefficients[1], protos[1]
