"""The pose term's average: 1 - OKS summed over the objects with labelled keypoints, divided by every matched
object (an object without labelled keypoints adds 0 and counts 1, Ultralytics' rule; see docs/pose.md)."""

from __future__ import annotations

import math

import pytest
import torch

from focalyolo.loss import keypoint_terms

SIGMAS = torch.tensor([0.1, 0.1])
BOXES = torch.tensor([[0.0, 0.0, 20.0, 20.0]] * 2)  # area 400 each


def test_an_unlabelled_object_counts_in_the_pose_average():
    """Object 0: keypoint 0 exact, keypoint 1 3 px off; object 1: no labelled keypoint, its prediction far off."""
    target = torch.tensor([[[5.0, 5.0, 2.0], [10.0, 10.0, 2.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    pred = torch.tensor([[[5.0, 5.0, 9.0], [13.0, 10.0, 9.0]], [[50.0, 50.0, -9.0], [60.0, 60.0, -9.0]]],
                        requires_grad=True)
    pose, kobj = keypoint_terms(pred, target, BOXES, SIGMAS)
    # OKS of object 0: the mean over its two labelled points of exp(-d^2 / (2 * area * (2 * sigma)^2))
    oks = (math.exp(0.0) + math.exp(-9 / (2 * 400 * 0.2 ** 2))) / 2
    assert pose.item() == pytest.approx((1 - oks) / 2, rel=1e-6)  # divided by both objects
    assert pose.item() == pytest.approx(0.061290, abs=1e-6)  # (1 - exp(-9 / 32)) / 4; over object 0 alone: twice
    # visibility: logits 9 against 1 twice, -9 against 0 twice
    assert kobj.item() == pytest.approx(math.log1p(math.exp(-9)), rel=1e-2)  # float32 rounding
    pose.backward()
    assert pred.grad[1, :, :2].abs().sum() == 0 and pred.grad[0, 1, 0] > 0


def test_no_labelled_object_gives_a_zero_pose_term_in_the_graph():
    target = torch.zeros(2, 2, 3)
    pred = torch.randn(2, 2, 3, requires_grad=True)
    pose, _ = keypoint_terms(pred, target, BOXES, SIGMAS)
    assert pose.item() == 0.0 and pose.requires_grad
