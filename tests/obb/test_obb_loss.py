"""The oriented-box loss: finite values and gradients, empty batches, the box term's preference for the right box
(position and angle), the rotated assignment, and PGI's two branches."""

from __future__ import annotations

import math

import pytest
import torch

from focalyolo.cfg import load_hyp
from focalyolo.loss.obb import OBBLoss, anchors_inside_rotated_boxes, pad_rotated_targets
from focalyolo.nn import DOBB, DualDOBB
from focalyolo.utils.boxes import make_anchors
from focalyolo.utils.rotated_anchors import rbox2dist

HYP = load_hyp()
STRIDES = (8.0, 16.0)
SIZE = 64


def _head(dual: bool = False, nc: int = 3) -> DOBB:
    torch.manual_seed(0)
    head = DualDOBB(nc, (16, 32, 16, 32)) if dual else DOBB(nc, (16, 32))
    head.stride = torch.tensor(STRIDES)
    head.bias_init()
    return head.train()


def _features(batch: int = 2) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(batch, c, SIZE // int(s), SIZE // int(s), generator=g) for c, s in zip((16, 32), STRIDES)]


TARGETS = torch.tensor([
    [0, 1, 0.40, 0.45, 0.50, 0.20, 0.5],
    [0, 0, 0.70, 0.70, 0.20, 0.30, 1.2],
    [1, 2, 0.50, 0.50, 0.60, 0.40, 0.0],
])


def test_loss_and_gradients_are_finite_and_reach_every_branch():
    head = _head()
    loss, items = OBBLoss(head, HYP)(head(_features()), TARGETS)
    assert loss.ndim == 0 and torch.isfinite(loss) and items.shape == (3,) and (items > 0).all()
    loss.backward()
    grads = {name: p.grad for name, p in head.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["cv4.0.2.weight"].abs().sum() > 0  # the angle branch learns through the box term


def test_no_targets_gives_a_finite_class_loss_only():
    head = _head()
    loss, items = OBBLoss(head, HYP)(head(_features()), torch.zeros(0, 7))
    assert torch.isfinite(loss) and items[0] == 0 and items[2] == 0 and items[1] > 0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_padding_scales_xywh_and_keeps_the_angle():
    labels, boxes, used = pad_rotated_targets(TARGETS, 2, torch.tensor([64.0, 128.0]))  # height 64, width 128
    assert boxes.shape == (2, 2, 5) and used[..., 0].tolist() == [[True, True], [True, False]]
    assert torch.allclose(boxes[0, 0], torch.tensor([51.2, 28.8, 64.0, 12.8, 0.5]))
    assert labels[1, 0, 0] == 2


def test_candidates_are_the_anchors_inside_the_rotated_box():
    anchors = torch.tensor([[10.0, 0.0], [0.0, 10.0], [0.0, 0.0], [7.0, 7.0]])
    box = torch.tensor([[[0.0, 0.0, 30.0, 4.0, math.pi / 2]]])  # a thin box standing upright
    assert anchors_inside_rotated_boxes(anchors, box)[0, 0].tolist() == [False, True, True, False]


def _maps_for(box: torch.Tensor, nc: int = 3) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Raw (maps, angles) of one image in which every anchor predicts ``box`` (pixels) exactly where the DFL bins
    reach it: each side's distance split between its two nearest bins, the angle logit inverted."""
    shapes = [(SIZE // int(s), SIZE // int(s)) for s in STRIDES]
    anchors, strides = make_anchors([torch.zeros(1, 1, *hw) for hw in shapes], torch.tensor(STRIDES), 0.5)
    in_strides = torch.cat((box[:4].expand(len(anchors), 4) / strides, box[4:].expand(len(anchors), 1)), 1)
    distances = rbox2dist(anchors, in_strides, 15)  # (A, 4)
    left = distances.floor().long()
    right_weight = distances - left
    probs = torch.zeros(len(anchors), 4, 16)
    probs.scatter_(-1, left[..., None], (1 - right_weight)[..., None])
    probs.scatter_add_(-1, (left + 1).clamp(max=15)[..., None], right_weight[..., None])
    box_logits = probs.clamp(min=1e-12).log().flatten(1)  # (A, 64)
    flat = torch.cat((box_logits, torch.zeros(len(anchors), nc)), 1).T[None]  # (1, 64 + nc, A)
    sizes = [h * w for h, w in shapes]
    maps = [level.unflatten(2, hw) for level, hw in zip(flat.split(sizes, 2), shapes)]
    fraction = box[4] / math.pi + 0.25
    angle = torch.log(fraction / (1 - fraction)).expand(1, 1, len(anchors))
    return maps, angle


def test_the_right_box_has_the_lowest_box_loss():
    head = _head()
    loss = OBBLoss(head, HYP)
    target = torch.tensor([[0, 1, 0.5, 0.5, 0.45, 0.25, 0.6]])
    box = torch.tensor([32.0, 32.0, 28.8, 16.0, 0.6])
    shifted = box + torch.tensor([4.0, -3.0, 0.0, 0.0, 0.0])
    rotated = box + torch.tensor([0.0, 0.0, 0.0, 0.0, 0.35])
    box_terms = {name: loss(_maps_for(b), target)[1][0].item()
                 for name, b in {"right": box, "shifted": shifted, "rotated": rotated}.items()}
    assert box_terms["right"] < 0.01  # 1 - ProbIoU below 1e-3 (float32 covariances)
    assert box_terms["shifted"] > box_terms["right"] + 0.05 and box_terms["rotated"] > box_terms["right"] + 0.05


def test_a_dual_head_sums_its_branches():
    dual = _head(dual=True)
    features = _features()
    (aux_maps, main_maps), (aux_angles, main_angles) = dual(features + features)
    loss = OBBLoss(dual, HYP)
    total, items = loss(([aux_maps, main_maps], [aux_angles, main_angles]), TARGETS)
    single = OBBLoss(_head(), HYP)
    _, aux_items = single((aux_maps, aux_angles), TARGETS)
    _, main_items = single((main_maps, main_angles), TARGETS)
    aux_weight = loss.branch_weights[0]
    assert 0 < aux_weight < 1
    assert torch.allclose(items, aux_weight * aux_items + main_items, rtol=1e-5)
    assert total.item() == pytest.approx(items.sum().item() * 2, rel=1e-5)
