"""Multi-process (DDP) launch: ``focalyolo train --device 0,1,2,3`` re-runs itself under torchrun.

One process is started per GPU named in ``--device``, or ``--processes N`` of them (on CPU they use the
gloo backend). Each process runs the same ``focalyolo train`` command line with torchrun's ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` set, so the :class:`~focalyolo.engine.trainer.Trainer` joins the group;
a command already under torchrun (``WORLD_SIZE`` set) is never launched again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Sequence

import torch

from ..errors import FocalYoloError
from ..utils.torch_utils import parse_device_ids

__all__ = ["launch", "process_count", "torchrun_command"]


def process_count(device: str, processes: int | None, saved_world_size: int | None = None) -> int:
    """How many training processes to start on this machine.

    Args:
        device: the ``--device`` value; a list of GPUs (``0,1,2,3``) asks for one process each.
        processes: explicit ``--processes`` (at most the number of GPUs listed); on CPU any positive number.
        saved_world_size: a resumed run's process count (:attr:`ResolvedRun.saved_world_size`); with neither
            ``device`` nor ``processes`` given, the run continues with it.
    """
    ids = parse_device_ids(device)
    if ids and not torch.cuda.is_available():
        raise FocalYoloError(f"--device {device}: CUDA is not available on this machine "
                             f"(use --device cpu --processes N)")
    on_gpus = bool(ids) or (str(device).strip().lower() != "cpu" and torch.cuda.is_available())
    if processes is not None:
        if processes < 1:
            raise FocalYoloError(f"--processes {processes}: must be at least 1")
        gpus = len(ids) or torch.cuda.device_count()
        if on_gpus and processes > gpus:
            raise FocalYoloError(f"--processes {processes}: more than the {gpus} GPU(s) of --device {device or 'all'}")
        return processes
    if ids:
        return len(ids)
    if saved_world_size is not None and not str(device).strip():
        return saved_world_size
    return 1


def torchrun_command(argv: Sequence[str], processes: int) -> list[str]:
    """The command that runs ``focalyolo <argv>`` in ``processes`` processes on this machine (free port chosen)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
            "--nproc_per_node", str(processes), "-m", "focalyolo", *argv]


def launch(argv: Sequence[str], processes: int) -> int:
    """Run ``focalyolo <argv>`` under torchrun with ``processes`` processes; returns torchrun's exit code.

    Each process gets ``OMP_NUM_THREADS`` = its share of the CPU cores, unless the caller set it.
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max((os.cpu_count() or 1) // processes, 1)))
    return subprocess.run(torchrun_command(argv, processes), env=env, check=False).returncode
