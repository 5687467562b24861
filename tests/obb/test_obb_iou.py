"""Rotated IoU: the exact polygon IoU against shapely, and ProbIoU's properties and closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from shapely.geometry import Polygon

from focalyolo.utils.rotated import xywhr_to_corners
from focalyolo.utils.rotated_iou import probiou, probiou_matrix, rotated_iou, rotated_iou_matrix


def _polygons(boxes: np.ndarray) -> list[Polygon]:
    return [Polygon(corners) for corners in xywhr_to_corners(boxes)]


def _shapely_iou(p: Polygon, q: Polygon) -> float:
    inter = p.intersection(q).area
    return inter / (p.area + q.area - inter)


def _shift(boxes: np.ndarray, along: np.ndarray, across: np.ndarray) -> np.ndarray:
    """The boxes moved by ``along`` their w direction and ``across`` it (their h direction)."""
    cos, sin = np.cos(boxes[:, 4]), np.sin(boxes[:, 4])
    moved = boxes.copy()
    moved[:, 0] += along * cos - across * sin
    moved[:, 1] += along * sin + across * cos
    return moved


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    """500 pairs of (5,) xywhr boxes: general overlaps of many sizes, identical, disjoint, nested, touching, boxes
    sharing side lines, and integer axis-aligned boxes."""
    rng = np.random.default_rng(0)

    def boxes(n: int) -> np.ndarray:
        sides = np.exp(rng.uniform(math.log(0.5), math.log(300), (n, 1)) + rng.uniform(-1.5, 1.5, (n, 2)))
        return np.concatenate((rng.uniform(0, 800, (n, 2)), sides, rng.uniform(-4, 4, (n, 1))), axis=1)

    first, second = [], []
    general = boxes(260)  # partners of similar size near enough to overlap often
    partner = boxes(260)
    partner[:, 2:4] = general[:, 2:4] * np.exp(rng.normal(0, 0.4, (260, 2)))
    partner[:160, 4] = general[:160, 4] + rng.normal(0, 0.3, 160)  # alike, as a detection and its label
    partner[:, :2] = general[:, :2] + rng.normal(0, 0.2, (260, 2)) * general[:, 2:4].min(1, keepdims=True)
    first += [general]
    second += [partner]
    same = boxes(40)
    rewritten = same.copy()  # the same rectangle, another row: w and h swapped with a quarter turn
    rewritten[20:, 2:4] = same[20:, 3:1:-1]
    rewritten[20:, 4] += math.pi / 2
    first += [same]
    second += [rewritten]
    far = boxes(40)
    away = boxes(40)
    away[:, :2] = far[:, :2] + 1000
    first += [far]
    second += [away]
    outer = boxes(40)
    inner = boxes(40)
    inner[:, 2:4] = outer[:, 2:4].min(1, keepdims=True) * rng.uniform(0.05, 0.35, (40, 2))
    inner[:, :2] = outer[:, :2] + rng.uniform(-0.1, 0.1, (40, 2)) * outer[:, 2:4].min(1, keepdims=True)
    first += [outer, inner[:20]]
    second += [inner, outer[:20]]
    touching = boxes(40)  # a shared side, a partly shared side, a shared corner
    other = touching.copy()
    other[:, 3] = rng.uniform(0.5, 300, 40)
    along = (touching[:, 2] + other[:, 2]) / 2
    across = np.where(np.arange(40) % 2, (touching[:, 3] + other[:, 3]) / 2, 0.0)
    first += [touching]
    second += [_shift(other, along, across)]
    collinear = boxes(20)  # same height and angle, moved along w: top and bottom sides on the same lines
    first += [collinear]
    second += [_shift(collinear, collinear[:, 2] * rng.uniform(-0.9, 0.9, 20), np.zeros(20))]
    grid = np.concatenate((rng.integers(0, 40, (40, 2)), rng.integers(1, 30, (40, 2)), np.zeros((40, 1))), axis=1)
    grid2 = np.concatenate((rng.integers(0, 40, (40, 2)), rng.integers(1, 30, (40, 2)), np.zeros((40, 1))), axis=1)
    first += [grid.astype(float)]
    second += [grid2.astype(float)]
    pairs = np.concatenate(first), np.concatenate(second)
    assert len(pairs[0]) == 500
    return pairs


PAIRS = _pairs()
REFERENCE = np.array([_shapely_iou(p, q) for p, q in zip(*map(_polygons, PAIRS))])


def test_pairs_cover_every_kind_of_overlap() -> None:
    partial = (REFERENCE > 0.001) & (REFERENCE < 0.999)
    assert (REFERENCE == 0).sum() > 60 and (REFERENCE > 0.999).sum() >= 40 and partial.sum() > 250


def test_exact_iou_matches_shapely() -> None:
    first, second = (torch.from_numpy(b) for b in PAIRS)
    assert np.abs(rotated_iou(first, second).numpy() - REFERENCE).max() < 1e-5
    assert np.abs(rotated_iou(first, second, chunk=7).numpy() - REFERENCE).max() < 1e-5
    # float32 holds a centre near 800 to about 3e-5 px: boxes of a few pixels are exact to that
    sizable = (PAIRS[0][:, 2:4].min(1) >= 4) & (PAIRS[1][:, 2:4].min(1) >= 4)
    single = rotated_iou(first.float(), second.float()).numpy()
    assert sizable.sum() > 200 and np.abs(single - REFERENCE)[sizable].max() < 2e-5


def test_exact_iou_matrix_matches_shapely() -> None:
    first, second = PAIRS[0][:60], PAIRS[1][:60]
    reference = np.array([[_shapely_iou(p, q) for q in _polygons(second)] for p in _polygons(first)])
    matrix = rotated_iou_matrix(torch.from_numpy(first), torch.from_numpy(second))
    assert matrix.shape == (60, 60) and np.abs(matrix.numpy() - reference).max() < 1e-5
    assert (reference > 0).sum() > 60 + 20  # off-diagonal overlaps too
    candidates = torch.eye(60, dtype=torch.bool)
    narrowed = rotated_iou_matrix(torch.from_numpy(first), torch.from_numpy(second), candidates=candidates)
    assert torch.equal(narrowed, torch.diag(matrix.diagonal()))


def test_zero_area_and_empty() -> None:
    boxes = torch.tensor([[10.0, 10.0, 0.0, 5.0, 0.3], [10.0, 10.0, 4.0, 5.0, 0.3]])
    assert rotated_iou_matrix(boxes, boxes).tolist() == [[0.0, 0.0], [0.0, 1.0]]
    assert rotated_iou(boxes, boxes).tolist() == [0.0, 1.0]
    assert rotated_iou_matrix(boxes[:0], boxes).shape == (0, 2)


def _random_torch(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat((torch.rand(n, 2, generator=g) * 100, torch.rand(n, 2, generator=g) * 40 + 1,
                      torch.rand(n, 1, generator=g) * 6 - 3), dim=1).double()


def test_probiou_identical_boxes_is_one_in_every_writing() -> None:
    boxes = _random_torch(50, 0)
    assert torch.allclose(probiou(boxes, boxes), torch.ones(50, dtype=boxes.dtype), atol=1e-12)
    swapped = torch.cat((boxes[:, :2], boxes[:, 3:4], boxes[:, 2:3], boxes[:, 4:] + math.pi / 2), dim=1)
    turned = torch.cat((boxes[:, :4], boxes[:, 4:] - math.pi), dim=1)
    assert torch.allclose(probiou(boxes, swapped), torch.ones(50, dtype=boxes.dtype), atol=1e-6)
    assert torch.allclose(probiou(boxes, turned), torch.ones(50, dtype=boxes.dtype), atol=1e-6)


def test_probiou_is_symmetric_bounded_and_matrix_matches_pairs() -> None:
    a, b = _random_torch(200, 1), _random_torch(200, 2)
    forward, backward = probiou(a, b), probiou(b, a)
    assert torch.allclose(forward, backward, atol=1e-12)
    assert ((forward >= 0) & (forward <= 1)).all()
    matrix = probiou_matrix(a[:30], b[:40])
    assert matrix.shape == (30, 40)
    assert torch.allclose(matrix, probiou(a[:30, None].expand(30, 40, 5), b[None, :40].expand(30, 40, 5)))


def test_probiou_decreases_with_distance() -> None:
    box = torch.tensor([[50.0, 50.0, 30.0, 10.0, 0.7]], dtype=torch.float64)
    for direction in (0.0, 1.0, 2.5):
        steps = torch.linspace(0, 40, 41, dtype=torch.float64)[:, None]
        moved = box + steps * torch.tensor([[math.cos(direction), math.sin(direction), 0, 0, 0]], dtype=torch.float64)
        values = probiou(box, moved)
        assert values[0] == 1 and (values.diff() < 0).all() and values[-1] < 0.01


def test_probiou_axis_aligned_closed_form() -> None:
    """Axis-aligned boxes have diagonal covariances ``diag(w^2, h^2) / 12``, so that

    B = ((dx)^2 / sx + (dy)^2 / sy) / 8 + ln(sx sy / sqrt((w1^2 h1^2 / 144) (w2^2 h2^2 / 144))) / 2,
    sx = (w1^2 + w2^2) / 24, sy = (h1^2 + h2^2) / 24, and ProbIoU = 1 - sqrt(1 - exp(-B)).
    """
    (x1, y1, w1, h1), (x2, y2, w2, h2) = (10.0, 20.0, 8.0, 4.0), (13.0, 19.0, 6.0, 5.0)
    sx, sy = (w1**2 + w2**2) / 24, (h1**2 + h2**2) / 24
    b = ((x1 - x2) ** 2 / sx + (y1 - y2) ** 2 / sy) / 8 + math.log(sx * sy / math.sqrt(
        (w1**2 * h1**2 / 144) * (w2**2 * h2**2 / 144))) / 2
    expected = 1 - math.sqrt(1 - math.exp(-b))
    boxes1 = torch.tensor([[x1, y1, w1, h1, 0.0]], dtype=torch.float64)
    boxes2 = torch.tensor([[x2, y2, w2, h2, 0.0]], dtype=torch.float64)
    assert probiou(boxes1, boxes2).item() == pytest.approx(expected, abs=1e-4)
    # a quarter turn with w and h swapped is the same box, so the same value
    boxes2_turned = torch.tensor([[x2, y2, h2, w2, math.pi / 2]], dtype=torch.float64)
    assert probiou(boxes1, boxes2_turned).item() == pytest.approx(expected, abs=1e-4)
    assert probiou(boxes1.float(), boxes2.float()).item() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_probiou_gradients_are_finite(dtype: torch.dtype) -> None:
    a = _random_torch(100, 3).to(dtype)
    b = _random_torch(100, 4).to(dtype)
    b[:10] = a[:10]  # identical pairs
    b[10:15, 2] = 0.0  # zero width
    b[15:20, :2] = a[15:20, :2] + 1e4  # very far apart
    a.requires_grad_(True)
    b.requires_grad_(True)
    (1 - probiou(a, b)).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    assert a.grad[20:].abs().sum() > 0
