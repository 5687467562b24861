"""The built-in synthetic dataset: deterministic, learnable variety of classes and sizes."""

from __future__ import annotations

import numpy as np

from focalyolo.data import SYNTHETIC_NAMES, YOLODataset, generate_synthetic, load_data_config


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_bytes(tmp_path):
    a = generate_synthetic(tmp_path / "a", n_train=6, n_val=2, imgsz=96, seed=3)
    b = generate_synthetic(tmp_path / "b", n_train=6, n_val=2, imgsz=96, seed=3)
    c = generate_synthetic(tmp_path / "c", n_train=6, n_val=2, imgsz=96, seed=4)
    fa, fb, fc = _files(a.parent), _files(b.parent), _files(c.parent)
    assert [p.relative_to(a.parent) for p in fa] == [p.relative_to(b.parent) for p in fb]
    assert len([p for p in fa if p.suffix == ".jpg"]) == 8
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb) if x.suffix != ".yaml")
    assert any(x.read_bytes() != z.read_bytes() for x, z in zip(fa, fc) if x.suffix == ".txt")


def test_classes_sizes_and_layout(tmp_path):
    data = generate_synthetic(tmp_path / "syn", n_train=40, n_val=8, imgsz=160, seed=0)
    cfg = load_data_config(data)
    assert cfg.names == list(SYNTHETIC_NAMES) and cfg.nc == 5 and len(cfg.train) == 40 and len(cfg.val) == 8
    ds = YOLODataset(cfg.train, imgsz=160, nc=cfg.nc, verbose=False)
    assert all(r != "no label file: kept as a background image" for _, r in ds.report)
    labels = ds.all_labels()
    counts = np.bincount(labels[:, 0].astype(int), minlength=5)
    assert (counts >= 0.1 * len(labels)).all(), counts  # every class well represented
    side = labels[:, 3:].max(1) * 160
    assert side.min() < 12 and side.max() > 50  # small objects and large ones
    assert 0.05 < (side < 12).mean() < 0.25 and np.median(side) > 20  # mostly learnable sizes
    assert 3 <= len(labels) / len(ds) <= 7
    img = ds[0]["img"].float()
    assert img.std() > 20  # textured, not flat
