"""Result objects as Ultralytics users know them: Boxes / Masks / Keypoints / Probs views of fixed fake predictions
(exact values), indexing and len, save and to_json, the deprecated bare-tensor fields, and label sizes that follow
the image's."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from focalyolo.errors import FocalYoloError
from focalyolo.tasks import results as results_module
from focalyolo.tasks.classify import ClassifyResult
from focalyolo.tasks.detect import DetectResult
from focalyolo.tasks.pose import PoseResult
from focalyolo.tasks.results import Boxes, Keypoints, Masks, Probs
from focalyolo.tasks.segment import SegmentResult
from focalyolo.utils.plotting import class_colour

H, W = 100, 200
NAMES = ["circle", "star"]
BOXES = [[20.0, 10.0, 60.0, 50.0], [100.0, 40.0, 180.0, 90.0], [0.0, 0.0, 10.0, 20.0]]
SCORES = [0.9, 0.75, 0.5]
CLASSES = [1, 0, 1]
KEYPOINTS = [[[30.0, 20.0, 0.9], [50.0, 40.0, 0.2]], [[120.0, 50.0, 1.0], [160.0, 80.0, 0.6]],
             [[2.0, 4.0, 0.3], [8.0, 16.0, 0.7]]]
SPEED = {"preprocess": 1.0, "inference": 2.0, "postprocess": 0.5}


def t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def image(h: int = H, w: int = W) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def detect_args() -> tuple:
    return ("src/a.jpg", None, (H, W), t(BOXES), t(SCORES), torch.tensor(CLASSES), NAMES, image(), SPEED)


def masks() -> torch.Tensor:
    m = torch.zeros(3, H, W, dtype=torch.bool)
    m[0, 10:50, 20:60] = True
    m[1, 40:90, 100:180] = True
    return m  # the third mask is empty


@pytest.fixture
def detection() -> DetectResult:
    return DetectResult(*detect_args())


@pytest.fixture
def segmentation() -> SegmentResult:
    return SegmentResult(*detect_args(), masks=masks())


@pytest.fixture
def pose() -> PoseResult:
    return PoseResult(*detect_args(), keypoints=t(KEYPOINTS), skeleton=[[0, 1]])


@pytest.fixture
def classification() -> ClassifyResult:
    return ClassifyResult("src/c.png", 3, (H, W), t([0.05, 0.4, 0.1, 0.2, 0.15, 0.1]),
                          ["a", "b", "c", "d", "e", "f"], image(), SPEED)


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which deprecation warnings were already given in this process."""
    monkeypatch.setattr(results_module, "_WARNED", set())


def test_boxes_views(detection: DetectResult) -> None:
    boxes = detection.boxes
    assert isinstance(boxes, Boxes) and len(boxes) == 3 and boxes.shape == (3, 6)
    assert torch.equal(boxes.data, t([b + [s, c] for b, s, c in zip(BOXES, SCORES, CLASSES)]))
    assert torch.equal(boxes.xyxy, t(BOXES))
    assert torch.equal(boxes.xywh, t([[40, 30, 40, 40], [140, 65, 80, 50], [5, 10, 10, 20]]))
    assert torch.equal(boxes.xyxyn, t([[0.1, 0.1, 0.3, 0.5], [0.5, 0.4, 0.9, 0.9], [0, 0, 0.05, 0.2]]))
    assert torch.equal(boxes.xywhn, t([[0.2, 0.3, 0.2, 0.4], [0.7, 0.65, 0.4, 0.5], [0.025, 0.1, 0.05, 0.2]]))
    assert torch.equal(boxes.conf, t(SCORES)) and torch.equal(boxes.cls, t(CLASSES))
    as_numpy = boxes.numpy()
    assert isinstance(as_numpy, Boxes) and isinstance(as_numpy.data, np.ndarray)
    np.testing.assert_array_equal(as_numpy.xywhn, boxes.xywhn.numpy())
    np.testing.assert_array_equal(as_numpy[1].xyxy, [BOXES[1]])
    assert boxes.cpu().data.device.type == "cpu" and boxes.to(torch.float64).data.dtype == torch.float64


def test_boxes_indexing(detection: DetectResult) -> None:
    boxes = detection.boxes
    assert torch.equal(boxes[0].xyxy, t([BOXES[0]])) and torch.equal(boxes[-1].conf, t([0.5]))
    assert torch.equal(boxes[1:].cls, t([0, 1])) and torch.equal(boxes[[2, 0]].conf, t([0.5, 0.9]))
    assert torch.equal(boxes[boxes.conf > 0.6].xyxy, t(BOXES[:2]))
    assert len(boxes[boxes.conf > 1]) == 0 and boxes[boxes.conf > 1].xywhn.shape == (0, 4)


def test_result_fields_len_and_indexing(detection: DetectResult) -> None:
    r = detection
    assert (r.path, r.frame, r.orig_shape, r.names, r.speed) == ("src/a.jpg", None, (H, W), NAMES, SPEED)
    assert len(r) == 3 and r.describe() == "2 star, 1 circle"
    first = r[0]
    assert isinstance(first, DetectResult) and len(first) == 1 and torch.equal(first.boxes.xyxy, t([BOXES[0]]))
    assert first.orig_shape == (H, W) and first.names == NAMES and first.path == r.path
    assert [len(r[1:]), len(r[:0]), len(r[r.boxes.cls == 1])] == [2, 0, 2]
    assert torch.equal(r[r.boxes.cls == 1].boxes.conf, t([0.9, 0.5])) and len(r) == 3  # r itself unchanged
    assert r[1:].to_txt_rows() == r.to_txt_rows()[1:]
    with pytest.raises(TypeError):
        r[:, 0]


def test_masks_views_and_indexing(segmentation: SegmentResult) -> None:
    m = segmentation.masks
    assert isinstance(m, Masks) and len(m) == 3 and m.shape == (3, H, W) and torch.equal(m.data, masks())
    corners = [[20.125, 10.125], [20.125, 49.875], [59.875, 49.875], [59.875, 10.125]]
    np.testing.assert_array_equal(m.xy[0], corners)
    np.testing.assert_array_equal(m.xy[1], [[100.125, 40.125], [100.125, 89.875], [179.875, 89.875],
                                            [179.875, 40.125]])
    assert m.xy[2].shape == (0, 2) and m.xyn[2].shape == (0, 2)
    np.testing.assert_allclose(m.xyn[0], np.array(corners) / (W, H), rtol=1e-6)
    part = segmentation[[1]]
    assert len(part) == 1 and torch.equal(part.masks.data, masks()[1:2]) and torch.equal(part.boxes.xyxy, t([BOXES[1]]))
    assert torch.equal(segmentation[segmentation.boxes.conf < 0.8].masks.data, masks()[1:])


def test_keypoints_views_and_indexing(pose: PoseResult) -> None:
    k = pose.keypoints
    assert isinstance(k, Keypoints) and len(k) == 3 and k.shape == (3, 2, 3) and torch.equal(k.data, t(KEYPOINTS))
    assert torch.equal(k.xy, t([[p[:2] for p in pose_] for pose_ in KEYPOINTS]))
    assert torch.equal(k.xyn, t([[[0.15, 0.2], [0.25, 0.4]], [[0.6, 0.5], [0.8, 0.8]], [[0.01, 0.04], [0.04, 0.16]]]))
    assert torch.equal(k.conf, t([[0.9, 0.2], [1.0, 0.6], [0.3, 0.7]]))
    np.testing.assert_array_equal(k.numpy().xyn, k.xyn.numpy())
    part = pose[1:]
    assert len(part) == 2 and torch.equal(part.keypoints.data, t(KEYPOINTS[1:])) and part.skeleton == [[0, 1]]


def test_probs_views(classification: ClassifyResult) -> None:
    p = classification.probs
    assert isinstance(p, Probs) and len(p) == 6 and torch.equal(p.data, t([0.05, 0.4, 0.1, 0.2, 0.15, 0.1]))
    assert p.top1 == 1 and p.top5 == [1, 3, 4, 2, 5]  # equal probabilities: the lower class id first
    assert torch.equal(p.top1conf, torch.tensor(0.4)) and torch.equal(p.top5conf, t([0.4, 0.2, 0.15, 0.1, 0.1]))
    assert p.numpy().top5 == [1, 3, 4, 2, 5] and p.numpy().top1 == 1
    r = classification
    assert (r.path, r.frame, r.orig_shape, r.speed, len(r)) == ("src/c.png", 3, (H, W), SPEED, 5)
    assert r.names[p.top1] == "b"


def test_to_json(detection: DetectResult, segmentation: SegmentResult, pose: PoseResult,
                 classification: ClassifyResult) -> None:
    boxes = [{"name": "star", "class": 1, "confidence": 0.9, "box": {"x1": 20.0, "y1": 10.0, "x2": 60.0, "y2": 50.0}},
             {"name": "circle", "class": 0, "confidence": 0.75,
              "box": {"x1": 100.0, "y1": 40.0, "x2": 180.0, "y2": 90.0}},
             {"name": "star", "class": 1, "confidence": 0.5, "box": {"x1": 0.0, "y1": 0.0, "x2": 10.0, "y2": 20.0}}]
    assert json.loads(detection.to_json()) == boxes
    assert json.loads(detection.to_json(normalize=True))[1]["box"] == {"x1": 0.5, "y1": 0.4, "x2": 0.9, "y2": 0.9}
    rows = json.loads(segmentation.to_json())
    assert rows[0]["segments"] == {"x": [20.125, 20.125, 59.875, 59.875], "y": [10.125, 49.875, 49.875, 10.125]}
    assert rows[2]["segments"] == {"x": [], "y": []} and [{k: v for k, v in row.items() if k != "segments"}
                                                          for row in rows] == boxes
    assert json.loads(segmentation.to_json(True, 4))[0]["segments"]["x"] == [0.1006, 0.1006, 0.2994, 0.2994]
    rows = json.loads(pose.to_json())
    assert rows[1]["keypoints"] == {"x": [120.0, 160.0], "y": [50.0, 80.0], "visible": [1.0, 0.6]}
    assert json.loads(pose.to_json(normalize=True, decimals=2))[1]["keypoints"]["x"] == [0.6, 0.8]
    assert json.loads(classification.to_json()) == [
        {"name": "b", "class": 1, "confidence": 0.4}, {"name": "d", "class": 3, "confidence": 0.2},
        {"name": "e", "class": 4, "confidence": 0.15}, {"name": "c", "class": 2, "confidence": 0.1},
        {"name": "f", "class": 5, "confidence": 0.1}]


def test_save_writes_the_plot(tmp_path: Path, segmentation: SegmentResult, pose: PoseResult,
                              classification: ClassifyResult) -> None:
    for r in (segmentation, pose, classification):
        out = r.save(tmp_path / "sub" / f"{type(r).__name__}.png")
        np.testing.assert_array_equal(cv2.imread(str(out)), r.plot())
        assert (r.plot() != r.orig_img).any()
    with pytest.raises(FocalYoloError, match="cannot write"):
        segmentation.save(tmp_path / "out.unknown")


def test_deprecated_fields_work_and_warn_once(fresh_warnings: None, detection: DetectResult,
                                              segmentation: SegmentResult, pose: PoseResult,
                                              classification: ClassifyResult) -> None:
    uses = {
        "result.scores": lambda: detection.scores,
        "result.classes": lambda: detection.classes,
        "result.boxes[...] on two axes": lambda: detection.boxes[:, :4],
        "result.boxes.round": lambda: detection.boxes.round(),
        "np.asarray(result.boxes)": lambda: np.asarray(detection.boxes.numpy()),
        "result.polygons()": lambda: segmentation.polygons(),
        "result.masks.dtype": lambda: segmentation.masks.dtype,
        "result.keypoints[...] on two axes": lambda: pose.keypoints[..., 0],
        "result.probs[...]": lambda: classification.probs[1],
        "result.probs.sum": lambda: classification.probs.sum(),
        "result.top1": lambda: classification.top1,
        "result.top5": lambda: classification.top5,
    }
    values = {}
    for old, use in uses.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values[old] = use()
            use()
        assert [str(w.message).split(" is deprecated")[0] for w in caught] == [old], old
        assert caught[0].category is FutureWarning and Path(caught[0].filename) == Path(__file__)
    assert torch.equal(values["result.scores"], t(SCORES))
    assert values["result.classes"].dtype == torch.int64 and values["result.classes"].tolist() == CLASSES
    assert torch.equal(values["result.boxes[...] on two axes"], t(BOXES))
    assert torch.equal(values["result.boxes.round"], t(BOXES))
    np.testing.assert_array_equal(values["np.asarray(result.boxes)"], BOXES)
    np.testing.assert_array_equal(values["result.polygons()"][0], segmentation.masks.xy[0])
    assert values["result.masks.dtype"] == torch.bool
    assert torch.equal(values["result.keypoints[...] on two axes"], t([[30, 50], [120, 160], [2, 8]]))
    assert torch.equal(values["result.probs[...]"], torch.tensor(0.4))
    assert torch.equal(values["result.probs.sum"], classification.probs.data.sum())
    assert values["result.top1"] == 1 and values["result.top5"] == [1, 3, 4, 2, 5]
    with pytest.raises(AttributeError):
        detection.boxes.no_such_thing


def label_height(side: int) -> tuple[int, int]:
    """(label box height, rows of white label text) of one detection drawn on a black ``side`` x ``side`` image."""
    y1 = side * 3 // 8
    r = DetectResult("a.jpg", None, (side, side), t([[side // 4, y1, side * 3 // 4, side * 7 // 8]]), t([0.87]),
               torch.tensor([0]), ["polygon"], image(side, side))
    drawn = r.plot()
    label_rows = np.nonzero((drawn[:y1] == class_colour(0)).all(-1).any(1))[0]  # the label sits above the box
    text_rows = (drawn[label_rows.min():y1] > 200).all(-1).any(1).sum()
    return y1 - label_rows.min(), text_rows


def test_label_size_follows_the_image() -> None:
    small, _ = label_height(160)
    assert small <= 16, f"a label {small} px high on a 160 px image"
    large, text = label_height(1280)
    assert text >= 12 and large <= 0.05 * 1280


def test_keypoints_follow_the_image() -> None:
    def drawn_sizes(side: int) -> tuple[int, int]:
        """(keypoint disc diameter, skeleton line width) in pixels of one pose drawn on a black image."""
        points = t([[[side * 0.25, side * 0.5, 1.0], [side * 0.75, side * 0.5, 1.0]]])
        r = PoseResult("p.jpg", None, (side, side), t([[0, 0, 1, 1]]), t([0.9]), torch.tensor([3]), ["x"],
                       image(side, side), keypoints=points, skeleton=[[0, 1]])
        lit = r.plot()[side // 4:].any(-1)  # below the box's label
        return int(lit[:, side // 4].sum()), int(lit[:, side // 2].sum())

    (small_disc, small_line), (large_disc, large_line) = drawn_sizes(160), drawn_sizes(1280)
    assert small_disc <= 8 and large_disc >= 2.5 * small_disc and large_line > small_line
