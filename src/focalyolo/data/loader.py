"""DataLoader construction: keyed, per-sample seeded sampling and workers that live for the whole run."""

from __future__ import annotations

import logging
import math
import random

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..utils.threads import available_cores
from .sampling import EpochSampler

__all__ = ["BATCHES_IN_FLIGHT", "build_dataloader", "release_workers", "seed_worker"]

_SEED_OFFSET = 6_148_914_691_236_517_205  # spreads small user seeds over the 64-bit space
LOGGER = logging.getLogger("focalyolo")
BATCHES_IN_FLIGHT = 4
"""Batches the workers of a loader prepare ahead of the one in use, at least: 2 per worker (PyTorch's default)
once there are two workers or more, more per worker below that. A mosaic with mixup costs about twice a plain one,
so a queue of one or two batches runs dry behind a slow one; a longer queue per worker only pins more memory."""


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: one OpenCV thread per worker, and ``random`` and ``numpy``'s global generators seeded from
    the worker's torch seed (PyTorch gives each worker ``base_seed + worker_id``, ``base_seed`` drawn from the
    loader's seeded generator). Our datasets draw nothing from these (each sample has its own generator, see
    :mod:`focalyolo.data.sampling`); a dataset that does still gets a reproducible stream."""
    cv2.setNumThreads(1)  # torch gives each worker one thread; OpenCV's pool would otherwise be inherited
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_dataloader(
    dataset: Dataset,
    batch_size: int,
    workers: int,
    shuffle: bool,
    seed: int = 0,
    rank: int = -1,
    world_size: int = 1,
    pin_memory: bool | None = None,
) -> DataLoader:
    """A DataLoader over ``dataset`` using its ``collate_fn``, asking it for :class:`SampleKey` items.

    Args:
        dataset: a dataset whose ``__getitem__`` takes a :class:`~focalyolo.data.sampling.SampleKey` (a
            :class:`YOLODataset` or a ``ClassificationDataset``); a rect dataset is never shuffled: its batches
            are formed by aspect ratio.
        batch_size: per-process batch size.
        workers: wanted worker processes, capped by the CPUs available per process and by batch size.
        shuffle: shuffle each epoch, by (seed, epoch): call ``loader.sampler.set_epoch(epoch)`` before each
            epoch's ``iter(loader)`` (an :class:`EpochSampler`, which also takes this process's share under DDP).
        seed: the run's seed: of the shuffling and of every sample's augmentation (through the keys).
        rank, world_size: the process's rank and the number of processes (DDP).
        pin_memory: page-locked batches, for asynchronous copies to a GPU (default: when CUDA is available; the
            trainer passes whether it trains on CUDA).

    Workers persist from epoch to epoch (no start-up at each epoch's first batch; what changes per epoch reaches
    them in the keys), each with one OpenCV thread, and keep at least :data:`BATCHES_IN_FLIGHT` batches queued.
    """
    if shuffle and getattr(dataset, "rect", False):
        LOGGER.warning("rect batches need a fixed order: shuffle turned off")
        shuffle = False
    nw = min(available_cores() // max(world_size, 1), batch_size if batch_size > 1 else 0, workers)
    generator = torch.Generator()
    generator.manual_seed(_SEED_OFFSET + seed + max(rank, 0))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(dataset), shuffle, seed, max(rank, 0), world_size),
        num_workers=nw,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        collate_fn=getattr(dataset, "collate_fn", None),
        worker_init_fn=seed_worker,
        generator=generator,
        persistent_workers=nw > 0,
        prefetch_factor=max(2, math.ceil(BATCHES_IN_FLIGHT / nw)) if nw else None,
    )


def release_workers(loader: DataLoader) -> None:
    """Stop the persistent worker processes of ``loader`` now (they would otherwise live as long as the loader);
    a later ``iter(loader)`` starts new ones."""
    iterator = getattr(loader, "_iterator", None)  # where DataLoader keeps the iterator that owns its workers
    loader._iterator = None
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
