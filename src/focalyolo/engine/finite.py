"""Skipping non-finite training steps without a host read per step.

Reading a CUDA tensor on the host (``bool(loss.isfinite())``) waits until the device has run every queued
kernel, so a check per step stalls the queue once per step. :class:`FiniteGuard` counts non-finite losses on the
device and is read once per optimizer step (:meth:`FiniteGuard.read`), where the update is decided: a window of
accumulated steps with a non-finite loss in it is dropped whole (its gradients are not finite either). Under DDP
the counts are all-reduced first, so every process drops the same windows and their gradient all-reduces stay
paired.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["FiniteGuard"]


class FiniteGuard:
    """Device-side counts of non-finite losses: in the current accumulation window, and in a row.

    Args:
        device: where the losses live.
        world_size: DDP processes (above 1: :meth:`read` all-reduces the counts).
    """

    def __init__(self, device: torch.device, world_size: int = 1):
        self.world_size = world_size
        self.in_window = torch.zeros((), dtype=torch.long, device=device)
        self.in_a_row = torch.zeros((), dtype=torch.long, device=device)

    def record(self, loss: torch.Tensor) -> torch.Tensor:
        """Count one step's scalar ``loss``; returns 0-dim bool "finite" on the device (no host read)."""
        finite = torch.isfinite(loss.detach())
        bad = (~finite).long()
        self.in_window += bad
        self.in_a_row = (self.in_a_row + 1) * bad
        return finite

    def read(self) -> tuple[int, int]:
        """(non-finite steps in the window, non-finite steps in a row), the largest over all processes: the one
        host read per optimizer step. Starts a new window."""
        counts = torch.stack((self.in_window, self.in_a_row))
        if self.world_size > 1:
            dist.all_reduce(counts, op=dist.ReduceOp.MAX)
        self.in_window.zero_()
        bad, in_a_row = counts.tolist()
        return bad, in_a_row
