"""Exponential moving average of model weights (evaluated and saved instead of the raw weights)."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

__all__ = ["ModelEMA", "unwrap"]


class ModelEMA:
    """Keeps ``ema`` = decay * ema + (1 - decay) * model over every floating-point state_dict entry.

    The decay ramps up as ``decay * (1 - exp(-updates / tau))`` so early averages follow the model closely.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0):
        self.ema = copy.deepcopy(unwrap(model)).eval()
        self.ema.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates
        self._pairs: tuple[int, list[torch.Tensor], list[torch.Tensor]] | None = None

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average (call after each optimizer step)."""
        self.updates += 1
        d = self.current_decay()
        averages, current = self._tensor_pairs(unwrap(model))
        torch._foreach_lerp_(averages, current, 1 - d)  # ema += (1 - d) (model - ema), all tensors in one call

    def _tensor_pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The floating-point (ema, model) state tensors, listed once per model: parameters and buffers keep
        their identity during training (optimizers and load_state_dict update them in place), and building
        two state_dicts per step costs as much as the averaging itself."""
        if self._pairs is None or self._pairs[0] != id(model):
            source = model.state_dict()
            pairs = [(v, source[k]) for k, v in self.ema.state_dict().items() if v.dtype.is_floating_point]
            self._pairs = (id(model), [a for a, _ in pairs], [b for _, b in pairs])
        return self._pairs[1], self._pairs[2]


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a DistributedDataParallel/DataParallel wrapper."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model
