"""The classification loss: cross-entropy with label smoothing over a classifier's logits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["ClassificationLoss"]


class ClassificationLoss:
    """``loss_fn(logits (B, nc), classes (B,) int64) -> (loss, items)``: the batch's mean cross-entropy with
    ``hyp["label_smoothing"]`` (the target puts 1 - s + s / nc on the true class, s / nc on each other), and the
    same value detached as a (1,) tensor for logging.

    Label smoothing keeps a classifier's logits bounded (it never gains by pushing one class's probability to 1),
    which regularises small datasets; 0 gives plain cross-entropy.
    """

    def __init__(self, hyp: Mapping[str, Any]):
        self.label_smoothing = float(hyp["label_smoothing"])

    def __call__(self, logits: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        classes = classes.to(logits.device, non_blocking=True)
        loss = F.cross_entropy(logits.float(), classes, label_smoothing=self.label_smoothing)
        return loss, loss.detach().reshape(1)
