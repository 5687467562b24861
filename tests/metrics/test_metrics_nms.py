"""non_max_suppression, scale_boxes and clip_boxes."""

from __future__ import annotations

import pytest
import torch

from focalyolo.utils.nms import clip_boxes, non_max_suppression, scale_boxes


def _head_output(boxes_xywh: list[list[float]], scores: list[list[float]]) -> torch.Tensor:
    """One image's anchors -> (1, 4 + nc, A) as the eval head returns it."""
    return torch.cat((torch.tensor(boxes_xywh), torch.tensor(scores)), 1).T[None]


# Anchors 0 and 1 overlap (IoU 0.82), anchor 2 is elsewhere.
BOXES = [[50.0, 50.0, 40.0, 40.0], [52.0, 52.0, 40.0, 40.0], [200.0, 200.0, 30.0, 30.0]]


def test_rows_are_xyxy_score_class_best_first() -> None:
    out = non_max_suppression(_head_output(BOXES[2:], [[0.1, 0.9, 0.2]]))
    assert len(out) == 1 and out[0].tolist() == [pytest.approx([185.0, 185.0, 215.0, 215.0, 0.9, 1.0])]


def test_suppresses_overlapping_same_class() -> None:
    (out,) = non_max_suppression(_head_output(BOXES, [[0.9, 0.0], [0.8, 0.0], [0.7, 0.0]]))
    assert out[:, 4].tolist() == pytest.approx([0.9, 0.7])
    (out,) = non_max_suppression(_head_output(BOXES, [[0.9, 0.0], [0.8, 0.0], [0.7, 0.0]]), iou=0.9)
    assert out[:, 4].tolist() == pytest.approx([0.9, 0.8, 0.7])


def test_keeps_different_classes_unless_agnostic() -> None:
    pred = _head_output(BOXES[:2], [[0.9, 0.0], [0.0, 0.8]])
    (out,) = non_max_suppression(pred)
    assert out[:, 5].tolist() == [0.0, 1.0]
    (out,) = non_max_suppression(pred, agnostic=True)
    assert out[:, 5].tolist() == [0.0]


def test_conf_threshold_max_det_and_classes() -> None:
    pred = _head_output(BOXES, [[0.9, 0.0], [0.0, 0.3], [0.0, 0.2]])
    assert non_max_suppression(pred, conf=0.25)[0][:, 4].tolist() == pytest.approx([0.9, 0.3])
    assert non_max_suppression(pred, conf=0.1, max_det=1)[0][:, 4].tolist() == pytest.approx([0.9])
    assert non_max_suppression(pred, conf=0.1, classes=[1])[0][:, 5].tolist() == [1.0, 1.0]
    assert non_max_suppression(pred, conf=0.1, max_nms=2)[0][:, 4].tolist() == pytest.approx([0.9, 0.3])


def test_multi_label_keeps_every_class_above_conf() -> None:
    pred = _head_output(BOXES[2:], [[0.6, 0.5, 0.1]])
    assert non_max_suppression(pred, conf=0.3)[0][:, 5].tolist() == [0.0]
    out = non_max_suppression(pred, conf=0.3, multi_label=True)[0]
    assert out[:, 5].tolist() == [0.0, 1.0] and out[:, 4].tolist() == pytest.approx([0.6, 0.5])


def test_batch_of_random_predictions() -> None:
    gen = torch.Generator().manual_seed(0)
    xywh = torch.cat((torch.rand(3, 2, 500, generator=gen) * 600, torch.rand(3, 2, 500, generator=gen) * 80 + 5), 1)
    pred = torch.cat((xywh, torch.rand(3, 80, 500, generator=gen)), 1)
    out = non_max_suppression(pred, conf=0.001, multi_label=True, max_det=300)
    assert len(out) == 3 and all(o.shape == (300, 6) for o in out)
    assert all((o[1:, 4] <= o[:-1, 4]).all() for o in out)
    empty = non_max_suppression(pred, conf=1.0)
    assert all(o.shape == (0, 6) for o in empty)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        non_max_suppression(torch.zeros(1, 6, 3), conf=1.5)
    with pytest.raises(ValueError):
        non_max_suppression(torch.zeros(6, 3))


def _letterbox_boxes(boxes: torch.Tensor, gain: float, pad: tuple[float, float]) -> torch.Tensor:
    """Original-image xyxy -> letterboxed-input xyxy (resize by ``gain``, shift by (pad_w, pad_h))."""
    return boxes * gain + torch.tensor([pad[0], pad[1], pad[0], pad[1]])


def test_scale_boxes_round_trips_a_letterbox() -> None:
    h0, w0, size = 480, 810, 640
    gain = min(size / h0, size / w0)
    pad = ((size - w0 * gain) / 2, (size - h0 * gain) / 2)
    boxes = torch.tensor([[10.0, 20.0, 300.0, 400.0], [700.0, 0.0, 810.0, 480.0]])
    letterboxed = _letterbox_boxes(boxes, gain, pad)
    torch.testing.assert_close(scale_boxes((size, size), letterboxed.clone(), (h0, w0)), boxes)
    odd_pad = (3.0, 7.0)  # e.g. a rect batch with top-left padding rounded
    ratio_pad = ((gain, gain), odd_pad)
    back = scale_boxes((size, size), _letterbox_boxes(boxes, gain, odd_pad), (h0, w0), ratio_pad)
    torch.testing.assert_close(back, boxes)


def test_clip_boxes() -> None:
    boxes = torch.tensor([[-5.0, -1.0, 700.0, 300.0]])
    assert clip_boxes(boxes, (240, 640)).tolist() == [[0.0, 0.0, 640.0, 240.0]]
