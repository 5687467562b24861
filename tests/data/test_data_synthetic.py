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


def test_segmentation_flavour_outlines_are_the_drawn_objects():
    """Each polygon of synthetic-seg covers exactly one flat-coloured object: inside (eroded) the colour is
    nearly uniform, and the ring just outside differs from it; polygons lie in the image and do not overlap."""
    import cv2

    from focalyolo.data.synthetic import render_image

    checked = 0
    for i in range(12):
        img, labels, outlines = render_image(np.random.default_rng([0, 0, i]), 160, polygons=True)
        masks = []
        for xy in outlines:
            assert len(xy) >= 3 and xy.min() >= 0 and xy.max() <= 1
            mask = np.zeros((160, 160), np.uint8)
            cv2.fillPoly(mask, [np.round(xy * 160 * 16).astype(np.int32)], 1, shift=4)
            masks.append(mask)
        assert (np.sum(masks, axis=0) <= 1).all()  # apart
        for mask in masks:
            inside = cv2.erode(mask, np.ones((3, 3), np.uint8))
            ring = cv2.dilate(mask, np.ones((5, 5), np.uint8)) - cv2.dilate(mask, np.ones((3, 3), np.uint8))
            if inside.sum() < 20:
                continue
            pixels = img[inside.astype(bool)].astype(float)
            colour = np.median(pixels, 0)
            assert np.median(np.abs(pixels - colour).max(1)) < 8  # flat fill (a line may cross it)
            assert np.median(np.abs(img[ring.astype(bool)].astype(float) - colour).max(1)) > 30
            checked += 1
    assert checked > 20


def test_segmentation_flavour_loads_for_detection_as_the_polygons_boxes(tmp_path):
    data = generate_synthetic(tmp_path / "seg", n_train=4, n_val=2, imgsz=96, seed=0, name="synthetic-seg")
    cfg = load_data_config(data)
    rows = (data.parent / "labels" / "train" / "000000.txt").read_text().splitlines()
    assert rows and all(len(r.split()) >= 7 and len(r.split()) % 2 == 1 for r in rows)  # polygons
    ds = YOLODataset(cfg.train, imgsz=96, nc=cfg.nc, verbose=False)
    xy = np.array(rows[0].split()[1:], float).reshape(-1, 2)
    box = [(xy[:, 0].min() + xy[:, 0].max()) / 2, (xy[:, 1].min() + xy[:, 1].max()) / 2, np.ptp(xy[:, 0]),
           np.ptp(xy[:, 1])]
    np.testing.assert_allclose(ds.labels[0][0, 1:], box, atol=1e-5)
