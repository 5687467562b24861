"""Pose data: keypoint rows parsed and cached, carried through letterbox, flips, affine, mosaic and mixup with their
rows, hidden once off the image; COCO keypoints JSONs and the synthetic-pose set."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from focalyolo.cfg import load_hyp
from focalyolo.data import Keypoints, YOLODataset, generate_synthetic, load_data_config
from focalyolo.data.labels import read_label_file
from focalyolo.data.scan import scan_dataset
from focalyolo.errors import DataError

STILL = load_hyp({"mosaic": 0.0, "mixup": 0.0, "degrees": 0.0, "translate": 0.0, "scale": 0.0, "shear": 0.0,
         "perspective": 0.0, "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "flipud": 0.0, "fliplr": 0.0})
AUGMENT = load_hyp({"mosaic": 1.0, "mixup": 0.3, "degrees": 20.0, "shear": 5.0, "perspective": 0.0005, "translate": 0.2,
           "scale": 0.5, "flipud": 0.5, "fliplr": 0.5})
COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle"]
COCO_FLIP_IDX = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
# hand-made images: per image (h, w) and rows (cls, xyxy box, 3 keypoints [x, y, v] in pixels); keypoint 0 is a
# "left" point, 1 its "right" partner, 2 a middle one
FLIP_IDX = [1, 0, 2]
IMAGES = {
    "a": ((60, 80), [(0, (10, 10, 50, 40), [(20.5, 15.5, 2), (40.5, 15.5, 2), (30.5, 35.5, 1)]),
                     (1, (55, 20, 75, 55), [(60.5, 30.5, 2), (70.5, 30.5, 0), (65.5, 50.5, 2)])]),
    "b": ((80, 60), [(2, (5, 20, 55, 70), [(10.5, 30.5, 2), (50.5, 30.5, 2), (30.5, 65.5, 2)])]),
}
DOT_COLOURS = np.array([(0, 0, 255), (0, 255, 0), (255, 0, 0)], np.uint8)  # BGR, keypoint i drawn in row i


def write_label(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_pose_rows_parse_into_boxes_and_keypoints(tmp_path):
    text = ("0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.4 1 0.7 0.9 0\n"  # good; the unlabelled point's xy becomes 0
            "0 0.5 0.5 0.4 0.4\n1 0.2 0.2 0.1 0.1 0.3 0.3\n1 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5\n"  # 3 wrong counts
            "1 0.5 0.5 0.2 0.2 nan 0.4 2 0.6 0.4 2 0.5 0.5 2\n")  # a non-finite keypoint
    parsed = read_label_file(write_label(tmp_path / "a.txt", text), nc=2, rows=Keypoints((3, 3)))
    np.testing.assert_allclose(parsed.labels, [[0, 0.5, 0.5, 0.4, 0.4]])
    assert len(parsed.extras["keypoints"]) == 1 and parsed.extras["keypoints"][0].dtype == np.float32
    np.testing.assert_allclose(parsed.extras["keypoints"][0], [[0.4, 0.4, 2], [0.6, 0.4, 1], [0, 0, 0]])
    assert ("3 row(s) with a wrong column count (5, 7, 9 values; kpt_shape [3, 3] needs 5 + 3x3 = 14) dropped"
            in parsed.notes)
    assert "1 row(s) with NaN/inf value dropped" in parsed.notes

    two = read_label_file(write_label(tmp_path / "b.txt", "1 0.5 0.5 0.2 0.2 0.45 0.5 0.55 0.5\n"), 2,
                          Keypoints((2, 2)))
    np.testing.assert_allclose(two.extras["keypoints"][0], [[0.45, 0.5, 2], [0.55, 0.5, 2]])  # ndim 2: all visible
    boxes = read_label_file(tmp_path / "a.txt", nc=2)  # no kpt_shape: box and polygon rows as before
    assert len(boxes.labels) == 3 and "keypoints" not in boxes.extras
    assert [len(p) for p in boxes.extras["polygons"]] == [0, 3, 4]


def test_scan_cache_is_keyed_on_kpt_shape(tmp_path):
    image = tmp_path / "images" / "a.png"
    image.parent.mkdir(parents=True)
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    write_label(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.4 2\n")  # 2 x 3 or 3 x 2
    first = scan_dataset([str(image)], rows=Keypoints((2, 3)), verbose=False)
    again = scan_dataset([str(image)], rows=Keypoints([2, 3]), verbose=False)
    assert not first.from_cache and again.from_cache
    assert first.extras["keypoints"][0].shape == again.extras["keypoints"][0].shape == (1, 2, 3)
    np.testing.assert_array_equal(first.extras["keypoints"][0], again.extras["keypoints"][0])
    other = scan_dataset([str(image)], rows=Keypoints((3, 2)), verbose=False)  # same file, other layout: a rescan
    assert not other.from_cache and other.extras["keypoints"][0].shape == (1, 3, 3)
    np.testing.assert_allclose(other.extras["keypoints"][0][0, :, :2], [[0.4, 0.4], [2, 0.6], [0.4, 2]])
    boxes = scan_dataset([str(image)], verbose=False)
    assert not boxes.from_cache and "keypoints" not in boxes.extras
    assert [p.shape for p in boxes.extras["polygons"][0]] == [(5, 2)]  # read as a polygon row


@pytest.fixture
def pose_images(tmp_path) -> list[Path]:
    """The two :data:`IMAGES` as PNGs with a 5 x 5 dot of DOT_COLOURS[i] at each labelled keypoint i."""
    files = []
    for name, ((h, w), rows) in IMAGES.items():
        img = np.full((h, w, 3), 90, np.uint8)
        lines = []
        for cls, (x1, y1, x2, y2), points in rows:
            for i, (x, y, v) in enumerate(points):
                if v:
                    img[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = DOT_COLOURS[i]
            box = [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
            values = [f"{x / w:.6f} {y / h:.6f} {v}" for x, y, v in points]
            lines.append(f"{cls} " + " ".join(f"{b:.6f}" for b in box) + " " + " ".join(values))
        path = tmp_path / "images" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), img)
        write_label(tmp_path / "labels" / f"{name}.txt", "\n".join(lines) + "\n")
        files.append(path)
    return files


def pixel_keypoints(sample: dict) -> np.ndarray:
    """A sample's (n, nk, 3) keypoints with xy in pixels of its image."""
    _, h, w = sample["img"].shape
    return sample["keypoints"].numpy() * np.array([w, h, 1], np.float32)


def dot_colour_at(sample: dict, x: float, y: float) -> np.ndarray:
    """The BGR colour of the sample image's pixel holding point (x, y)."""
    return sample["img"].numpy()[::-1, int(y), int(x)]


def expected_letterboxed(index_name: str, size: int = 160) -> np.ndarray:
    """:data:`IMAGES` keypoints as a letterboxed val sample of ``size`` places them (v = 0: x = y = 0)."""
    (h, w), rows = IMAGES[index_name]
    gain = size / max(h, w)
    pad = np.array([(size - w * gain) / 2, (size - h * gain) / 2])
    points = np.array([p for _, _, p in rows], np.float32)
    points[..., :2] = points[..., :2] * gain + pad
    points[points[..., 2] == 0] = 0
    return points


def test_letterboxed_keypoints_land_on_their_pixels_and_collate(pose_images):
    ds = YOLODataset(pose_images, imgsz=160, nc=3, verbose=False, kinds=[Keypoints([3, 3], FLIP_IDX)])
    assert len(ds.extras["keypoints"]) == 2 and ds.extras["keypoints"][0].shape == (2, 3, 3)
    np.testing.assert_allclose(ds.extras["keypoints"][0][0, 0], [20.5 / 80, 15.5 / 60, 2], atol=1e-6)  # original image
    for i, name in enumerate(IMAGES):
        sample = ds[i]
        points = pixel_keypoints(sample)
        assert points.shape == (len(sample["labels"]), 3, 3) and sample["keypoints"].dtype.is_floating_point
        np.testing.assert_allclose(points, expected_letterboxed(name), atol=0.02)
        for row in points:
            for k, (x, y, v) in enumerate(row):
                if v:
                    np.testing.assert_array_equal(dot_colour_at(sample, x, y), DOT_COLOURS[k])
    batch = ds.collate_fn([ds[0], ds[1]])
    assert batch["keypoints"].shape == (3, 3, 3) and len(batch["targets"]) == 3
    np.testing.assert_allclose(batch["keypoints"][2].numpy(), ds[1]["keypoints"][0].numpy())  # targets order


def test_flip_lr_mirrors_and_swaps_keypoints(pose_images):
    val = YOLODataset(pose_images, imgsz=160, nc=3, verbose=False, kinds=[Keypoints([3, 3], FLIP_IDX)])
    flipped = YOLODataset(pose_images, imgsz=160, augment=True, hyp={**STILL, "fliplr": 1.0}, nc=3, verbose=False,
                          kinds=[Keypoints([3, 3], FLIP_IDX)])
    for i in range(2):
        before, after = val[i], flipped[i]
        w = after["img"].shape[2]
        src, out = pixel_keypoints(before), pixel_keypoints(after)
        np.testing.assert_array_equal(before["labels"][:, 0], after["labels"][:, 0])
        for k, j in enumerate(FLIP_IDX):  # keypoint k at x is keypoint flip_idx[k] at w - x
            shown = src[:, k, 2] > 0
            np.testing.assert_allclose(out[shown, j, 0], w - src[shown, k, 0], atol=0.02)
            np.testing.assert_allclose(out[shown, j, 1:], src[shown, k, 1:], atol=0.02)
            assert (out[~shown, j] == 0).all()
            for x, y in out[shown, j, :2]:
                np.testing.assert_array_equal(dot_colour_at(after, x, y), DOT_COLOURS[k])


def test_flipping_keypoints_without_flip_idx_is_a_clear_error(pose_images):
    with pytest.raises(DataError, match="needs 'flip_idx'.*or fliplr: 0 and flipud: 0"):
        YOLODataset(pose_images, imgsz=160, augment=True, hyp={**STILL, "flipud": 0.5}, verbose=False,
                    kinds=[Keypoints([3, 3])])
    YOLODataset(pose_images, imgsz=160, augment=True, hyp=STILL, verbose=False,
                kinds=[Keypoints([3, 3])])  # no flips: fine
    YOLODataset(pose_images, imgsz=160, verbose=False, kinds=[Keypoints([3, 3])])  # validation never flips
    with pytest.raises(DataError, match="flip_idx"):
        YOLODataset(pose_images, imgsz=160, verbose=False, kinds=[Keypoints([3, 3], [0, 0, 1])])


def test_keypoints_pushed_off_the_image_are_hidden(pose_images):
    """A pure translation (scale 0, up to 45 % of the image): each keypoint is where the shift puts it, or hidden
    (v = 0, x = y = 0) where that is off the image; the shift is read from a keypoint still visible."""
    val = YOLODataset(pose_images, imgsz=160, nc=3, verbose=False, kinds=[Keypoints([3, 3])])
    moved = YOLODataset(pose_images, imgsz=160, augment=True, hyp={**STILL, "translate": 0.45}, nc=3, seed=3,
                        verbose=False, kinds=[Keypoints([3, 3])])
    hidden = checked = 0
    for n in range(24):
        ref, out = val[n % 2], moved[n % 2]
        src = {int(c): p for c, p in zip(ref["labels"][:, 0], pixel_keypoints(ref))}
        got = {int(c): p for c, p in zip(out["labels"][:, 0], pixel_keypoints(out))}
        pairs = [(src[c], got[c]) for c in got]
        shifts = [g[k, :2] - s[k, :2] for s, g in pairs for k in range(3) if s[k, 2] and g[k, 2]]
        if not shifts:
            continue
        shift = shifts[0]
        for s, g in pairs:
            expected = s.copy()
            expected[:, :2] += shift
            off = ((expected[:, :2] < 0) | (expected[:, :2] >= 160)).any(1) | (s[:, 2] == 0)
            np.testing.assert_allclose(g[~off], expected[~off], atol=0.05)
            assert (g[off] == 0).all()
            hidden += int((off & (s[:, 2] > 0)).sum())
            checked += 1
    assert checked > 10 and hidden > 0


@pytest.fixture(scope="module")
def pose_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("posedata")
    return load_data_config(generate_synthetic(root / "pose", n_train=8, n_val=2, imgsz=96, seed=1,
                                               name="synthetic-pose"))


def test_mosaic_samples_keep_keypoints_in_their_boxes(pose_data):
    ds = YOLODataset(pose_data.train, imgsz=96, augment=True, hyp=AUGMENT, nc=pose_data.nc, seed=1, verbose=False,
                     kinds=[Keypoints(pose_data.kpt_shape, pose_data.flip_idx)])
    shown = hidden = 0
    for i in range(16):
        sample = ds[i % len(ds)]
        labels, points = sample["labels"].numpy(), pixel_keypoints(sample)
        assert points.shape == (len(labels), 5, 3)
        for (_, cx, cy, w, h), row in zip(labels * [1, 96, 96, 96, 96], points):
            visible = row[:, 2] > 0
            assert (row[~visible] == 0).all()
            x, y = row[visible, 0], row[visible, 1]
            assert (np.abs(x - cx) <= w / 2 + 1).all() and (np.abs(y - cy) <= h / 2 + 1).all()
            assert (x >= 0).all() and (x < 96).all() and (y >= 0).all() and (y < 96).all()
            shown, hidden = shown + int(visible.sum()), hidden + int((~visible).sum())
    assert shown > 100 and hidden > 0  # mosaic crops cut some objects


def test_synthetic_pose_rows_are_upright_shapes_with_five_keypoints(pose_data, tmp_path):
    data = generate_synthetic(tmp_path / "pose", n_train=4, n_val=2, imgsz=96, name="synthetic-pose")
    cfg = load_data_config(data)
    assert cfg.names == ["star", "house"] and cfg.kpt_shape == [5, 3] and cfg.flip_idx == [0, 2, 1, 4, 3]
    assert cfg.skeleton == [[0, 1], [0, 2], [1, 3], [2, 4], [3, 4]]
    rows = [np.array(line.split(), float) for f in sorted((data.parent / "labels").rglob("*.txt"))
            for line in f.read_text().splitlines()]
    assert len(rows) >= 12 and all(len(r) == 5 + 15 for r in rows)
    for r in rows:
        (cx, cy, w, h), points = r[1:5], r[5:].reshape(5, 3)
        assert (points[:, 2] == 2).all() and w * 96 >= 12
        assert (np.abs(points[:, 0] - cx) <= w / 2 + 1e-5).all() and (np.abs(points[:, 1] - cy) <= h / 2 + 1e-5).all()
        assert points[0, 1] == points[:, 1].min()  # the top point is the highest
        assert points[1, 0] < points[2, 0] and points[3, 0] < points[4, 0]  # left of right
    ds = YOLODataset(cfg.train, imgsz=96, nc=cfg.nc, verbose=False, kinds=[Keypoints(cfg.kpt_shape)])
    assert sum(len(k) for k in ds.extras["keypoints"]) == sum(len(lb) for lb in ds.labels) > 0


def test_synthetic_pose_name_generates_once(monkeypatch, isolated_home):
    from focalyolo.data import synthetic

    monkeypatch.setitem(synthetic.DEFAULT_SIZES, "synthetic-pose", {"n_train": 3, "n_val": 2, "imgsz": 64, "seed": 0})
    cfg = load_data_config("synthetic-pose")
    assert len(cfg.train) == 3 and cfg.kpt_shape == [5, 3] and cfg.flip_idx == [0, 2, 1, 4, 3]
    assert cfg.root == isolated_home / "datasets" / synthetic.VERSIONS["synthetic-pose"]


def _coco_keypoints_json(root: Path) -> Path:
    """A person_keypoints JSON over two 40 x 50 (h x w) images: two people (one without keypoints) and one."""
    images, anns = [], []
    for i in range(2):
        path = root / "images" / "val" / f"p{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((40, 50, 3), 80, np.uint8))
        images.append({"id": 7 + i, "file_name": path.name, "width": 50, "height": 40})
    points = np.zeros((17, 3))
    points[:3] = [[10, 8, 2], [12, 6, 1], [8, 6, 2]]  # nose, left eye (hidden), right eye
    anns.append({"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [5, 4, 20, 30],
                 "keypoints": points.reshape(-1).tolist(), "num_keypoints": 3})
    anns.append({"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [30, 10, 10, 20],
                 "keypoints": [0] * 51, "num_keypoints": 0})
    anns.append({"id": 3, "image_id": 8, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 50, 40],
                 "keypoints": [25, 20, 2] * 17, "num_keypoints": 17})
    skeleton = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10],
                [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
    cats = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": COCO_NAMES, "skeleton": skeleton}]
    path = root / "annotations" / "person_keypoints_val.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def test_coco_keypoints_json_becomes_pose_rows(tmp_path):
    coco = _coco_keypoints_json(tmp_path)
    via_yaml = tmp_path / "pose.yaml"
    via_yaml.write_text(yaml.safe_dump({"train": "annotations/person_keypoints_val.json",
                                        "val": "annotations/person_keypoints_val.json"}))
    for cfg in (load_data_config(coco), load_data_config(via_yaml)):
        assert cfg.names == ["person"] and cfg.kpt_shape == [17, 3] and cfg.flip_idx == COCO_FLIP_IDX
        assert cfg.skeleton[0] == [15, 13] and cfg.skeleton[-1] == [4, 6] and len(cfg.skeleton) == 19
        labels = sorted((cfg.val[0].parent.parent.parent / "labels").rglob("*.txt"))
        rows = [line.split() for f in labels for line in f.read_text().splitlines()]
        assert len(rows) == 3 and all(len(r) == 5 + 17 * 3 for r in rows)
        ds = YOLODataset(cfg.val, imgsz=64, nc=cfg.nc, verbose=False, kinds=[Keypoints(cfg.kpt_shape)])
        first = ds.extras["keypoints"][[p.name for p in map(Path, ds.im_files)].index("p0.png")]
        np.testing.assert_allclose(first[0, :3], [[10 / 50, 8 / 40, 2], [12 / 50, 6 / 40, 1], [8 / 50, 6 / 40, 2]],
                                   atol=1e-6)
        assert (first[0, 3:] == 0).all() and (first[1] == 0).all()  # the person without keypoints is still a row
        np.testing.assert_allclose(ds.labels[0][1], [0, 0.7, 0.5, 0.2, 0.5], atol=1e-6)
    via_yaml.write_text(yaml.safe_dump({"train": "annotations/person_keypoints_val.json",
                                        "val": "annotations/person_keypoints_val.json", "flip_idx": list(range(17)),
                                        "skeleton": [[0, 1]]}))
    cfg = load_data_config(via_yaml)  # the YAML's keys win over the JSON's
    assert cfg.kpt_shape == [17, 3] and cfg.flip_idx == list(range(17)) and cfg.skeleton == [[0, 1]]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"kpt_shape": [0, 3]}, "kpt_shape must be"),
        ({"kpt_shape": [5, 4]}, "kpt_shape must be"),
        ({"kpt_shape": [3, 2], "flip_idx": [0, 1, 1]}, "'flip_idx' must list each keypoint index 0..2 once"),
        ({"kpt_shape": [3, 2], "skeleton": [[0, 3]]}, "'skeleton' must be a list of"),
        ({"flip_idx": [0]}, "'flip_idx' given without 'kpt_shape'"),
    ],
)
def test_keypoint_keys_of_a_data_yaml_are_checked(pose_images, tmp_path, extra, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": "images", "val": "images", "names": ["a", "b", "c"], **extra}))
    with pytest.raises(DataError, match=message) as info:
        load_data_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
