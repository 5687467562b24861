"""The oriented-box heads DOBB / DualDOBB: output layouts, the angle encoding, decoding in the box's rotated frame,
and the PGI head's conversion to the single-branch one (models built from the detection configs with the head
swapped, which needs no registered "obb" task)."""

from __future__ import annotations

import math

import pytest
import torch

from focalyolo import build_model
from focalyolo.models import load_model_config
from focalyolo.models.summary import count_parameters
from focalyolo.nn import DOBB, DualDOBB
from focalyolo.utils.rotated_anchors import decode_angle, dist2rbox, rbox2dist
from focalyolo.weights.convert import convert_to_gelan


def _obb_model(detection: str, head: str, nc: int = 3):
    cfg, _ = load_model_config(detection)
    cfg["head"][-1][2] = head
    return build_model(cfg, nc=nc)


def test_angle_encoding_covers_the_canonical_range_with_margin():
    angles = decode_angle(torch.tensor([-30.0, 0.0, 30.0]))
    assert angles[0] == pytest.approx(-math.pi / 4, abs=1e-6) and angles[2] == pytest.approx(3 * math.pi / 4, abs=1e-6)
    assert angles[1] == pytest.approx(math.pi / 4)


def test_distances_are_measured_in_the_rotated_frame():
    # anchor at the origin, l=1, t=1, r=3, b=1: centre offset (1, 0) in the box frame, a quarter turn sends it to (0, 1)
    box = dist2rbox(torch.tensor([1.0, 1.0, 3.0, 1.0]), torch.tensor([math.pi / 2]), torch.zeros(2))
    assert torch.allclose(box, torch.tensor([0.0, 1.0, 4.0, 2.0]), atol=1e-6)
    boxes = torch.tensor([[5.0, 6.0, 8.0, 3.0, 0.3], [5.0, 6.0, 8.0, 3.0, 1.4], [4.0, 7.0, 2.0, 9.0, -0.5]])
    anchors = torch.tensor([[6.0, 5.5], [4.5, 6.0], [4.2, 7.3]])
    distances = rbox2dist(anchors, boxes, 16)
    assert torch.allclose(dist2rbox(distances, boxes[:, 4:], anchors), boxes[:, :4], atol=1e-5)


def test_single_head_outputs_and_decoding():
    model = _obb_model("gelan-t", "DOBB")
    head = model.head
    assert isinstance(head, DOBB) and head.task == "obb" and not head.is_dual
    detector = build_model("gelan-t", nc=3)
    assert count_parameters(model) - count_parameters(detector) == count_parameters(head.cv4)
    x = torch.rand(2, 3, 64, 96)
    anchors = 8 * 12 + 4 * 6 + 2 * 3
    model.train()
    maps, angles = model(x)
    assert [m.shape for m in maps] == [(2, 64 + 3, 8, 12), (2, 64 + 3, 4, 6), (2, 64 + 3, 2, 3)]
    assert angles.shape == (2, 1, anchors)
    model.eval()
    with torch.no_grad():
        predictions = model(x)
    assert predictions.shape == (2, 4 + 3 + 1, anchors)
    assert predictions[:, -1].min() > -math.pi / 4 and predictions[:, -1].max() < 3 * math.pi / 4
    scores = predictions[:, 4:7]
    assert scores.min() >= 0 and scores.max() <= 1


def test_decode_turns_the_box_about_its_anchor():
    head = DOBB(nc=2, ch=(8,))
    head.stride = torch.tensor([8.0])
    maps = torch.full((1, 4 * 16 + 2, 1, 2), -50.0)
    for side, distance in enumerate((1, 2, 3, 4)):  # l, t, r, b in bins, one-hot bin logits
        maps[0, side * 16 + distance] = 50.0
    angle_logits = torch.tensor([[[0.0, math.log(3.0)]]])  # angle pi/4, then (0.75 - 0.25) * pi = pi/2
    out = head.decode(([maps], angle_logits))
    assert out.shape == (1, 4 + 2 + 1, 2)
    assert torch.allclose(out[0, -1], torch.tensor([math.pi / 4, math.pi / 2]), atol=1e-5)
    # offset in the box frame ((r - l) / 2, (b - t) / 2) = (1, 1); w = 4, h = 6; anchors at (0.5, 0.5), (1.5, 0.5)
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    first = torch.tensor([0.5 + c - s, 0.5 + s + c, 4.0, 6.0]) * 8
    second = torch.tensor([1.5 - 1.0, 0.5 + 1.0, 4.0, 6.0]) * 8
    assert torch.allclose(out[0, :4].T, torch.stack((first, second)), atol=1e-4)


def test_dual_head_conversion_keeps_the_main_branch():
    model = _obb_model("yolov9-t", "DualDOBB")
    assert isinstance(model.head, DualDOBB) and model.head.is_dual and model.head.task == "obb"
    x = torch.rand(2, 3, 64, 64)
    model.train()
    maps, angles = model(x)
    assert len(maps) == 2 and [a.shape for a in angles] == [(2, 1, 84)] * 2
    model.eval()
    with torch.no_grad():
        predictions = model(x)
        raw = model.head.forward_raw(model._head_input(x))
        gelan = convert_to_gelan(model)
        converted = gelan(x)
    assert isinstance(gelan.head, DOBB) and not gelan.is_dual
    assert torch.equal(predictions, model.head.decode(model.head.main_raw(raw)))
    assert torch.allclose(predictions, converted, atol=1e-4)
