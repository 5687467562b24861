"""How many CPU threads a command uses: a policy that holds up on a shared CPU.

PyTorch's CPU kernels split each operation over an OpenMP team and wait at a barrier for the slowest thread.
When another process wants a core, one thread of the team is descheduled for a time slice (milliseconds), and
every barrier waits for it: with as many threads as cores, a busy neighbour makes small kernels 10-200x slower.
One core left free absorbs the neighbour. So the default is every core this process may use but one, at most 8
(Ultralytics' rule too), and 1 on a two-core machine; a launcher's ``OMP_NUM_THREADS`` (torchrun under DDP, or
the user) wins over it, and ``--threads N`` over both. The left-over core still works: it runs the data-loading
workers, one per core the compute threads leave free (:func:`default_workers`), each with one thread.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import torch

__all__ = ["available_cores", "configure_threads", "default_threads", "default_workers"]

LOGGER = logging.getLogger("focalyolo")
MAX_DEFAULT_THREADS = 8
MAX_DEFAULT_WORKERS = 8


def _cgroup_cores() -> float | None:
    """The CPU quota of this process's cgroup (v2 ``cpu.max``), in cores; None when unlimited or unknown."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a container's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cores()
    return max(1, min(cores, int(quota))) if quota else max(cores, 1)


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set, else every available core but one (at least 1, at most 8)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(MAX_DEFAULT_THREADS, available_cores() - 1))


def configure_threads(threads: int | None = None) -> int:
    """Set torch's (and OpenCV's) intra-op threads to ``threads``, or to :func:`default_threads` when None;
    returns the number set."""
    n = threads or default_threads()
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    return n


def default_workers(device_type: str, threads: int, processes: int = 1) -> int:
    """Data-loading worker processes when none are asked for: on the CPU the cores this process's share leaves
    free of compute threads (at least 1), on a GPU every core of its share; at most 8."""
    share = max(available_cores() // max(processes, 1), 1)
    spare = share if device_type != "cpu" else share - threads
    return max(1, min(MAX_DEFAULT_WORKERS, spare))
