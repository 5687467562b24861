"""Pose heads: DPose (one branch) and DualDPose (PGI), a detection head plus keypoints per anchor.

Beside the box and class branches, each level has a keypoint branch (two 3x3 Conv units and a 1x1 convolution,
width ``max(c_P3 // 4, nk * ndim)``) that predicts, per anchor, ``nk * ndim`` values: for each keypoint its x, y
offset from the anchor point in units of the level's stride and, when ``ndim`` is 3, a visibility logit
(:func:`focalyolo.utils.keypoints.decode_keypoints`). YAML args ``[nc, kpt_shape]``, ``kpt_shape = [nk, ndim]``
(the model YAML's top-level ``kpt_shape``, which a data YAML's overrides when training).

Training forward returns ``(maps, keypoints)``: the detection maps as the detection head returns them and the raw
keypoints (B, nk * ndim, A); a dual head returns each as ``[aux, main]`` (keypoint branches ``cv6`` auxiliary,
``cv7`` main). Eval forward returns the main branch's predictions (B, 4 + nc + nk * ndim, A): xywh boxes in input
pixels, class scores, then per keypoint x, y in input pixels (and the visibility probability).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..utils.boxes import make_anchors
from ..utils.keypoints import check_kpt_shape, decode_keypoints
from .head import DDetect, DualDDetect, coefficient_branch
from .registry import LayerContext, LayerPlan, register_module

__all__ = ["DPose", "DualDPose", "pose_head_rule"]


def pose_head_rule(ctx: LayerContext) -> LayerPlan:
    """YAML args ``[nc, kpt_shape]``; the input widths are appended."""
    if len(ctx.args) != 2:
        raise ValueError(f"a pose head takes [nc, kpt_shape], got {ctx.args}")
    return LayerPlan([ctx.args[0], check_kpt_shape(ctx.args[1]), [int(c) for c in ctx.ch_in]], 0, 1)


def _keypoint_branches(ch: Sequence[int], hidden: int, outputs: int) -> nn.ModuleList:
    return nn.ModuleList(coefficient_branch(c, hidden, outputs) for c in ch)


def _raw_keypoints(xs: Sequence[torch.Tensor], branches: nn.ModuleList) -> torch.Tensor:
    """Per-level keypoint maps, flattened and joined: (B, nk * ndim, A), levels in order."""
    return torch.cat([branch(x).flatten(2) for x, branch in zip(xs, branches)], 2)


class _KeypointOutputs:
    """What the pose heads share: the task, the raw-output layout and decoding."""

    task = "pose"
    kpt_shape: list[int]

    @staticmethod
    def main_raw(raw: tuple) -> tuple:
        """``(maps, keypoints)`` of the inference branch."""
        return raw

    def decode(self, raw: tuple) -> torch.Tensor:
        """Main-branch raw outputs -> (B, 4 + nc + nk * ndim, A) predictions (see the module docstring)."""
        maps, keypoints = raw
        boxes = super().decode(maps)
        if self.decode_fp32:
            maps, keypoints = [m.float() for m in maps], keypoints.float()
        anchors, strides = make_anchors(maps, self.stride, 0.5)
        return torch.cat((boxes, decode_keypoints(keypoints, anchors, strides, self.kpt_shape[1]).to(boxes.dtype)), 1)


@register_module(channels=pose_head_rule)
class DPose(_KeypointOutputs, DDetect):
    """DDetect pose head: ``cv2`` / ``cv3`` / ``dfl`` as DDetect, ``cv4`` the keypoint branch of each level."""

    def __init__(self, nc: int = 1, kpt_shape: Sequence[int] = (17, 3), ch: list[int] | tuple[int, ...] = ()):
        super().__init__(nc, ch)
        self.kpt_shape = check_kpt_shape(list(kpt_shape))
        outputs = self.kpt_shape[0] * self.kpt_shape[1]
        self.cv4 = _keypoint_branches(ch, max(ch[0] // 4, outputs), outputs)

    def forward_raw(self, xs: list[torch.Tensor]) -> tuple:
        return super().forward_raw(xs), _raw_keypoints(xs, self.cv4)


@register_module(channels=pose_head_rule)
class DualDPose(_KeypointOutputs, DualDDetect):
    """PGI pose head: DualDDetect over ``ch`` (auxiliary levels, then main levels); keypoint branches ``cv6`` on the
    auxiliary levels and ``cv7`` on the main ones."""

    single_form = "DPose"
    main_branches = {**DualDDetect.main_branches, "cv7": "cv4"}

    def __init__(self, nc: int = 1, kpt_shape: Sequence[int] = (17, 3), ch: list[int] | tuple[int, ...] = ()):
        super().__init__(nc, ch)
        nl = self.nl
        self.kpt_shape = check_kpt_shape(list(kpt_shape))
        outputs = self.kpt_shape[0] * self.kpt_shape[1]
        self.cv6 = _keypoint_branches(ch[:nl], max(ch[0] // 4, outputs), outputs)
        self.cv7 = _keypoint_branches(ch[nl:], max(ch[nl] // 4, outputs), outputs)

    def forward_raw(self, xs: list[torch.Tensor]) -> tuple:
        nl = self.nl
        return super().forward_raw(xs), [_raw_keypoints(xs[:nl], self.cv6), _raw_keypoints(xs[nl:], self.cv7)]

    @staticmethod
    def main_raw(raw: tuple) -> tuple:
        maps, keypoints = raw
        return maps[1], keypoints[1]
