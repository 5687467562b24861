"""Oriented-box heads: DOBB (one branch) and DualDOBB (PGI), a detection head plus one angle per anchor.

Beside the box and class branches, each level has an angle branch (two 3x3 Conv units and a 1x1 convolution to
one channel, width ``max(c_P3 // 4, 16)``) that predicts one raw angle logit per anchor. The encoding is
:mod:`focalyolo.utils.rotated_anchors`'s: ``angle = (sigmoid(x) - 1/4) * pi``, in (-pi/4, 3pi/4), the canonical
range [0, pi/2) with a margin of pi/4 either side; the four DFL distances of the box branch are measured from the
anchor to the box's sides in the box's own (rotated) frame, so decoding turns the centre offset by the angle.
YAML args ``[nc]``, as the detection heads.

Training forward returns ``(maps, angles)``: the detection maps as the detection head returns them and the raw
angle logits (B, 1, A); a dual head returns each as ``[aux, main]`` (angle branches ``cv6`` auxiliary, ``cv7``
main). Eval forward returns the main branch's predictions (B, 4 + nc + 1, A): ``cx, cy, w, h`` in input pixels,
the class probabilities, then the angle in radians (not reduced to the canonical form; NMS and the metrics take
any xywhr row, :func:`~focalyolo.utils.rotated.canonical_xywhr` reduces it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..utils.boxes import make_anchors
from ..utils.rotated_anchors import decode_angle, dist2rbox
from .head import DDetect, DualDDetect, coefficient_branch
from .registry import register_module

__all__ = ["DOBB", "DualDOBB"]


def _angle_branches(ch: Sequence[int], c_first: int) -> nn.ModuleList:
    """One angle branch per level (1 output channel), hidden width ``max(c_first // 4, 16)``."""
    return nn.ModuleList(coefficient_branch(c, max(c_first // 4, 16), 1) for c in ch)


def _raw_angles(xs: Sequence[torch.Tensor], branches: nn.ModuleList) -> torch.Tensor:
    """Per-level angle maps, flattened and joined: (B, 1, A), levels in order."""
    return torch.cat([branch(x).flatten(2) for x, branch in zip(xs, branches)], 2)


class _AngleOutputs:
    """What the OBB heads share: the task, the raw-output layout and decoding."""

    task = "obb"

    @staticmethod
    def main_raw(raw: tuple) -> tuple:
        """``(maps, angles)`` of the inference branch."""
        return raw

    def decode(self, raw: tuple) -> torch.Tensor:
        """Main-branch raw outputs -> (B, 4 + nc + 1, A): xywh in input pixels, class scores, angle (radians)."""
        maps, angle_logits = raw
        dtype = maps[0].dtype
        if self.decode_fp32:
            maps, angle_logits = [m.float() for m in maps], angle_logits.float()
        anchors, strides = (t.transpose(0, 1) for t in make_anchors(maps, self.stride, 0.5))
        flat = torch.cat([m.flatten(2) for m in maps], 2)
        box, cls = flat.split((4 * self.reg_max, self.nc), 1)
        angle = decode_angle(angle_logits)
        xywh = dist2rbox(self.main_dfl()(box), angle, anchors.unsqueeze(0), dim=1) * strides
        return torch.cat((xywh, cls.sigmoid(), angle), 1).to(dtype)


@register_module(channels="head")
class DOBB(_AngleOutputs, DDetect):
    """DDetect oriented-box head: ``cv2`` / ``cv3`` / ``dfl`` as DDetect, ``cv4`` the angle branch of each level."""

    def __init__(self, nc: int = 15, ch: list[int] | tuple[int, ...] = ()):
        super().__init__(nc, ch)
        self.cv4 = _angle_branches(ch, ch[0])

    def forward_raw(self, xs: list[torch.Tensor]) -> tuple:
        return super().forward_raw(xs), _raw_angles(xs, self.cv4)


@register_module(channels="head")
class DualDOBB(_AngleOutputs, DualDDetect):
    """PGI oriented-box head: DualDDetect over ``ch`` (auxiliary levels, then main levels); angle branches ``cv6``
    on the auxiliary levels and ``cv7`` on the main ones."""

    single_form = "DOBB"
    main_branches = {**DualDDetect.main_branches, "cv7": "cv4"}

    def __init__(self, nc: int = 15, ch: list[int] | tuple[int, ...] = ()):
        super().__init__(nc, ch)
        nl = self.nl
        self.cv6 = _angle_branches(ch[:nl], ch[0])
        self.cv7 = _angle_branches(ch[nl:], ch[nl])

    def forward_raw(self, xs: list[torch.Tensor]) -> tuple:
        nl = self.nl
        return super().forward_raw(xs), [_raw_angles(xs[:nl], self.cv6), _raw_angles(xs[nl:], self.cv7)]

    @staticmethod
    def main_raw(raw: tuple) -> tuple:
        maps, angles = raw
        return maps[1], angles[1]
