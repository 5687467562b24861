"""The classification head: a GELAN (or any) backbone's last map -> class logits.

``Classify`` widens the map with a 1x1 Conv unit (BatchNorm + SiLU) to a ``embed``-channel embedding, averages it
over space, applies dropout and a linear layer: (B, c1, H, W) -> (B, nc) logits in training, softmax probabilities
in eval mode. The wide embedding before pooling is what lets a narrow backbone (128-512 channels) separate many
classes; its width is a YAML argument (``[nc, embed, dropout]``, default 1280 and 0.0).

It speaks the head protocol :class:`~focalyolo.models.Model` drives (``forward_raw``, ``main_raw``,
``decode``, ``stride``, ``nl``) so one model class serves every task.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .conv import Conv
from .registry import LayerContext, LayerPlan, register_module

__all__ = ["Classify"]


def classify_rule(ctx: LayerContext) -> LayerPlan:
    """``[nc, embed, dropout]`` (last two optional) on one input of width c1 -> ``Classify(c1, nc, embed, dropout)``;
    the embedding width is not scaled by ``width_multiple`` (it is the head's, not the backbone's)."""
    if not ctx.args or not isinstance(ctx.args[0], int) or ctx.args[0] < 1:
        raise ValueError(f"needs the number of classes as its first argument (nc), got {ctx.args!r}")
    return LayerPlan([ctx.single_input(), *ctx.args], 0, 1)


@register_module(channels=classify_rule)
class Classify(nn.Module):
    """Classification head (see the module docstring)."""

    task = "classify"  # the focalyolo.tasks entry that trains, validates and predicts with this head
    is_dual = False
    nl = 1  # one input map: the model measures its stride (the backbone's total downsampling) on it

    def __init__(self, c1: int, nc: int, embed: int = 1280, dropout: float = 0.0):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.nc = nc
        self.register_buffer("stride", torch.zeros(1), persistent=False)
        self.conv = Conv(c1, embed, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout, inplace=True)
        self.linear = nn.Linear(embed, nc)

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """(B, c1, H, W) -> (B, nc) logits."""
        return self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))

    @staticmethod
    def main_raw(raw: torch.Tensor) -> torch.Tensor:
        """The logits (a classifier has one branch)."""
        return raw

    @staticmethod
    def decode(logits: torch.Tensor) -> torch.Tensor:
        """(B, nc) logits -> (B, nc) class probabilities (softmax)."""
        return logits.softmax(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.forward_raw(x)
        return logits if self.training else self.decode(logits)
