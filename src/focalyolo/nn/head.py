"""Anchor-free detection heads: DDetect (one branch), DualDDetect (PGI: auxiliary + main branch) and the plain
Detect (no grouped box convolution; the base of the official Segment head).

Training forward returns raw per-level maps (B, 4*reg_max + nc, H_i, W_i), box logits first; a dual head
returns ``[aux_maps, main_maps]``. Eval forward returns decoded predictions of the main branch,
(B, 4 + nc, A): (cx, cy, w, h) in input pixels, then class probabilities, A = sum(H_i * W_i).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
import torch.nn as nn

from ..utils.boxes import dist2bbox, make_anchors, make_divisible
from .conv import Conv
from .registry import register_module

__all__ = ["DDetect", "DFL", "Detect", "DualDDetect", "coefficient_branch"]


class DFL(nn.Module):
    """Distribution Focal Loss integral: softmax over ``c1`` bins per side, then the expected bin index.

    (B, 4 * c1, A) -> (B, 4, A); the weights are the fixed bin indices 0..c1-1 (in the state_dict, not trained).
    """

    def __init__(self, c1: int = 16):
        super().__init__()
        self.c1 = c1
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def _box_branch(c_in: int, hidden: int, reg_max: int, groups: int) -> nn.Sequential:
    return nn.Sequential(Conv(c_in, hidden, 3), Conv(hidden, hidden, 3, g=groups),
                         nn.Conv2d(hidden, 4 * reg_max, 1, groups=groups))


def _cls_branch(c_in: int, hidden: int, nc: int) -> nn.Sequential:
    return nn.Sequential(Conv(c_in, hidden, 3), Conv(hidden, hidden, 3), nn.Conv2d(hidden, nc, 1))


def coefficient_branch(c_in: int, hidden: int, outputs: int) -> nn.Sequential:
    """Two 3x3 Conv units and a 1x1 convolution to ``outputs`` channels (mask coefficients, keypoints ...)."""
    return nn.Sequential(Conv(c_in, hidden, 3), Conv(hidden, hidden, 3), nn.Conv2d(hidden, outputs, 1))


@register_module(channels="head")
class DDetect(nn.Module):
    """Single-branch decoupled head over ``len(ch)`` levels (box branch ``cv2``, class branch ``cv3``)."""

    task = "detect"  # the focalyolo.tasks entry that trains, validates and predicts with this head
    reg_max = 16
    is_dual = False
    box_groups = 4  # groups of the box branch's second 3x3 conv and 1x1 output conv (one per box side)
    single_form: ClassVar[str | None] = None
    """A dual head's single-branch counterpart (same YAML args), which GELAN conversion puts in its place."""
    main_branches: ClassVar[Mapping[str, str]] = {}
    """A dual head's main-branch sub-modules -> their names in the single form; the others are dropped."""

    @staticmethod
    def main_inputs(sources: Sequence[int]) -> list[int]:
        """Of the head's YAML inputs, those the inference branch reads (all of them for a single head)."""
        return list(sources)

    def __init__(self, nc: int = 80, ch: list[int] | tuple[int, ...] = ()):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.no = nc + 4 * self.reg_max
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)
        c2, c3 = self.branch_widths(ch[0], nc)
        self.cv2 = self._box_branches(ch, c2)
        self.cv3 = nn.ModuleList(_cls_branch(c, c3, nc) for c in ch)
        self.dfl = DFL(self.reg_max)

    @classmethod
    def branch_widths(cls, c_first: int, nc: int) -> tuple[int, int]:
        """Hidden widths (box, cls) of a branch, from the width of its first input level."""
        return make_divisible(max(c_first // 4, cls.reg_max * 4, 16), 4), max(c_first, min(nc * 2, 128))

    def _box_branches(self, ch: list[int] | tuple[int, ...], hidden: int) -> nn.ModuleList:
        return nn.ModuleList(_box_branch(c, hidden, self.reg_max, self.box_groups) for c in ch)

    def forward_raw(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per-level raw maps (B, 4*reg_max + nc, H_i, W_i)."""
        return [torch.cat((box(x), cls(x)), 1) for x, box, cls in zip(xs, self.cv2, self.cv3)]

    @staticmethod
    def main_raw(raw: list) -> list[torch.Tensor]:
        """The maps of the branch used for inference (the only one here)."""
        return raw

    decode_fp32 = False
    """True decodes in fp32 and returns the maps' dtype (an fp16 ONNX export: ``Range``, the anchors, has no fp16)."""

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Raw maps -> (B, 4 + nc, A): xywh boxes in input pixels, then sigmoid class scores."""
        dtype = feats[0].dtype
        if self.decode_fp32:
            feats = [f.float() for f in feats]
        anchors, strides = (t.transpose(0, 1) for t in make_anchors(feats, self.stride, 0.5))
        flat = torch.cat([f.flatten(2) for f in feats], 2)
        box, cls = flat.split((4 * self.reg_max, self.nc), 1)
        dbox = dist2bbox(self.main_dfl()(box), anchors.unsqueeze(0), xywh=True, dim=1) * strides
        return torch.cat((dbox, cls.sigmoid()), 1).to(dtype)

    def main_dfl(self) -> DFL:
        """The DFL integral of the inference branch."""
        return self.dfl

    def forward(self, xs: list[torch.Tensor]):
        raw = self.forward_raw(xs)
        return raw if self.training else self.decode(self.main_raw(raw))

    def _init_branch_biases(self, box_branches: nn.ModuleList, cls_branches: nn.ModuleList) -> None:
        for box, cls, s in zip(box_branches, cls_branches, self.stride.tolist()):
            box[-1].bias.data[:] = 1.0
            cls[-1].bias.data[: self.nc] = math.log(5 / self.nc / (640 / s) ** 2)

    def bias_init(self) -> None:
        """Prior biases: box logits 1.0, class logits log(5 / nc / (640/stride)^2). Needs ``stride`` set."""
        self._init_branch_biases(self.cv2, self.cv3)


@register_module(channels="head")
class DualDDetect(DDetect):
    """PGI head: inputs ``ch[:nl]`` feed the auxiliary branch (cv2/cv3/dfl), ``ch[nl:]`` the main one (cv4/cv5/dfl2)."""

    is_dual = True
    single_form = "DDetect"
    main_branches = {"cv4": "cv2", "cv5": "cv3", "dfl2": "dfl"}

    @staticmethod
    def main_inputs(sources: Sequence[int]) -> list[int]:
        return list(sources[len(sources) // 2:])

    def __init__(self, nc: int = 80, ch: list[int] | tuple[int, ...] = ()):
        if len(ch) % 2:
            raise ValueError(f"DualDDetect needs an even number of inputs (aux levels then main levels), got {len(ch)}")
        nl = len(ch) // 2
        super().__init__(nc, ch[:nl])
        c4, c5 = self.branch_widths(ch[nl], nc)
        self.cv4 = self._box_branches(ch[nl:], c4)
        self.cv5 = nn.ModuleList(_cls_branch(c, c5, nc) for c in ch[nl:])
        self.dfl2 = DFL(self.reg_max)

    def forward_raw(self, xs: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        """``[aux_maps, main_maps]``, each a per-level list of (B, 4*reg_max + nc, H_i, W_i)."""
        aux = [torch.cat((box(x), cls(x)), 1) for x, box, cls in zip(xs[: self.nl], self.cv2, self.cv3)]
        main = [torch.cat((box(x), cls(x)), 1) for x, box, cls in zip(xs[self.nl :], self.cv4, self.cv5)]
        return [aux, main]

    @staticmethod
    def main_raw(raw: list) -> list[torch.Tensor]:
        return raw[1]

    def main_dfl(self) -> DFL:
        return self.dfl2

    def bias_init(self) -> None:
        self._init_branch_biases(self.cv2, self.cv3)
        self._init_branch_biases(self.cv4, self.cv5)


@register_module(channels="head")
class Detect(DDetect):
    """The plain anchor-free head of the official code (yolov7-af, and the base of Segment): as DDetect, but the
    box branch has no groups and its width is not rounded to a multiple of 4."""

    box_groups = 1

    @classmethod
    def branch_widths(cls, c_first: int, nc: int) -> tuple[int, int]:
        return max(c_first // 4, cls.reg_max * 4, 16), max(c_first, min(nc * 2, 128))
