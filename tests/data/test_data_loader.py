"""Collation, data loaders and reproducibility of augmented batches under a seed."""

from __future__ import annotations

import torch
from torch.utils.data import DistributedSampler

from focalyolo.data import YOLODataset, build_dataloader

HYP = {"mixup": 0.5}


def test_collate_shapes(colour_dataset):
    files = colour_dataset(3)
    ds = YOLODataset(files, imgsz=64, augment=True, verbose=False)
    samples = [ds[i] for i in range(3)]
    batch = YOLODataset.collate_fn(samples)
    assert batch["img"].shape == (3, 3, 64, 64) and batch["img"].dtype == torch.uint8
    t = batch["targets"]
    assert t.ndim == 2 and t.shape[1] == 6 and t.dtype == torch.float32
    assert set(t[:, 0].long().tolist()) <= {0, 1, 2} and (t[:, 2:] <= 1).all() and (t[:, 2:] >= 0).all()
    assert len(batch["paths"]) == len(batch["ori_shapes"]) == len(batch["ratio_pads"]) == 3
    assert len(t) == sum(len(s["labels"]) for s in samples)
    for i, s in enumerate(samples):
        assert torch.equal(t[t[:, 0] == i, 1:], s["labels"])


def _epoch(loader) -> list[torch.Tensor]:
    return [b["img"].float().mean((1, 2, 3)) for b in loader] + [b["targets"] for b in loader]


def test_same_seed_same_batches(colour_dataset):
    files = colour_dataset(6)
    for workers in (0, 2):
        runs = []
        for _ in range(2):
            ds = YOLODataset(files, imgsz=64, augment=True, hyp=HYP, verbose=False)
            loader = build_dataloader(ds, batch_size=3, workers=workers, shuffle=True, seed=7)
            assert loader.persistent_workers is False
            runs.append(_epoch(loader))
        assert all(torch.equal(a, b) for a, b in zip(*runs)), f"workers={workers}"
    ds = YOLODataset(files, imgsz=64, augment=True, hyp=HYP, verbose=False)
    other = _epoch(build_dataloader(ds, batch_size=3, workers=0, shuffle=True, seed=8))
    assert not all(torch.equal(a, b) for a, b in zip(runs[0], other))


def test_mosaic_flag_and_distributed_sampler(colour_dataset):
    files = colour_dataset(4)
    ds = YOLODataset(files, imgsz=64, augment=True, verbose=False)
    assert ds.mosaic
    ds.mosaic = False  # close_mosaic: letterboxed samples are still augmented
    assert ds[0]["img"].shape == (3, 64, 64)
    loader = build_dataloader(ds, batch_size=2, workers=64, shuffle=True, seed=0, rank=1, world_size=2)
    assert isinstance(loader.sampler, DistributedSampler) and loader.sampler.rank == 1
    assert loader.num_workers <= max(1, (torch.multiprocessing.cpu_count() or 1) // 2)
    assert len(loader) == 1
