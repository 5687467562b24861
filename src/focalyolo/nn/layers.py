"""Channel-first transformer utilities shared by the context blocks: LayerNorm2d, LayerScale2d, DropPath, ConvMlp."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ConvMlp", "DropPath", "LayerNorm2d", "LayerScale2d", "fold_layer_scale"]


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of (B, C, H, W) maps (normalises each pixel's C values)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale2d(nn.Module):
    """Per-channel learnable scale ``gamma`` (init ``init_value``) for (B, C, H, W) maps."""

    def __init__(self, dim: int, init_value: float = 1e-4):
        super().__init__()
        self.gamma = nn.Parameter(init_value * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1)


@torch.no_grad()
def fold_layer_scale(conv: nn.Conv2d, scale: nn.Module) -> nn.Module:
    """Fold a LayerScale2d that directly follows ``conv`` into its weights and bias (inference); returns the
    module to put in the scale's place (Identity once folded, else ``scale`` unchanged)."""
    if not isinstance(scale, LayerScale2d):
        return scale
    gamma = scale.gamma.to(conv.weight.dtype)
    conv.weight.mul_(gamma.view(-1, 1, 1, 1))
    if conv.bias is not None:
        conv.bias.mul_(gamma)
    return nn.Identity()


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a sample's residual branch with probability ``p`` (rescaling the rest)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class ConvMlp(nn.Module):
    """Two 1x1 convolutions with GELU between: (B, C, H, W) -> (B, hidden, H, W) -> (B, C_out, H, W)."""

    def __init__(self, dim: int, hidden: int, out: int | None = None, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Conv2d(hidden, out or dim, 1)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))
