"""Collation, data loaders and reproducibility of augmented batches: per-sample seeds, persistent workers, close
mosaic by epoch, the RAM cache."""

from __future__ import annotations

import logging
import re

import numpy as np
import torch

from focalyolo.cfg import load_hyp
from focalyolo.data import EpochSampler, SampleKey, YOLODataset, build_dataloader, generate_synthetic
from focalyolo.data.classify import ClassificationDataset, load_classification_data

HYP = load_hyp({"mixup": 0.5})


def test_collate_shapes(colour_dataset):
    files = colour_dataset(3)
    ds = YOLODataset(files, imgsz=64, augment=True, hyp=load_hyp(), verbose=False)
    samples = [ds[i] for i in range(3)]
    batch = ds.collate_fn(samples)
    assert batch["img"].shape == (3, 3, 64, 64) and batch["img"].dtype == torch.uint8
    t = batch["targets"]
    assert t.ndim == 2 and t.shape[1] == 6 and t.dtype == torch.float32
    assert set(t[:, 0].long().tolist()) <= {0, 1, 2} and (t[:, 2:] <= 1).all() and (t[:, 2:] >= 0).all()
    assert len(batch["paths"]) == len(batch["ori_shapes"]) == len(batch["ratio_pads"]) == 3
    assert len(t) == sum(len(s["labels"]) for s in samples)
    for i, s in enumerate(samples):
        assert torch.equal(t[t[:, 0] == i, 1:], s["labels"])


def _epochs(loader, epochs=(0, 1)) -> list[list[dict]]:
    """Every batch of each of ``epochs``, in order (the sampler set to the epoch before its iterator starts)."""
    out = []
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        out.append(list(loader))
    return out


def _same(a: list[list[dict]], b: list[list[dict]]) -> bool:
    """Whether two runs' batches are equal in every tensor (and in every other value)."""
    for epoch_a, epoch_b in zip(a, b, strict=True):
        for batch_a, batch_b in zip(epoch_a, epoch_b, strict=True):
            assert batch_a.keys() == batch_b.keys()
            for key, value in batch_a.items():
                equal = torch.equal(value, batch_b[key]) if isinstance(value, torch.Tensor) else value == batch_b[key]
                if not equal:
                    return False
    return True


def test_same_seed_same_batches_with_any_number_of_workers(colour_dataset):
    """Each sample draws from a generator of its own key (seed, epoch, index): every tensor of two epochs is the
    same whether the main process or one or two persistent workers build the batches."""
    files = colour_dataset(6)
    runs = {}
    for workers in (0, 1, 2):
        ds = YOLODataset(files, imgsz=64, augment=True, hyp=HYP, verbose=False)
        loader = build_dataloader(ds, batch_size=3, workers=workers, shuffle=True, seed=7)
        assert loader.num_workers == workers and loader.persistent_workers == (workers > 0)
        runs[workers] = _epochs(loader)
    assert _same(runs[0], runs[1]) and _same(runs[0], runs[2])
    assert not torch.equal(runs[0][0][0]["img"], runs[0][1][0]["img"])  # a new order and new draws each epoch
    ds = YOLODataset(files, imgsz=64, augment=True, hyp=HYP, verbose=False)
    assert not _same(runs[0], _epochs(build_dataloader(ds, batch_size=3, workers=0, shuffle=True, seed=8)))


def test_classification_batches_do_not_depend_on_the_workers(tmp_path):
    """torchvision's transforms draw from torch's global generator: seeded per sample from its key, so two workers
    give the batches of the main process, and the global generator is left as it was."""
    data = load_classification_data(generate_synthetic(tmp_path, n_train=10, n_val=5, imgsz=48, seed=0,
                                                       name="synthetic-cls"))
    runs = []
    for workers in (0, 2):
        ds = ClassificationDataset(data.train, 32, augment=True, hyp=load_hyp(), verbose=False)
        runs.append(_epochs(build_dataloader(ds, batch_size=4, workers=workers, shuffle=True, seed=3)))
    assert _same(*runs)
    state = torch.get_rng_state()
    ds[SampleKey(0, 0, 3)]
    assert torch.equal(torch.get_rng_state(), state)


def test_epoch_sampler_orders_by_seed_and_epoch_and_splits_over_ranks():
    sampler = EpochSampler(10, shuffle=True, seed=1)
    first = list(sampler)
    assert sorted(k.index for k in first) == list(range(10)) and {(k.epoch, k.seed) for k in first} == {(0, 1)}
    assert list(EpochSampler(10, shuffle=True, seed=1)) == first  # a function of (seed, epoch)
    sampler.set_epoch(1)
    assert [k.index for k in sampler] != [k.index for k in first]
    assert [k.index for k in EpochSampler(4, shuffle=False)] == [0, 1, 2, 3]
    shares = [list(EpochSampler(10, shuffle=True, seed=1, rank=r, world_size=4)) for r in range(4)]
    assert [len(s) for s in shares] == [3] * 4  # padded to 12 by repeating the order's start
    order = [k.index for k in first]
    assert [k.index for k in shares[1]] == [order[1], order[5], order[9]]
    assert sorted({k.index for s in shares for k in s}) == list(range(10))


def test_close_mosaic_by_epoch_reaches_persistent_workers(colour_dataset):
    """``mosaic_epochs`` turns mosaic off from that epoch on: workers that persist across epochs follow it, since
    the epoch comes with every key. A mosaic's ratio_pad is the identity; a letterboxed 96 x 128 image at 64 has
    gain 0.5 and 8 px of padding."""
    ds = YOLODataset(colour_dataset(6), imgsz=64, augment=True, hyp=load_hyp({"mosaic": 1.0}), verbose=False,
                     mosaic_epochs=2)
    loader = build_dataloader(ds, batch_size=3, workers=2, shuffle=True, seed=0)
    assert loader.persistent_workers
    pads = [{rp for batch in epoch for rp in batch["ratio_pads"]} for epoch in _epochs(loader, range(4))]
    assert pads == [{((1.0, 1.0), (0.0, 0.0))}] * 2 + [{((0.5, 0.5), (0.0, 8.0))}] * 2
    ds.mosaic = False  # a bare index follows the attribute: letterboxed samples are still augmented
    assert ds[0]["img"].shape == (3, 64, 64) and ds[0]["ratio_pad"] == ((0.5, 0.5), (0.0, 8.0))


def test_distributed_share_and_worker_cap(colour_dataset):
    ds = YOLODataset(colour_dataset(4), imgsz=64, augment=True, hyp=load_hyp(), verbose=False)
    loader = build_dataloader(ds, batch_size=2, workers=64, shuffle=True, seed=0, rank=1, world_size=2)
    assert isinstance(loader.sampler, EpochSampler) and loader.sampler.rank == 1
    assert loader.num_workers <= max(1, (torch.multiprocessing.cpu_count() or 1) // 2)
    assert len(loader) == 1


def test_ram_cache_holds_every_image_and_changes_no_batch(colour_dataset, caplog):
    files = colour_dataset(6)
    with caplog.at_level(logging.INFO, logger="focalyolo"):
        cached = YOLODataset(files, imgsz=64, augment=True, hyp=HYP, prefix="train: ", cache="ram")
    assert len(cached.image_cache.entries) == 6
    line = next(r.getMessage() for r in caplog.records if "in RAM" in r.getMessage())
    assert re.fullmatch(r"train: caching 6 images in RAM: 55\.3 kB of [\d.]+ [MG]B available", line), line
    plain = YOLODataset(files, imgsz=64, augment=True, hyp=HYP, verbose=False, cache_mb=0)
    assert len(plain.image_cache.entries) == 0
    runs = [_epochs(build_dataloader(ds, batch_size=3, workers=2, shuffle=True, seed=1)) for ds in (cached, plain)]
    assert _same(*runs)


def test_ram_cache_that_does_not_fit_is_refused_in_one_line(colour_dataset, caplog, monkeypatch):
    monkeypatch.setattr("focalyolo.data.cache.available_memory", lambda: 50_000)
    with caplog.at_level(logging.INFO, logger="focalyolo"):
        ds = YOLODataset(colour_dataset(6), imgsz=64, augment=True, hyp=load_hyp(), prefix="train: ", cache="ram")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["train: --cache ram: 6 images need 55.3 kB, more than 75% of the 50.0 kB available; images "
                        "not cached"]
    assert ds.image_cache.capacity == 256 * 2**20  # the small per-process cache, as without --cache
    assert np.array_equal(ds[SampleKey(0, 0, 0)]["img"], ds[SampleKey(0, 0, 0)]["img"])
