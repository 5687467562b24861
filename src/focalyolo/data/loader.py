"""DataLoader construction with reproducible, per-worker augmentation randomness."""

from __future__ import annotations

import logging
import random

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info

from ..utils.threads import available_cores

__all__ = ["build_dataloader", "seed_worker"]

_SEED_OFFSET = 6_148_914_691_236_517_205  # spreads small user seeds over the 64-bit space
LOGGER = logging.getLogger("focalyolo")


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed ``random``, ``numpy`` and the dataset's generator from the worker's torch seed.

    PyTorch gives each worker ``base_seed + worker_id``, and ``base_seed`` is drawn from the loader's
    ``generator``; with a seeded generator every epoch's augmentation is reproducible.
    """
    cv2.setNumThreads(1)  # torch gives each worker one thread; OpenCV's pool would otherwise be inherited
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    info = get_worker_info()
    if info is not None and hasattr(info.dataset, "reseed"):
        info.dataset.reseed(seed)


def build_dataloader(
    dataset: Dataset,
    batch_size: int,
    workers: int,
    shuffle: bool,
    seed: int = 0,
    rank: int = -1,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader over ``dataset`` using its ``collate_fn``.

    Args:
        dataset: usually a :class:`YOLODataset` (a rect dataset is never shuffled: its batches are
            formed by aspect ratio).
        batch_size: per-process batch size.
        workers: wanted worker processes, capped by the CPUs available per process and by batch size.
        shuffle: shuffle each epoch (through the DistributedSampler when ``world_size > 1``; the trainer
            must then call ``loader.sampler.set_epoch(epoch)``).
        seed: seed of the shuffling generator and the workers' augmentation seeds.
        rank, world_size: the process's rank and the number of processes (DDP).

    ``persistent_workers`` is off so that workers are re-created each epoch and see the current
    ``dataset.mosaic``; with ``workers=0`` the dataset's own generator is reseeded from ``seed`` here.
    """
    if shuffle and getattr(dataset, "rect", False):
        LOGGER.warning("rect batches need a fixed order: shuffle turned off")
        shuffle = False
    nw = min(available_cores() // max(world_size, 1), batch_size if batch_size > 1 else 0, workers)
    sampler = (
        DistributedSampler(dataset, num_replicas=world_size, rank=max(rank, 0), shuffle=shuffle, seed=seed)
        if world_size > 1 else None
    )
    generator = torch.Generator()
    generator.manual_seed(_SEED_OFFSET + seed + max(rank, 0))
    if nw == 0 and hasattr(dataset, "reseed"):
        dataset.reseed(seed + max(rank, 0))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        num_workers=nw,
        sampler=sampler,
        pin_memory=torch.cuda.is_available(),
        collate_fn=getattr(dataset, "collate_fn", None),
        worker_init_fn=seed_worker,
        generator=generator,
        persistent_workers=False,
    )
