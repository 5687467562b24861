"""Annotations: extras move through selection, mosaic placement, flips, transforms and batching by their kind, and a
kind registered from outside the package works with the defaults alone (also read from its own label column, through
a dataset, into the batch)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from focalyolo.cfg import load_hyp
from focalyolo.data import (
    AnnotationKind,
    Annotations,
    Keypoints,
    Polygons,
    YOLODataset,
    annotation_kind,
    register_annotation_kind,
)
from focalyolo.data.annotations import LabelRows


@register_annotation_kind
class Scores(AnnotationKind):
    """One scalar per object: only the name, every step by default."""

    name = "test_scores"


def _annotations() -> Annotations:
    cls = np.array([0, 1, 2], np.float32)
    boxes = np.array([[10, 10, 20, 30], [40, 5, 60, 15], [0, 0, 5, 5]], np.float32)
    polygons = [np.array([[10, 10], [20, 10], [20, 30]], np.float32),
                np.array([[40, 5], [60, 5], [60, 15]], np.float32), np.zeros((0, 2), np.float32)]
    keypoints = np.array([[[12, 20, 2], [18, 20, 2]], [[50, 10, 2], [45, 10, 1]], [[1, 1, 2], [4, 4, 0]]], np.float32)
    return Annotations(cls, boxes, {"polygons": polygons, "keypoints": keypoints,
                                    "test_scores": np.array([0.5, 0.25, 0.75], np.float32)},
                       {"keypoints": Keypoints((2, 3), [1, 0])})


def test_registry_finds_kinds_by_name():
    assert annotation_kind("test_scores") is Scores and annotation_kind("polygons") is Polygons
    with pytest.raises(ValueError, match="already registered"):
        register_annotation_kind(type("Other", (AnnotationKind,), {"name": "keypoints"}))
    with pytest.raises(KeyError, match="test_scores"):
        annotation_kind("no such kind")


def test_select_and_concat_keep_extras_aligned():
    ann = _annotations()
    kept = ann.select(np.array([True, False, True]))
    assert kept.cls.tolist() == [0, 2] and kept.extras["test_scores"].tolist() == [0.5, 0.75]
    assert [len(p) for p in kept.extras["polygons"]] == [3, 0] and kept.extras["keypoints"].shape == (2, 2, 3)
    ordered = ann.select(np.array([2, 0]))
    assert ordered.extras["test_scores"].tolist() == [0.75, 0.5] and ordered.extras["keypoints"][0, 0, 0] == 1
    both = Annotations.concat([ann, kept])
    assert len(both) == 5 and both.extras["test_scores"].tolist() == [0.5, 0.25, 0.75, 0.5, 0.75]
    assert len(both.extras["polygons"]) == 5 and both.extras["keypoints"].shape == (5, 2, 3)


def test_geometry_moves_points_and_leaves_plain_values():
    ann = _annotations()
    shifted = ann.shift(5, -2)
    np.testing.assert_array_equal(shifted.boxes[0], [15, 8, 25, 28])
    np.testing.assert_array_equal(shifted.extras["polygons"][0][0], [15, 8])
    np.testing.assert_array_equal(shifted.extras["keypoints"][0, 0], [17, 18, 2])
    np.testing.assert_array_equal(shifted.extras["test_scores"], ann.extras["test_scores"])
    flipped = ann.flip(0, 100)
    np.testing.assert_array_equal(flipped.boxes[0], [80, 10, 90, 30])
    np.testing.assert_array_equal(flipped.extras["keypoints"][0], [[82, 20, 2], [88, 20, 2]])  # swapped by flip_idx
    np.testing.assert_array_equal(flipped.flip(0, 100).extras["keypoints"], ann.extras["keypoints"])
    matrix = np.array([[1.0, 0, 3], [0, 1, 4], [0, 0, 1]])
    moved = ann.transform(matrix, (64, 64))
    np.testing.assert_allclose(moved.boxes[:2], [[13, 14, 23, 34], [43, 9, 63, 19]])  # the polygons' boxes
    np.testing.assert_array_equal(moved.boxes[2], [0, 0, 0, 0])  # no polygon: no box
    np.testing.assert_allclose(moved.extras["keypoints"][1, 0], [53, 14, 2])
    cut = ann.crop(50, 50)
    assert cut.boxes[1].tolist() == [40, 5, 50, 15] and cut.extras["keypoints"][1, 0].tolist() == [0, 0, 0]


def test_default_sample_and_collate_batch_a_plain_value_in_target_order():
    kind, ann = Scores(), _annotations()
    entries, rows = kind.sample(ann.extras["test_scores"], np.array([2, 0]), (64, 64))
    assert rows.tolist() == [2, 0] and entries["test_scores"].tolist() == [0.75, 0.5]
    batch = kind.collate([entries, {"test_scores": torch.tensor([0.125])}])
    assert batch["test_scores"].tolist() == [0.75, 0.5, 0.125]


@register_annotation_kind
class Difficulty(AnnotationKind):
    """One value per object read from a sixth label column: a row parser, every other step by default."""

    name = "test_difficulty"

    def row_format(self) -> str:
        return "boxes + difficulty"

    def parse_rows(self, rows: list[np.ndarray]) -> LabelRows:
        good = np.array([r for r in rows if len(r) == 6], np.float64).reshape(-1, 6)
        return LabelRows(good[:, :5], good[:, 5], good[:, 5:], [len(r) for r in rows if len(r) != 6])


def test_a_kind_from_outside_reads_its_column_and_reaches_the_batch(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    files = []
    for i in range(4):
        cv2.imwrite(str(images / f"{i}.png"), np.full((64, 64, 3), 40 * i, np.uint8))
        (labels / f"{i}.txt").write_text(f"0 0.5 0.5 0.5 0.5 {i}\n1 0.25 0.25 0.2 0.2 {i + 10}\n0 0.5 0.5 0.1 0.1\n")
        files.append(str(images / f"{i}.png"))
    hyp = load_hyp({"mosaic": 1.0, "scale": 0.0, "translate": 0.0})
    ds = YOLODataset(files, imgsz=64, augment=True, hyp=hyp, seed=0, verbose=False, kinds=[Difficulty()])
    assert [v.tolist() for v in ds.extras["test_difficulty"]] == [[i, i + 10] for i in range(4)]
    assert any("wrong column count (5 values)" in reason for _, reason in ds.report)
    batch = ds.collate_fn([ds[0], ds[1]])
    values, targets = batch["test_difficulty"], batch["targets"]
    assert len(values) == len(targets) > 0
    # each value stays with its object: class 1 objects carry i + 10, class 0 ones i
    assert ((values >= 10) == (targets[:, 1] == 1)).all()
