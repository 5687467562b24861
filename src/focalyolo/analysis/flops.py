"""FLOP counting for module-level benchmark rows, with the same counter as ``focalyolo info``.

That counter (:func:`focalyolo.models.summary.flop_counter`) adds the CPU attention kernel that
``torch.utils.flop_counter`` misses, so self-attention is not undercounted. A multiply-add counts as 2 FLOPs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..models.summary import count_gflops, flop_counter

__all__ = ["count_flops", "model_gflops"]


@torch.no_grad()
def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of one eval-mode call ``module(*inputs)`` (training flag restored afterwards)."""
    was_training = module.training
    module.eval()
    counter = flop_counter()
    try:
        with counter:
            module(*inputs)
    finally:
        module.train(was_training)
    return counter.get_total_flops()


def model_gflops(model: nn.Module, imgsz: int, ch: int = 3) -> float:
    """GFLOPs of a detector's forward pass on one ``imgsz x imgsz`` image (the ``info`` count)."""
    return count_gflops(model, imgsz, ch)
