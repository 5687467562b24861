"""Segmentation data: polygons clipped exactly, carried through every augmentation, rasterised into masks whose
boxes are the labels' boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from focalyolo.cfg import load_hyp
from focalyolo.data import Polygons, YOLODataset, generate_synthetic, load_data_config
from focalyolo.data.polygons import clip_polygon
from focalyolo.errors import DataError

AUGMENT = load_hyp({"mosaic": 1.0, "mixup": 0.3, "degrees": 20.0, "shear": 5.0, "perspective": 0.0005, "translate": 0.2,
           "scale": 0.5, "flipud": 0.5, "fliplr": 0.5})


def polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def test_clip_polygon_is_the_exact_intersection():
    square = np.array([[-5, -5], [5, -5], [5, 5], [-5, 5]], np.float32)
    assert polygon_area(clip_polygon(square, 10, 10)) == pytest.approx(25)
    assert polygon_area(clip_polygon(square + 20, 10, 10)) == 0 and len(clip_polygon(square + 20, 10, 10)) == 0
    inside = square + 5
    np.testing.assert_allclose(clip_polygon(inside, 10, 10), inside)
    star = np.array([[5, -4], [6, 3], [14, 5], [6, 7], [5, 14], [4, 7], [-4, 5], [4, 3]], np.float32)  # concave
    mask = np.zeros((10, 10), np.uint8)
    cv2.fillPoly(mask, [np.round(star * 16).astype(np.int32)], 1, shift=4)  # drawing clips to the canvas
    assert polygon_area(clip_polygon(star, 10, 10)) == pytest.approx(mask.sum(), rel=0.15)


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("segdata")
    return load_data_config(generate_synthetic(root / "seg", n_train=8, n_val=2, imgsz=96, seed=2,
                                               name="synthetic-seg"))


def mask_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


@pytest.mark.parametrize("augment", [False, True])
def test_each_instance_mask_fits_its_box_through_augmentation(seg_data, augment):
    ds = YOLODataset(seg_data.train, imgsz=96, augment=augment, hyp=AUGMENT, nc=5, seed=1, verbose=False,
                     kinds=[Polygons(mask_ratio=1, overlap=False)])
    errors = []
    for i in range(len(ds)):
        sample = ds[i]
        labels, masks = sample["labels"].numpy(), sample["masks"].numpy()
        assert masks.shape == (len(labels), 96, 96)
        for row, mask in zip(labels, masks):
            _, cx, cy, w, h = row * [1, 96, 96, 96, 96]
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            if mask.sum() < 4:  # a sliver left by the crop
                continue
            found = mask_box(mask)
            # a pixel is filled when its centre is inside the polygon: never outside the box (beyond rounding
            # to whole pixels) ...
            assert (found[:2] >= box[:2] - 0.5).all() and (found[2:] <= box[2:] + 0.5).all()
            errors.append(np.abs(found - box).max())
    # ... and the box's edges are reached up to rasterisation: a tip thinner than a pixel can miss every pixel
    # centre (4,692 augmented instances: 89 % within 1 px, 99.4 % within 2 px, the worst 12 px)
    assert len(errors) > 10 and np.mean(np.array(errors) <= 2.0) >= 0.9


def test_overlap_masks_index_the_label_rows_and_collate(seg_data):
    ds = YOLODataset(seg_data.train, imgsz=96, augment=True, hyp=AUGMENT, nc=5, seed=1, verbose=False,
                     kinds=[Polygons()])
    per_instance = YOLODataset(seg_data.train, imgsz=96, augment=True, hyp=AUGMENT, nc=5, seed=1, verbose=False,
                               kinds=[Polygons(overlap=False)])
    for i in range(4):
        sample, separate = ds[i], per_instance[i]
        index = sample["masks"].numpy()
        assert index.shape == (24, 24) and index.max() <= len(sample["labels"])
        order = np.argsort(-separate["masks"].numpy().reshape(len(separate["labels"]), -1).sum(1), kind="stable")
        np.testing.assert_array_equal(sample["labels"].numpy(), separate["labels"].numpy()[order])
        for j, k in enumerate(order):  # instance k drawn as j + 1, larger ones first
            later = [m for m in order[j + 1:]]
            own = separate["masks"].numpy()[k].astype(bool)
            covered = np.any(separate["masks"].numpy()[later].astype(bool), 0) if later else np.zeros_like(own)
            assert ((index == j + 1) == (own & ~covered)).all()
    batch = ds.collate_fn([ds[0], ds[1]])
    assert batch["masks"].shape == (2, 24, 24)
    batch = per_instance.collate_fn([per_instance[0], per_instance[1]])
    assert batch["masks"].shape == (len(batch["targets"]), 24, 24)


def test_box_rows_without_a_polygon_are_dropped_and_reported(seg_data, tmp_path):
    image = tmp_path / "images" / "a.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(seg_data.train[0].read_bytes())
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.4 0.1 0.3 0.4\n")
    ds = YOLODataset([image], imgsz=96, nc=5, verbose=False, kinds=[Polygons()])
    assert len(ds.labels[0]) == 1 and ds.labels[0][0, 0] == 1
    assert any("1 box row(s) without a polygon dropped" in reason for _, reason in ds.report)
    assert YOLODataset([image], imgsz=96, nc=5, verbose=False).labels[0].shape == (2, 5)  # detection keeps both


def test_a_box_only_dataset_is_one_clear_error_for_segmentation(tmp_path):
    boxes_only = load_data_config(generate_synthetic(tmp_path / "boxes", n_train=2, n_val=1, imgsz=64, seed=2))
    with pytest.raises(DataError, match="none of the .* labelled instances has an outline"):
        YOLODataset(boxes_only.train, imgsz=64, nc=5, verbose=False, kinds=[Polygons()])
