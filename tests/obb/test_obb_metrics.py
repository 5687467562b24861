"""Rotated mAP (OBBMetrics): an oracle gets the top score, a quarter turn of everything changes nothing, and a
hand-built case gives its known AP.

The top score is 0.995, not 1, as for axis-aligned boxes (``tests/metrics/test_metrics_detection.py``): the
101-point trapezoid integral of :mod:`focalyolo.metrics.ap` reads the envelope as 0 at recall 1 (the sentinel
point), so a perfect class loses the last half interval."""

from __future__ import annotations

import math

import pytest
import torch

from focalyolo.metrics.obb import OBBMetrics
from focalyolo.utils.rotated import rotated_box_affine

SIZE = 320.0


def _scene(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n ground-truth rows (cx, cy, w, h, angle) inside a SIZE x SIZE image, and their classes (3)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n, 2, generator=g) * (SIZE - 80) + 40
    sides = torch.rand(n, 2, generator=g) * 40 + 8
    angles = torch.rand(n, 1, generator=g) * math.pi / 2
    return torch.cat((centres, sides, angles), 1), torch.randint(0, 3, (n,), generator=g)


def _noisy(gt: torch.Tensor, cls: torch.Tensor, seed: int) -> torch.Tensor:
    """(n, 7) detections near the ground truth: moved, resized and turned a little, plus a few strays."""
    g = torch.Generator().manual_seed(seed)
    boxes = gt.clone()
    boxes[:, :2] += torch.randn(len(gt), 2, generator=g) * 3
    boxes[:, 2:4] *= 1 + torch.randn(len(gt), 2, generator=g) * 0.1
    boxes[:, 4] += torch.randn(len(gt), generator=g) * 0.15
    strays, stray_cls = _scene(seed + 1000, 3)
    boxes = torch.cat((boxes, strays))
    scores = torch.rand(len(boxes), generator=g)
    return torch.cat((boxes, scores[:, None], torch.cat((cls, stray_cls)).float()[:, None]), 1)


def _score(images: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> OBBMetrics:
    metrics = OBBMetrics(nc=3)
    for pred, gt, cls in images:
        metrics.update(pred, gt, cls)
    return metrics


PERFECT = 0.995


def test_an_oracle_gets_the_top_score_whatever_row_it_writes_a_box_in():
    images = []
    for seed in range(3):
        gt, cls = _scene(seed, 12)
        same = gt.clone()
        same[::2, 4] += math.pi / 2  # an equivalent row: a quarter turn more with w and h swapped
        same[::2, 2:4] = gt[::2, 2:4].flip(1)
        pred = torch.cat((same, 0.5 + torch.rand(len(gt), 1) / 2, cls.float()[:, None]), 1)  # above the matrix's 0.25
        images.append((pred, gt, cls))
    metrics = _score(images)
    assert metrics.map50 == pytest.approx(PERFECT) and metrics.map == pytest.approx(PERFECT)
    assert metrics.precision == pytest.approx(1.0) and metrics.recall == pytest.approx(1.0)
    assert metrics.confusion.matrix.trace() == 36


def test_a_quarter_turn_of_image_labels_and_predictions_keeps_the_map():
    quarter = torch.tensor([[0.0, -1.0, SIZE], [1.0, 0.0, 0.0]])  # (x, y) -> (SIZE - y, x)
    images, turned = [], []
    for seed in range(4):
        gt, cls = _scene(seed, 10)
        pred = _noisy(gt, cls, seed)
        images.append((pred, gt, cls))
        turned_pred = torch.cat((rotated_box_affine(pred[:, :5], quarter), pred[:, 5:]), 1)
        turned.append((turned_pred, rotated_box_affine(gt, quarter), cls))
    before, after = _score(images), _score(turned)
    assert 0.2 < before.map < before.map50 < 1
    assert after.map50 == pytest.approx(before.map50, abs=1e-9) and after.map == pytest.approx(before.map, abs=1e-9)


def test_a_hand_built_case_has_its_known_ap():
    angle = 0.6
    axis = torch.tensor([math.cos(angle), math.sin(angle)])
    # class 0: one box, found by a copy moved 7 px along its 43 px side: IoU 36 / 50 = 0.72, a hit up to 0.70 only
    # (AP PERFECT at the five thresholds 0.50 ... 0.70, 0 above)
    gt0 = torch.tensor([[100.0, 120.0, 43.0, 20.0, angle]])
    moved = gt0.clone()
    moved[0, :2] += 7 * axis
    # class 1: two boxes, one found exactly: recall 1/2 at precision 1, AP 0.75 (the envelope falls linearly to 0)
    gt1 = torch.tensor([[200.0, 200.0, 30.0, 30.0, 0.2], [60.0, 250.0, 25.0, 12.0, 1.1]])
    pred = torch.cat((torch.cat((moved, gt1[:1])), torch.tensor([[0.9, 0.0], [0.8, 1.0]])), 1)
    metrics = _score([(pred, torch.cat((gt0, gt1)), torch.tensor([0, 1, 1]))])
    ap = metrics.compute().ap
    assert ap[0].tolist() == pytest.approx([PERFECT] * 5 + [0.0] * 5)
    assert ap[1].tolist() == pytest.approx([0.75] * 10)
    assert metrics.map50 == pytest.approx((PERFECT + 0.75) / 2)
    assert metrics.map == pytest.approx((PERFECT / 2 + 0.75) / 2)
