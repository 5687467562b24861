"""Focal modulation (FocalNet, Yang et al., arXiv 2203.11926) on (B, C, H, W) maps of any size.

Instead of attending from every query to every key, each position's query ``q`` is multiplied by a
*modulator* built from context gathered at several granularities:

1. hierarchical contextualisation: ``Z^0 = f_z(X)``; ``Z^l = GELU(DWConv_{k_l}(Z^{l-1}))`` for l = 1..L,
   with kernel ``k_l = focal_factor * (l - 1) + focal_window``, then a global level
   ``Z^{L+1} = GELU(mean_{H,W}(Z^L))``;
2. gated aggregation: ``Z_out = sum_l G^l * Z^l`` with per-pixel scalar gates ``G`` (a linear projection of X);
3. modulation: ``Y = q(X) * h(Z_out)``, then an output projection.

The cost is linear in the number of pixels (self-attention's is quadratic). Sub-module names follow
FocalNet/timm (``f``, ``h``, ``focal_layers``, ``proj``; the block's ``norm1``, ``modulation``, ``ls1``,
``norm2``, ``mlp.fc1``, ``mlp.fc2``, ``ls2``) so weights move between the projects unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .layers import ConvMlp, DropPath, LayerNorm2d, LayerScale2d, fold_layer_scale
from .registry import register_module

__all__ = ["FocalModulation", "FocalModulationBlock", "FocalModulationLayer"]


class FocalModulation(nn.Module):
    """Focal modulation of a (B, dim, H, W) map; returns a (B, dim, H, W) map.

    Args:
        dim: channels.
        focal_level: number of depth-wise context levels L (plus the global level).
        focal_window: kernel of the first level; must be odd (with an even ``focal_factor``) for 'same' padding.
        focal_factor: kernel growth per level.
        bias: biases in ``f`` and ``h``.
        proj_drop: dropout after the output projection.
        normalize_modulator: divide the aggregated context by L + 1.
        post_norm: LayerNorm on the modulated map before the projection.
    """

    def __init__(self, dim: int, focal_level: int = 2, focal_window: int = 3, focal_factor: int = 2,
                 bias: bool = True, proj_drop: float = 0.0, normalize_modulator: bool = False,
                 post_norm: bool = False):
        super().__init__()
        if focal_level < 1:
            raise ValueError(f"focal_level must be >= 1, got {focal_level}")
        if focal_window % 2 == 0 or focal_factor % 2:
            raise ValueError(
                f"focal_window must be odd and focal_factor even for 'same' padding, got {focal_window}, {focal_factor}"
            )
        self.dim, self.focal_level = dim, focal_level
        self.normalize_modulator = normalize_modulator
        self.f = nn.Conv2d(dim, 2 * dim + focal_level + 1, 1, bias=bias)
        self.h = nn.Conv2d(dim, dim, 1, bias=bias)
        self.act = nn.GELU()
        self.proj = nn.Conv2d(dim, dim, 1)
        self.proj_drop = nn.Dropout(proj_drop)
        self.kernel_sizes = [focal_factor * level + focal_window for level in range(focal_level)]
        self.focal_layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim, bias=False), nn.GELU())
            for k in self.kernel_sizes
        )
        self.norm = LayerNorm2d(dim) if post_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, ctx, gates = self.f(x).split((self.dim, self.dim, self.focal_level + 1), 1)
        ctx_all = None
        for level, layer in enumerate(self.focal_layers):
            ctx = layer(ctx)
            gate = gates[:, level : level + 1]
            ctx_all = ctx * gate if ctx_all is None else ctx_all.addcmul_(ctx, gate)  # one pass, no temporary
        ctx_global = self.act(ctx.mean((2, 3), keepdim=True))
        ctx_all = ctx_all.addcmul_(ctx_global, gates[:, self.focal_level :])
        if self.normalize_modulator:
            ctx_all = ctx_all / (self.focal_level + 1)
        out = self.norm(q * self.h(ctx_all))
        return self.proj_drop(self.proj(out))


@register_module(channels="preserved")
class FocalModulationBlock(nn.Module):
    """A FocalNet block for (B, c1, H, W) maps: pre-norm focal modulation and MLP, each in a scaled residual.

    ``x = x + DropPath(ls1 * FM(norm1(x)))``; ``x = x + DropPath(ls2 * MLP(norm2(x)))`` (with ``post_norm``
    the norms move after FM/MLP, as ``norm1_post``/``norm2_post``). ``layerscale`` (default 1e-4, ``None``
    to disable) makes a freshly inserted block start near identity, so a pretrained network keeps working.
    Output channels equal input channels (``c2 == c1``).
    """

    def __init__(self, c1: int, c2: int | None = None, focal_level: int = 2, focal_window: int = 3,
                 focal_factor: int = 2, mlp_ratio: float = 4.0, layerscale: float | None = 1e-4,
                 drop_path: float = 0.0, normalize_modulator: bool = False, post_norm: bool = False,
                 post_norm_in_modulation: bool = False, proj_drop: float = 0.0):
        super().__init__()
        if c2 is not None and c2 != c1:
            raise ValueError(f"FocalModulationBlock keeps the channel count: c2 ({c2}) must equal c1 ({c1})")
        dim = c1
        self.norm1 = nn.Identity() if post_norm else LayerNorm2d(dim)
        self.modulation = FocalModulation(dim, focal_level, focal_window, focal_factor, proj_drop=proj_drop,
                                          normalize_modulator=normalize_modulator, post_norm=post_norm_in_modulation)
        self.norm1_post = LayerNorm2d(dim) if post_norm else nn.Identity()
        self.ls1 = LayerScale2d(dim, layerscale) if layerscale is not None else nn.Identity()
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.Identity() if post_norm else LayerNorm2d(dim)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), drop=proj_drop)
        self.norm2_post = LayerNorm2d(dim) if post_norm else nn.Identity()
        self.ls2 = LayerScale2d(dim, layerscale) if layerscale is not None else nn.Identity()
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.norm1_post(self.modulation(self.norm1(x)))))
        return x + self.drop_path2(self.ls2(self.norm2_post(self.mlp(self.norm2(x)))))

    def fuse(self) -> None:
        """Inference: fold the layer scales into the convolutions before them (modulation.proj, mlp.fc2) when
        no post-norm sits between; saves two full-map multiplications per call."""
        if isinstance(self.norm1_post, nn.Identity):
            self.ls1 = fold_layer_scale(self.modulation.proj, self.ls1)
        if isinstance(self.norm2_post, nn.Identity):
            self.ls2 = fold_layer_scale(self.mlp.fc2, self.ls2)


@register_module(channels="preserved")
class FocalModulationLayer(nn.Module):
    """The bare FocalModulation as a YAML layer (the 'replace SPPF' pattern): no norm, residual or MLP."""

    def __init__(self, c1: int, c2: int | None = None, focal_level: int = 2, focal_window: int = 3,
                 focal_factor: int = 2, normalize_modulator: bool = False):
        super().__init__()
        if c2 is not None and c2 != c1:
            raise ValueError(f"FocalModulation keeps the channel count: c2 ({c2}) must equal c1 ({c1})")
        self.modulation = FocalModulation(c1, focal_level, focal_window, focal_factor,
                                          normalize_modulator=normalize_modulator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.modulation(x)
