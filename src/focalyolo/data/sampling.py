"""What a data loader asks a dataset for: (index, epoch, seed) keys, and each sample's own random generator.

A training sample is a pure function of its key: the image index, the epoch (which also decides whether mosaic
is still on, see ``YOLODataset.mosaic_epochs``) and the run's seed. Every random draw of the sample (mosaic
partners, affine, HSV, flips, mixup; a classifier's crop, flip and colour jitter) comes from a generator seeded
with that key alone, so batches do not depend on the number of loader workers, on which worker builds which
sample, or on where a run was resumed; and since the key travels with the index, workers that persist from one
epoch to the next need no attribute of the dataset changed between epochs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["EpochSampler", "SampleKey"]


class SampleKey(NamedTuple):
    """One sample of one epoch of a seeded run (what :class:`EpochSampler` yields in place of a bare index)."""

    index: int
    epoch: int
    seed: int

    def generator(self) -> np.random.Generator:
        """The sample's numpy generator: seeded with (seed, epoch, index) alone."""
        return np.random.default_rng((self.seed, self.epoch, self.index))

    @contextlib.contextmanager
    def torch_seeded(self) -> Iterator[None]:
        """Run the block with torch's CPU generator seeded from the key, and restore the generator afterwards (for
        transforms that draw from torch's global generator, such as ``torchvision.transforms.v2``)."""
        state = np.random.SeedSequence((self.seed, self.epoch, self.index)).generate_state(1, np.uint64)[0]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(state))
            yield


class EpochSampler(Sampler[SampleKey]):
    """The keys of one epoch: every index once, shuffled by (seed, epoch) when ``shuffle``, and this process's
    share of them under DDP.

    Args:
        size: the dataset's length.
        shuffle: a new order each epoch, a function of (seed, epoch) alone; else 0, 1, 2, ...
        seed: the run's seed (the keys carry it to the dataset).
        rank, world_size: under DDP each process takes every ``world_size``-th position of the order from
            ``rank`` on; the order is first padded by repeating its start to a multiple of ``world_size`` (as
            ``DistributedSampler`` does), so every process runs the same number of steps.

    Call :meth:`set_epoch` before each epoch's ``iter(loader)``; the keys of an iterator are fixed when it starts.
    """

    def __init__(self, size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size = rank, max(world_size, 1)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.size / self.world_size)

    def __iter__(self) -> Iterator[SampleKey]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.size) if self.shuffle else \
            np.arange(self.size)
        order = np.resize(order, len(self) * self.world_size)[self.rank::self.world_size]  # resize: pads by repeating
        return iter([SampleKey(int(i), self.epoch, self.seed) for i in order])
