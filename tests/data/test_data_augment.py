"""Augmentations keep boxes on their objects: each class is a filled rectangle of a unique colour, so the
pixels inside every output box must be mostly that colour, and coloured pixels must lie inside boxes."""

from __future__ import annotations

import numpy as np
import pytest

from focalyolo.cfg import load_hyp
from focalyolo.data import Annotations, YOLODataset, letterbox
from focalyolo.data.augment import flip_lr, flip_ud, random_affine, rect_batch_shapes

STILL = load_hyp({"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "mixup": 0.0, "degrees": 0.0, "shear": 0.0,
                  "perspective": 0.0})


def _colour_mask(img_hwc: np.ndarray, colour_bgr: np.ndarray) -> np.ndarray:
    """Pixels of an RGB image within a small distance of a BGR colour."""
    return np.abs(img_hwc.astype(int) - colour_bgr[::-1].astype(int)).sum(-1) < 90


def check_sample(sample: dict, colours: np.ndarray, min_fill: float) -> tuple[int, int]:
    """Assert every box is mostly its colour; return (coloured pixels inside same-class boxes, all coloured)."""
    img = sample["img"].permute(1, 2, 0).numpy()
    h, w = img.shape[:2]
    labels = sample["labels"].numpy()
    assert labels.shape[1] == 5 and (labels[:, 1:] >= 0).all() and (labels[:, 1:] <= 1 + 1e-6).all()
    covered = np.zeros((len(colours), h, w), bool)
    for cls, cx, cy, bw, bh in labels:
        x1, y1 = int(round((cx - bw / 2) * w)), int(round((cy - bh / 2) * h))
        x2, y2 = int(round((cx + bw / 2) * w)), int(round((cy + bh / 2) * h))
        covered[int(cls), max(y1 - 1, 0) : y2 + 1, max(x1 - 1, 0) : x2 + 1] = True
        if min(x2 - x1, y2 - y1) < 6:
            continue  # too small to judge against interpolation at the edges
        inner = _colour_mask(img[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1], colours[int(cls)])
        assert inner.mean() >= min_fill, f"box {cls, x1, y1, x2, y2} is only {inner.mean():.2f} its colour"
    inside = total = 0
    for cls, colour in enumerate(colours):
        mask = _colour_mask(img, colour)
        inside += int((mask & covered[cls]).sum())
        total += int(mask.sum())
    return inside, total


@pytest.mark.parametrize(
    ("name", "hyp", "min_fill", "min_coverage"),
    [
        ("mosaic", {**STILL, "mosaic": 1.0, "scale": 0.5, "fliplr": 0.5, "flipud": 0.5}, 0.9, 0.9),
        ("affine", {**STILL, "mosaic": 0.0, "scale": 0.5, "translate": 0.2, "fliplr": 0.5}, 0.9, 0.9),
        ("rotate", {**STILL, "mosaic": 1.0, "scale": 0.3, "degrees": 25.0, "shear": 3.0}, 0.35, 0.85),
        ("perspective", {**STILL, "mosaic": 0.0, "scale": 0.2, "perspective": 0.0005}, 0.7, 0.85),
    ],
)
def test_train_augmentations_keep_boxes_on_objects(colour_dataset, box_colours, name, hyp, min_fill, min_coverage):
    files = colour_dataset(4, shapes=[(96, 128), (128, 80), (112, 112), (60, 128)])
    ds = YOLODataset(files, imgsz=128, augment=True, hyp=hyp, seed=1, verbose=False)
    inside = total = boxes = 0
    for i in range(12):
        sample = ds[i % len(ds)]
        assert tuple(sample["img"].shape) == (3, 128, 128)
        a, b = check_sample(sample, box_colours, min_fill)
        inside, total, boxes = inside + a, total + b, boxes + len(sample["labels"])
    assert boxes > 12 and inside / total >= min_coverage, (name, inside / total)


def test_mixup_keeps_both_label_sets(colour_dataset):
    files = colour_dataset(4)
    ds = YOLODataset(files, imgsz=128, augment=True, hyp={**STILL, "mixup": 1.0, "scale": 0.2}, seed=0, verbose=False)
    alone = YOLODataset(files, imgsz=128, augment=True, hyp={**STILL, "scale": 0.2}, seed=0, verbose=False)
    assert sum(len(ds[i]["labels"]) for i in range(4)) > sum(len(alone[i]["labels"]) for i in range(4))


@pytest.mark.parametrize("rect", [False, True])
def test_letterbox_and_ratio_pad_map_back_to_original(colour_dataset, box_colours, rect):
    shapes = [(96, 128), (128, 80), (40, 128), (128, 128), (70, 90)]
    files = colour_dataset(len(shapes), shapes=shapes)
    ds = YOLODataset(files, imgsz=160, rect=rect, batch_size=2, verbose=False)
    original = YOLODataset(files, imgsz=160, verbose=False)  # unsorted labels, for the round trip
    by_path = dict(zip(original.im_files, original.labels))
    for i in range(len(ds)):
        s = ds[i]
        check_sample(s, box_colours, 0.95)
        h0, w0 = s["ori_shape"]
        (gh, gw), (pw, ph) = s["ratio_pad"]
        _, h, w = s["img"].shape
        lb = s["labels"].numpy()
        x1 = ((lb[:, 1] - lb[:, 3] / 2) * w - pw) / gw
        y2 = ((lb[:, 2] + lb[:, 4] / 2) * h - ph) / gh
        ref = by_path[s["path"]]
        np.testing.assert_allclose(x1, (ref[:, 1] - ref[:, 3] / 2) * w0, atol=0.5)
        np.testing.assert_allclose(y2, (ref[:, 2] + ref[:, 4] / 2) * h0, atol=0.5)
        # padding is grey 114 where the image does not reach
        img = s["img"].numpy()
        if pw >= 1:
            assert (img[:, :, 0] == 114).all()
        if ph >= 1:
            assert (img[:, 0, :] == 114).all()


def test_rect_batches_are_stride_multiples_and_uniform(colour_dataset):
    shapes = [(96, 128), (128, 80), (40, 128), (128, 128), (70, 90), (128, 50), (33, 120)]
    files = colour_dataset(len(shapes), shapes=shapes)
    ds = YOLODataset(files, imgsz=128, rect=True, batch_size=3, stride=32, verbose=False)
    assert ds.mosaic is False and (ds.batch_shapes % 32 == 0).all()
    ars = ds.shapes[:, 0] / ds.shapes[:, 1]
    assert (np.diff(ars) >= 0).all()  # sorted by aspect ratio
    for b in range(len(ds.batch_shapes)):
        idx = np.flatnonzero(ds.batch_index == b)
        batch = ds.collate_fn([ds[i] for i in idx])
        assert tuple(batch["img"].shape[2:]) == tuple(ds.batch_shapes[b])
        assert max(batch["img"].shape[2:]) <= 128 + 32


def test_rect_batch_shapes_values():
    shapes = np.array([[50, 100], [60, 100], [100, 100], [100, 50]])
    out = rect_batch_shapes(shapes, imgsz=640, batch_size=2, stride=32, pad=0.5)
    # batch 0: all wide, height of the tallest (0.6 * 640 = 384 -> 12 strides + 0.5 -> 13) x full width
    np.testing.assert_array_equal(out, [[416, 672], [672, 672]])


def test_letterbox_function():
    img = np.zeros((50, 100, 3), np.uint8)
    out, (gh, gw), (pw, ph) = letterbox(img, (64, 64))
    assert out.shape == (64, 64, 3) and (gh, gw) == (32 / 50, 64 / 100) and (pw, ph) == (0.0, 16.0)
    same, gains, _ = letterbox(img, (128, 128), scaleup=False)
    assert same.shape == (128, 128, 3) and gains == (1.0, 1.0)


def test_flips_and_affine_identity_move_boxes_with_pixels():
    img = np.zeros((20, 40, 3), np.uint8)
    img[2:6, 30:38] = 255
    labels = Annotations(np.array([0], np.float32), np.array([[30, 2, 38, 6]], np.float32))
    lr_img, lr = flip_lr(img, labels)
    assert lr.cls.tolist() == [0] and lr.boxes.tolist() == [[2, 2, 10, 6]] and lr_img[2:6, 2:10].min() == 255
    ud_img, ud = flip_ud(img, labels)
    assert ud.cls.tolist() == [0] and ud.boxes.tolist() == [[30, 14, 38, 18]] and ud_img[14:18, 30:38].min() == 255
    still, moved = random_affine(img, labels, np.random.default_rng(0), (20, 40), translate=0.0, scale=0.0)
    np.testing.assert_array_equal(still, img)
    np.testing.assert_array_equal(moved.cls, labels.cls)
    np.testing.assert_allclose(moved.boxes, labels.boxes, atol=1e-4)
