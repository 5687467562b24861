"""TaskAlignedAssigner on hand-made scenes: a 64x64 image, stride-8 anchors at (4 + 8i, 4 + 8j)."""

from __future__ import annotations

import torch

from focalyolo.loss import TaskAlignedAssigner, anchors_inside_boxes
from focalyolo.utils.boxes import bbox_ciou

NC = 3


def grid_anchors() -> torch.Tensor:
    """(64, 2) anchor centres in pixels, row-major (y outer, x inner)."""
    coords = torch.arange(8, dtype=torch.float32) * 8 + 4
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack((gx, gy), -1).view(-1, 2)


def anchor_index(x: float, y: float) -> int:
    return int((y - 4) // 8 * 8 + (x - 4) // 8)


def scene(gt_boxes: list[list[float]], labels: list[int], pred_box: list[float] | None = None, seed: int = 0):
    """One image whose anchors all predict ``pred_box`` (default: the first GT) with random scores."""
    gen = torch.Generator().manual_seed(seed)
    anchors = grid_anchors()
    num_anchors = anchors.shape[0]
    gt = torch.tensor(gt_boxes, dtype=torch.float32)[None]
    pred = torch.tensor(pred_box if pred_box is not None else gt_boxes[0]).expand(1, num_anchors, 4).clone()
    scores = torch.rand(1, num_anchors, NC, generator=gen) * 0.9 + 0.05
    gt_labels = torch.tensor(labels, dtype=torch.float32).view(1, -1, 1)
    mask = torch.ones(1, len(labels), 1, dtype=torch.bool)
    return scores, pred, anchors, gt_labels, gt, mask


def test_candidates_are_strictly_inside() -> None:
    anchors = grid_anchors()
    gt = torch.tensor([[[10.0, 10.0, 30.0, 20.0]]])
    inside = anchors_inside_boxes(anchors, gt)[0, 0]
    expected = {anchor_index(x, 12) for x in (12, 20, 28)}
    assert set(inside.nonzero().flatten().tolist()) == expected


def test_anchor_inside_gt_is_assigned_and_outside_is_not() -> None:
    scores, pred, anchors, labels, gt, mask = scene([[10.0, 10.0, 30.0, 20.0]], [2])
    target_labels, target_bboxes, target_scores, fg, gt_idx = TaskAlignedAssigner(num_classes=NC)(
        scores, pred, anchors, labels, gt, mask
    )
    expected = {anchor_index(x, 12) for x in (12, 20, 28)}
    assert set(fg[0].nonzero().flatten().tolist()) == expected
    assert (target_labels[0, fg[0]] == 2).all()
    assert torch.equal(target_bboxes[0, fg[0]], gt[0, 0].expand(3, 4))
    assert (target_scores[0, ~fg[0]] == 0).all()
    assert (target_scores[0, fg[0], :2] == 0).all() and (target_scores[0, fg[0], 2] > 0).all()
    assert (gt_idx == 0).all()


def test_topk_keeps_best_aligned_anchors() -> None:
    scores, pred, anchors, labels, gt, mask = scene([[1.0, 1.0, 63.0, 63.0]], [1])
    for k in (10, 5):
        fg = TaskAlignedAssigner(topk=k, num_classes=NC)(scores, pred, anchors, labels, gt, mask)[3]
        assert int(fg.sum()) == k
        best = scores[0, :, 1].topk(k).indices
        assert set(fg[0].nonzero().flatten().tolist()) == set(best.tolist())


def test_conflict_goes_to_gt_with_highest_overlap() -> None:
    gt_a, gt_b = [0.0, 0.0, 40.0, 40.0], [24.0, 0.0, 64.0, 40.0]
    scores, pred, anchors, labels, gt, mask = scene([gt_a, gt_b], [0, 1], pred_box=[30.0, 30.0, 34.0, 34.0])
    to_b, to_a = anchor_index(28, 20), anchor_index(36, 20)
    pred[0, to_b] = torch.tensor(gt_b)
    pred[0, to_a] = torch.tensor(gt_a)
    assigner = TaskAlignedAssigner(topk=anchors.shape[0], num_classes=NC)
    target_labels, target_bboxes, _, fg, gt_idx = assigner(scores, pred, anchors, labels, gt, mask)
    assert fg[0, to_b] and fg[0, to_a]
    assert gt_idx[0, to_b] == 1 and target_labels[0, to_b] == 1
    assert gt_idx[0, to_a] == 0 and target_labels[0, to_a] == 0
    assert torch.equal(target_bboxes[0, to_b], torch.tensor(gt_b))
    inside = anchors_inside_boxes(anchors, gt)[0]
    assert torch.equal(fg[0], inside.any(0))


def test_soft_targets_are_normalised_per_gt() -> None:
    gt_box = [6.0, 6.0, 50.0, 42.0]
    scores, pred, anchors, labels, gt, mask = scene([gt_box], [0], pred_box=[8.0, 4.0, 46.0, 44.0], seed=3)
    best = anchor_index(28, 20)
    pred[0, best] = torch.tensor(gt_box)
    scores[0, best, 0] = 0.95
    assigner = TaskAlignedAssigner(topk=anchors.shape[0], num_classes=NC)
    _, _, target_scores, fg, _ = assigner(scores, pred, anchors, labels, gt, mask)
    overlaps = bbox_ciou(gt[0, 0], pred[0]).squeeze(-1).clamp(min=0)
    align = scores[0, :, 0].sqrt() * overlaps.pow(6) * fg[0]
    expected = align * overlaps[fg[0]].max() / align.max()
    torch.testing.assert_close(target_scores[0, :, 0], expected, rtol=1e-5, atol=1e-7)
    assert target_scores[0, :, 0].argmax() == best
    assert abs(float(target_scores[0, best, 0]) - 1.0) < 1e-5


def test_no_gt_in_batch() -> None:
    scores = torch.rand(2, 64, NC)
    pred = torch.rand(2, 64, 4)
    out = TaskAlignedAssigner(num_classes=NC)(
        scores, pred, grid_anchors(), torch.zeros(2, 0, 1), torch.zeros(2, 0, 4), torch.zeros(2, 0, 1, dtype=torch.bool)
    )
    shapes = [tuple(t.shape) for t in out]
    assert shapes == [(2, 64), (2, 64, 4), (2, 64, NC), (2, 64), (2, 64)]
    assert not out[3].any() and out[2].sum() == 0


def test_padded_slots_are_never_assigned() -> None:
    scores, pred, anchors, _, _, _ = scene([[1.0, 1.0, 63.0, 63.0]], [0])
    scores, pred = scores.expand(2, -1, -1), pred.expand(2, -1, -1)
    gt = torch.zeros(2, 2, 4)
    gt[0, 0] = torch.tensor([10.0, 10.0, 40.0, 40.0])
    labels = torch.zeros(2, 2, 1)
    mask = torch.tensor([[True, False], [False, False]])[..., None]
    _, _, target_scores, fg, gt_idx = TaskAlignedAssigner(num_classes=NC)(scores, pred, anchors, labels, gt, mask)
    assert int(fg[0].sum()) == 10 and not fg[1].any()
    assert (gt_idx[0, fg[0]] == 0).all()
    assert target_scores[1].sum() == 0


def test_sparse_alignment_equals_the_dense_formula() -> None:
    """Overlaps and alignment computed on candidate pairs only equal score^alpha * CIoU^beta over all pairs."""
    gen = torch.Generator().manual_seed(1)
    batch, slots, anchors = 3, 5, grid_anchors()
    xy = torch.rand(batch, slots, 2, generator=gen) * 40
    gt = torch.cat((xy, xy + 8 + torch.rand(batch, slots, 2, generator=gen) * 24), -1)
    pxy = torch.rand(batch, 64, 2, generator=gen) * 48
    pred = torch.cat((pxy, pxy + 4 + torch.rand(batch, 64, 2, generator=gen) * 16), -1)
    scores = torch.rand(batch, 64, NC, generator=gen)
    labels = torch.randint(0, NC, (batch, slots), generator=gen)
    mask = torch.rand(batch, slots, 1, generator=gen) > 0.3
    assigner = TaskAlignedAssigner(topk=10, num_classes=NC)
    candidates = anchors_inside_boxes(anchors, gt) & mask
    overlaps, align = assigner._alignment(scores, pred, labels, gt, candidates)
    dense_overlap = bbox_ciou(gt[:, :, None], pred[:, None]).squeeze(-1).clamp(min=0) * candidates
    dense_scores = scores.transpose(1, 2).gather(1, labels[..., None].expand(-1, -1, 64))
    torch.testing.assert_close(overlaps, dense_overlap)
    torch.testing.assert_close(align, dense_scores.pow(0.5) * dense_overlap.pow(6.0))
    assert candidates.sum() > 20 and (~candidates).sum() > 20
