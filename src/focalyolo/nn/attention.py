"""Baseline global self-attention block, laid out like FocalModulationBlock so the two compare like for like."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import ConvMlp, DropPath, LayerNorm2d, LayerScale2d, fold_layer_scale
from .registry import register_module

__all__ = ["MultiHeadSelfAttention2d", "SelfAttentionBlock"]


class MultiHeadSelfAttention2d(nn.Module):
    """Multi-head self-attention over all H*W positions of a (B, dim, H, W) map (cost quadratic in H*W)."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"channels ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=qkv_bias)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(x).view(b, 3, self.num_heads, c // self.num_heads, h * w).permute(1, 0, 2, 4, 3)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        out = out.transpose(2, 3).reshape(b, c, h, w)
        return self.proj_drop(self.proj(out))


@register_module(channels="preserved")
class SelfAttentionBlock(nn.Module):
    """Pre-norm transformer block on (B, c1, H, W): ``x + ls1 * MHSA(norm1(x))``, then ``x + ls2 * MLP(norm2(x))``."""

    def __init__(self, c1: int, c2: int | None = None, num_heads: int = 8, mlp_ratio: float = 4.0,
                 layerscale: float | None = 1e-4, drop_path: float = 0.0):
        super().__init__()
        if c2 is not None and c2 != c1:
            raise ValueError(f"SelfAttentionBlock keeps the channel count: c2 ({c2}) must equal c1 ({c1})")
        self.norm1 = LayerNorm2d(c1)
        self.attn = MultiHeadSelfAttention2d(c1, num_heads)
        self.ls1 = LayerScale2d(c1, layerscale) if layerscale is not None else nn.Identity()
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = LayerNorm2d(c1)
        self.mlp = ConvMlp(c1, int(c1 * mlp_ratio))
        self.ls2 = LayerScale2d(c1, layerscale) if layerscale is not None else nn.Identity()
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))

    def fuse(self) -> None:
        """Inference: fold the layer scales into attn.proj and mlp.fc2 (as :meth:`FocalModulationBlock.fuse`)."""
        self.ls1 = fold_layer_scale(self.attn.proj, self.ls1)
        self.ls2 = fold_layer_scale(self.mlp.fc2, self.ls2)
