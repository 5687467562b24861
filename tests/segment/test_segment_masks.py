"""Mask helpers (assembly, letterbox round trip, IoU, outlines, RLE), NMS carrying coefficients, and COCO JSON
outlines turned into polygon label rows."""

from __future__ import annotations

import json

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils

from focalyolo.data import load_data_config
from focalyolo.data.polygons import coco_outline, join_parts, polygons_to_masks
from focalyolo.utils.masks import (
    crop_to_boxes,
    instance_masks,
    mask_iou,
    masks_in_original,
    masks_to_polygons,
    masks_to_rle,
    overlap_to_instances,
    to_original,
)
from focalyolo.utils.nms import non_max_suppression


def test_instance_masks_are_coefficients_times_prototypes_cropped_to_the_box():
    protos = torch.full((2, 8, 8), -5.0)
    protos[0, 2:6, 2:6] = 5.0  # prototype 0: a square; prototype 1: nothing
    coefficients = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # the square, and everything but the square
    boxes = torch.tensor([[0.0, 0.0, 32.0, 32.0], [0.0, 0.0, 16.0, 32.0]])  # input 32x32: grid stride 4
    masks = instance_masks(protos, coefficients, boxes, (32, 32))
    assert masks.shape == (2, 8, 8) and masks.dtype == torch.bool
    assert masks[0].sum() == 16 and masks[0, 2:6, 2:6].all()
    expected = torch.ones(8, 8, dtype=torch.bool)
    expected[2:6, 2:6] = False
    expected[:, 4:] = False  # cropped to x < 16 px = 4 cells
    assert torch.equal(masks[1], expected)
    full = masks_in_original(protos, coefficients, boxes, (32, 32), (32, 32), ((1.0, 1.0), (0.0, 0.0)), chunk=1)
    assert full.shape == (2, 32, 32) and not full[1, :, 16:].any()
    ys, xs = np.nonzero(full[0].numpy())  # the square: cells 2-5 = pixels 8-24, up to the bilinear edge
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], [8, 8, 24, 24], atol=1)
    letterboxed = masks_in_original(protos, coefficients, boxes, (32, 32), (16, 64), ((0.5, 0.5), (0.0, 12.0)))
    assert letterboxed.shape == (2, 16, 64)  # the 32x32 input held a 16x64 image at gain 0.5 below 12 px of padding


def test_masks_map_back_through_the_letterbox():
    """A 60x100 image letterboxed into 64x64 (gain 0.64, 12.8 px padding above and below): a mask drawn over
    the letterboxed input comes back over the original image where the box comes back."""
    original_hw, gain, pad = (60, 100), 0.64, 12.8
    box = np.array([20, 10, 70, 40])  # original pixels
    mask_input = torch.zeros(1, 64, 64, dtype=torch.bool)
    x1, y1, x2, y2 = np.round(box * gain + [0, pad, 0, pad]).astype(int)
    mask_input[0, y1:y2, x1:x2] = True
    back = to_original(mask_input.float(), (64, 64), original_hw, ((gain, gain), (0.0, pad))) > 0.5
    assert back.shape == (1, 60, 100)
    ys, xs = np.nonzero(back[0].numpy())
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box, atol=2)
    grid = torch.nn.functional.avg_pool2d(mask_input[None].float(), 4)[0] > 0.5  # the mask on a stride-4 grid
    on_grid = to_original(grid.float(), (64, 64), original_hw, ((gain, gain), (0.0, pad))) > 0.5
    ys, xs = np.nonzero(on_grid[0].numpy())  # the same place, up to one grid cell (4 / 0.64 original pixels)
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box, atol=4 / gain)


def test_mask_iou_and_overlap_decoding():
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    a[0, :2] = True  # 8 pixels
    a[1, :, :1] = True  # 4 pixels, 2 shared with a[0]
    iou = mask_iou(a, a)
    torch.testing.assert_close(iou, torch.tensor([[1.0, 2 / 10], [2 / 10, 1.0]]))
    assert mask_iou(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)).item() == 0
    index = torch.tensor([[1, 1, 0], [2, 2, 0], [0, 0, 0]], dtype=torch.int32)
    separate = overlap_to_instances(index, 3)
    assert separate.shape == (3, 3, 3) and separate.sum(dim=(1, 2)).tolist() == [2, 2, 0]
    torch.testing.assert_close(crop_to_boxes(torch.ones(1, 3, 3), torch.tensor([[1.0, 0.0, 3.0, 1.0]])),
                               torch.tensor([[[0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]))
    # a cell stays when its centre is in the box: x from 1.6 to 3.4 keeps cells 2 (centre 2.5) only; the corner rule
    # (x1 <= x < x2) would keep cells 2 and 3
    kept = crop_to_boxes(torch.ones(1, 1, 5), torch.tensor([[1.6, 0.0, 3.4, 1.0]]))
    assert kept[0, 0].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_outlines_and_rle_round_trip():
    mask = np.zeros((2, 40, 50), np.uint8)
    cv2.circle(mask[0], (20, 18), 11, 1, -1)
    mask[1, 5:30, 30:45] = 1
    polygons = masks_to_polygons(mask)
    assert all(p.shape[1] == 2 and len(p) >= 4 for p in polygons)
    redrawn, _ = polygons_to_masks(polygons, (40, 50), ratio=1, overlap=False)
    assert mask_iou(torch.from_numpy(redrawn), torch.from_numpy(mask)).diagonal().min() > 0.9
    assert masks_to_polygons(np.zeros((1, 5, 5)))[0].shape == (0, 2)
    rles = masks_to_rle(mask)
    json.dumps(rles)  # plain JSON (string counts)
    decoded = mask_utils.decode([{**r, "counts": r["counts"].encode()} for r in rles]).transpose(2, 0, 1)
    np.testing.assert_array_equal(decoded, mask)


def test_nms_carries_each_boxs_coefficients():
    boxes = torch.tensor([[10.0, 10, 8, 8], [11, 10, 8, 8], [40, 40, 8, 8]])  # xywh; the first two overlap
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.1], [0.1, 0.7]])
    coefficients = torch.tensor([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])
    prediction = torch.cat((boxes, scores, coefficients), 1).T[None]  # (1, 4 + 2 + 3, 3)
    (det,) = non_max_suppression(prediction, conf=0.25, iou=0.5, nm=3)
    assert det.shape == (2, 9)
    torch.testing.assert_close(det[:, 4:6], torch.tensor([[0.9, 0.0], [0.7, 1.0]]))
    torch.testing.assert_close(det[:, 6:], torch.tensor([[1.0, 2, 3], [7, 8, 9]]))
    (plain,) = non_max_suppression(prediction[:, :6], conf=0.25, iou=0.5)
    torch.testing.assert_close(plain, det[:, :6])


def test_coco_outlines_polygons_parts_and_rle():
    square = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]
    np.testing.assert_allclose(coco_outline([square], 100, 50), np.reshape(square, (-1, 2)) / (100, 50))
    two = coco_outline([square, [60.0, 10.0, 80.0, 10.0, 80.0, 20.0]], 100, 50)
    mask, _ = polygons_to_masks([two * (100, 50)], (50, 100), ratio=1, overlap=False)
    assert mask[0, 20, 20] and mask[0, 12, 75] and not mask[0, 40, 50]  # both parts filled, nothing else
    parts, _ = polygons_to_masks([np.reshape(square, (-1, 2)), np.array([[60.0, 10], [80, 10], [80, 20]])], (50, 100),
                                 ratio=1, overlap=False)
    assert parts.sum() <= mask.sum() <= parts.sum() + 31  # the parts plus at most the 30-px bridge's pixel row
    binary = np.zeros((50, 100), np.uint8, order="F")
    binary[5:25, 40:70] = 1
    compressed = mask_utils.encode(binary)
    for rle in ({"size": compressed["size"], "counts": compressed["counts"].decode()},
                {"size": [50, 100], "counts": _uncompressed_counts(binary)}):
        outline = coco_outline(rle, 100, 50) * (100, 50)
        redrawn, _ = polygons_to_masks([outline], (50, 100), ratio=1, overlap=False)
        assert mask_iou(torch.from_numpy(redrawn), torch.from_numpy(binary[None])).item() > 0.95
    assert coco_outline([[1.0, 2.0, 3.0, 4.0]], 10, 10) is None  # fewer than 3 points
    assert coco_outline({"counts": 5}, 10, 10) is None
    assert coco_outline({"size": [10], "counts": "xx"}, 10, 10) is None  # malformed: no traceback
    assert len(join_parts([np.zeros((3, 2)), np.ones((4, 2))])) == 3 + 4 + 2


def _uncompressed_counts(binary: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE counts (column-major runs, starting with zeros)."""
    flat = binary.flatten(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(edges).tolist()
    return runs if flat[0] == 0 else [0, *runs]


def test_coco_json_with_outlines_becomes_polygon_rows(tmp_path, monkeypatch, focalyolo_log):
    monkeypatch.setenv("FOCALYOLO_HOME", str(tmp_path / "home"))
    images = tmp_path / "coco" / "images" / "val"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "a.jpg"), np.full((50, 100, 3), 90, np.uint8))
    square = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}],
            "categories": [{"id": 3, "name": "thing"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 20, 20], "segmentation": [square]},
                {"id": 2, "image_id": 1, "category_id": 3, "bbox": [50, 5, 10, 10]},
                {"id": 3, "image_id": 1, "category_id": 3, "bbox": [60, 5, 10, 10], "segmentation": [[1.0, 2.0]]}]}
    path = tmp_path / "coco" / "annotations" / "instances_val.json"
    path.parent.mkdir()
    path.write_text(json.dumps(coco))
    config = load_data_config(path)
    label = (config.val[0].parent.parent.parent / "labels" / "instances_val" / "a.txt").read_text().splitlines()
    assert label[0].split() == ["0", *(f"{v:.6f}" for v in np.reshape(square, (-1, 2)).__truediv__((100, 50)).ravel())]
    assert label[1] == "0 0.550000 0.200000 0.100000 0.200000"
    assert label[2] == "0 0.650000 0.200000 0.100000 0.200000"  # an unusable outline keeps its box, with a warning
    assert any("unusable segmentation" in r.getMessage() for r in focalyolo_log)
