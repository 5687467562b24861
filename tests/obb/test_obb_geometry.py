"""Rotated-box conversions: canonical form, corners, least-area rectangles, affine maps and flips."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from focalyolo.utils.rotated import (
    canonical_xywhr,
    corners_to_xywhr,
    flip_xywhr_lr,
    flip_xywhr_ud,
    rotated_box_affine,
    xywhr_to_corners,
)


def _random_boxes(rng: np.random.Generator, n: int, angle_range: float = math.pi / 2) -> np.ndarray:
    """(n, 5) xywhr: centres in a 640 image, sides 1..200 px, angles in [0, angle_range)."""
    centres, sides = rng.uniform(0, 640, (n, 2)), rng.uniform(1, 200, (n, 2))
    angles = rng.uniform(0, angle_range, (n, 1))
    return np.concatenate((centres, sides, angles), axis=1)


def _shoelace(corners: np.ndarray) -> np.ndarray:
    x, y = corners[..., 0], corners[..., 1]
    return (x * np.roll(y, -1, -1) - np.roll(x, -1, -1) * y).sum(-1) / 2


def test_canonical_angle_range_and_same_rectangle() -> None:
    boxes = _random_boxes(np.random.default_rng(0), 300, angle_range=20.0)
    boxes[:, 4] -= 10.0  # angles in [-10, 10)
    canonical = canonical_xywhr(boxes)
    assert ((canonical[:, 4] >= 0) & (canonical[:, 4] < math.pi / 2)).all()
    assert np.allclose(np.sort(canonical[:, 2:4], 1), np.sort(boxes[:, 2:4], 1))
    # the same rectangle: the same corner set (the order may start at another corner)
    before, after = xywhr_to_corners(boxes), xywhr_to_corners(canonical)
    distance = np.linalg.norm(before[:, :, None] - after[:, None], axis=-1).min(-1)
    assert distance.max() < 1e-9


def test_canonical_form_is_unique() -> None:
    """A rectangle written four ways (w/h swapped with angle +- pi/2, angle +- pi) has one canonical row."""
    base = _random_boxes(np.random.default_rng(1), 200)
    cx, cy, w, h, a = base.T
    ways = [
        base,
        np.stack((cx, cy, h, w, a + math.pi / 2), 1),
        np.stack((cx, cy, h, w, a - math.pi / 2), 1),
        np.stack((cx, cy, w, h, a + math.pi), 1),
        np.stack((cx, cy, w, h, a - math.pi), 1),
        np.stack((cx, cy, h, w, a - 3 * math.pi / 2), 1),
    ]
    expected = canonical_xywhr(base)
    assert np.allclose(expected, base)  # angles already in [0, pi/2)
    for way in ways:
        assert np.allclose(canonical_xywhr(way), expected, atol=1e-9)
    square = np.array([[10.0, 20.0, 5.0, 5.0, 0.3]])
    for turn in range(-4, 5):
        assert np.allclose(canonical_xywhr(square + [0, 0, 0, 0, turn * math.pi / 2]), square)


def test_canonical_lands_in_range_at_the_quarter_turn() -> None:
    """Rounding can bring an angle to pi/2 itself; it becomes 0 with w and h swapped."""
    boxes = torch.tensor([[0.0, 0.0, 3.0, 1.0, -1e-20], [0.0, 0.0, 3.0, 1.0, math.pi / 2]], dtype=torch.float32)
    canonical = canonical_xywhr(boxes)
    assert ((canonical[:, 4] >= 0) & (canonical[:, 4] < math.pi / 2)).all()
    assert canonical[1].tolist() == pytest.approx([0.0, 0.0, 1.0, 3.0, 0.0], abs=1e-6)


def test_corner_order() -> None:
    """Angle 0: top-left, top-right, bottom-right, bottom-left (positive shoelace area); w along the angle."""
    corners = xywhr_to_corners(np.array([[10.0, 20.0, 8.0, 4.0, 0.0]]))
    assert corners[0].tolist() == [[6.0, 18.0], [14.0, 18.0], [14.0, 22.0], [6.0, 22.0]]
    boxes = _random_boxes(np.random.default_rng(2), 100)
    corners = xywhr_to_corners(boxes)
    assert np.allclose(_shoelace(corners), boxes[:, 2] * boxes[:, 3])
    side = corners[:, 1] - corners[:, 0]
    assert np.allclose(np.arctan2(side[:, 1], side[:, 0]), boxes[:, 4])
    assert np.allclose(np.linalg.norm(side, axis=1), boxes[:, 2])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_corners_xywhr(dtype: type) -> None:
    boxes = _random_boxes(np.random.default_rng(3), 500).astype(dtype)
    tol = 1e-9 if dtype == np.float64 else 2e-3
    corners = xywhr_to_corners(boxes)
    assert corners.shape == (500, 4, 2) and corners.dtype == dtype
    for shown in (corners, corners.reshape(500, 8), np.roll(corners, 1, axis=1), corners[:, ::-1]):
        back = corners_to_xywhr(shown)  # any start corner, either direction
        assert back.dtype == dtype
        assert np.allclose(back, boxes, atol=tol, rtol=0)
    assert np.allclose(xywhr_to_corners(corners_to_xywhr(corners)), corners, atol=tol, rtol=0)


def test_axis_aligned_rectangle_round_trip_is_exact() -> None:
    boxes = np.array([[5.0, 7.0, 4.0, 2.0, 0.0], [5.0, 7.0, 2.0, 4.0, 0.0]])
    assert np.array_equal(corners_to_xywhr(xywhr_to_corners(boxes)), boxes)


def test_torch_in_torch_out() -> None:
    boxes = torch.tensor(_random_boxes(np.random.default_rng(4), 20), dtype=torch.float32)
    back = corners_to_xywhr(xywhr_to_corners(boxes))
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32
    assert torch.allclose(back, boxes, atol=2e-3)


def test_noisy_quadrilateral_gives_least_area_rectangle() -> None:
    """Noisy DOTA-like quadrilaterals: the same area as cv2.minAreaRect, and every point inside."""
    rng = np.random.default_rng(5)
    quads = xywhr_to_corners(_random_boxes(rng, 200)) + rng.normal(0, 6, (200, 4, 2))
    boxes = corners_to_xywhr(quads)
    cv_areas = np.array([np.prod(cv2.minAreaRect(q.astype(np.float32))[1]) for q in quads])
    assert np.allclose(boxes[:, 2] * boxes[:, 3], cv_areas, rtol=1e-4)
    # each point lies inside the rectangle: its coordinates in the rectangle's frame are within the half sides
    cos, sin = np.cos(boxes[:, 4]), np.sin(boxes[:, 4])
    offset = quads - boxes[:, None, :2]
    along = np.abs(offset[..., 0] * cos[:, None] + offset[..., 1] * sin[:, None])
    across = np.abs(-offset[..., 0] * sin[:, None] + offset[..., 1] * cos[:, None])
    assert (along <= boxes[:, 2:3] / 2 + 1e-6).all() and (across <= boxes[:, 3:4] / 2 + 1e-6).all()
    assert ((boxes[:, 4] >= 0) & (boxes[:, 4] < math.pi / 2)).all()


def test_rotation_and_scale_through_affine() -> None:
    """cv2's rotation matrix (degrees counter-clockwise on the screen) turns the angle by minus that, scales sides."""
    boxes = _random_boxes(np.random.default_rng(6), 100)
    matrix = cv2.getRotationMatrix2D((320.0, 240.0), 30.0, 1.5)
    moved = rotated_box_affine(boxes, matrix)
    centres = boxes[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    expected = canonical_xywhr(np.concatenate((centres, boxes[:, 2:4] * 1.5, boxes[:, 4:] - math.radians(30)), 1))
    assert np.allclose(moved, expected, atol=1e-9)
    square_matrix = np.vstack((matrix, [0.0, 0.0, 1.0]))
    assert np.allclose(rotated_box_affine(xywhr_to_corners(boxes), square_matrix), moved, atol=1e-9)


def test_shear_gives_bounding_rectangle_of_the_parallelogram() -> None:
    boxes = _random_boxes(np.random.default_rng(7), 50)
    shear = np.array([[1.0, 0.4, 0.0], [0.1, 1.0, 0.0]])
    moved = rotated_box_affine(boxes, shear)
    parallelograms = xywhr_to_corners(boxes) @ shear[:, :2].T
    cv_areas = np.array([np.prod(cv2.minAreaRect(p.astype(np.float32))[1]) for p in parallelograms])
    assert np.allclose(moved[:, 2] * moved[:, 3], cv_areas, rtol=1e-4)


def test_quarter_turn_of_the_image() -> None:
    """cv2.ROTATE_90_CLOCKWISE maps (x, y) to (H - y, x): centre (H - cy, cx), angle + pi/2 (w and h swap)."""
    h, w = 96, 128
    box = np.array([[40.0, 30.0, 50.0, 20.0, 0.4]])
    matrix = np.array([[0.0, -1.0, h], [1.0, 0.0, 0.0]])
    turned = rotated_box_affine(box, matrix)
    assert np.allclose(turned, [[h - 30.0, 40.0, 20.0, 50.0, 0.4]])

    def draw(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        mask = np.zeros(shape, np.uint8)
        corners = np.round((xywhr_to_corners(boxes)[0] - 0.5) * 16).astype(np.int32)  # pixel centres, 4 bits
        return cv2.fillPoly(mask, [corners], 1, lineType=cv2.LINE_8, shift=4)

    image_turned = cv2.rotate(draw(box, (h, w)), cv2.ROTATE_90_CLOCKWISE)
    drawn = draw(turned, (w, h))
    assert (image_turned & drawn).sum() / (image_turned | drawn).sum() > 0.99  # a pixel off gives about 0.9


def test_flips_match_the_mirror_matrices() -> None:
    boxes = _random_boxes(np.random.default_rng(8), 100)
    width, height = 640, 480
    assert np.allclose(flip_xywhr_lr(boxes, width), rotated_box_affine(boxes, [[-1, 0, width], [0, 1, 0]]), atol=1e-9)
    assert np.allclose(flip_xywhr_ud(boxes, height), rotated_box_affine(boxes, [[1, 0, 0], [0, -1, height]]),
                       atol=1e-9)
    assert np.allclose(flip_xywhr_lr(flip_xywhr_lr(boxes, width), width), boxes, atol=1e-9)
    assert np.allclose(flip_xywhr_ud(flip_xywhr_ud(boxes, height), height), boxes, atol=1e-9)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="corners"):
        corners_to_xywhr(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="matrix"):
        rotated_box_affine(np.zeros((3, 5)), np.eye(2))
