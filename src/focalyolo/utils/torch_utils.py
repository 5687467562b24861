"""Devices, seeds and distributed-process helpers."""

from __future__ import annotations

import os
import random
import time

import numpy as np
import torch

from ..errors import FocalYoloError

__all__ = ["device_clock", "distributed_env", "init_seeds", "memory_text", "parse_device_ids", "select_device"]


def parse_device_ids(device: str | int | None) -> list[int]:
    """GPU indices named by a ``--device`` value: ``"0,1,3"`` / ``"cuda:1"`` -> [0, 1, 3] / [1];
    ``""``, ``"cpu"``, ``"mps"`` and ``"cuda"`` (the default GPU) -> []."""
    text = str(device if device is not None else "").strip().lower()
    if text in ("", "cpu", "mps", "cuda"):
        return []
    try:
        return [int(part) for part in text.removeprefix("cuda:").split(",") if part.strip()]
    except ValueError:
        raise FocalYoloError(f"--device {device}: expected cpu, mps, cuda, cuda:N, a GPU index or a list like "
                             f"0,1,2,3") from None


def select_device(device: str | int | None = "") -> torch.device:
    """``"cpu"``, ``"mps"``, ``"cuda"``, ``"cuda:1"``, ``"0"``, ``"0,1"`` or empty (CUDA 0 if present, else CPU)
    -> a torch.device; FocalYoloError (one line) when the device is not on this machine.

    Under torchrun the process with ``LOCAL_RANK`` k takes the k-th GPU of the list (of all GPUs when
    none is named), so ``--device 2,3`` puts ranks 0 and 1 on GPUs 2 and 3.
    """
    text = str(device if device is not None else "").strip().lower()
    if text == "cpu" or (text == "" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if text == "mps":
        if not torch.backends.mps.is_available():
            raise FocalYoloError("--device mps: Apple's Metal (MPS) backend is not available on this machine "
                                 "(it needs macOS on Apple silicon); use --device cpu")
        return torch.device("mps")
    ids = parse_device_ids(text)
    if not torch.cuda.is_available():
        raise FocalYoloError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    ids = ids or list(range(torch.cuda.device_count()))
    slot = max(int(os.environ.get("LOCAL_RANK", -1)), 0)
    if slot >= len(ids):
        raise FocalYoloError(f"--device {device}: process {slot} has no GPU (only {len(ids)} listed or present)")
    if ids[slot] >= torch.cuda.device_count():
        raise FocalYoloError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) present")
    return torch.device("cuda", ids[slot])


def init_seeds(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; with ``deterministic`` ask torch for reproducible kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        # deterministic mode would also NaN-fill every new tensor (thousands of fills per step on CPU);
        # results do not depend on uninitialised memory, so skip that cost
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def distributed_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment; (-1, -1, 1) for a single process."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return -1, -1, 1
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), world


def memory_text(device: torch.device) -> str:
    """Current memory use for the progress bar: CUDA reserved memory, else this process's resident memory (RAM)."""
    if device.type == "cuda":
        return f"{torch.cuda.memory_reserved(device) / 1e9:.2f}G"
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return f"{pages * os.sysconf('SC_PAGE_SIZE') / 1e9:.2f}G"
    except (OSError, ValueError):
        return "-"


def device_clock(device: torch.device) -> float:
    """Seconds of a monotonic clock, read after the device's queued work is done (so stages time correctly)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
