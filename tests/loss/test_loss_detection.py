"""DetectionLoss on random head outputs, constructed perfect predictions and a tiny trainable network."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from focalyolo.cfg import default_hyperparameters
from focalyolo.loss import DetectionLoss, dfl_loss, expected_distances, pad_targets
from focalyolo.nn import DDetect, DualDDetect
from focalyolo.nn.conv import Conv
from focalyolo.utils.boxes import bbox2dist, make_anchors, xywh2xyxy

HYP = default_hyperparameters()

NC = 3
STRIDES = (8.0, 16.0, 32.0)
IMGSZ = 64
REG_MAX = 16


def make_head(dual: bool, ch: tuple[int, ...] = (16, 16, 16)) -> nn.Module:
    head = DualDDetect(nc=NC, ch=ch * 2) if dual else DDetect(nc=NC, ch=ch)
    head.stride = torch.tensor(STRIDES)
    return head.train()


def random_maps(batch: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """Per-level (B, 64 + NC, H, W) maps at IMGSZ, requiring grad."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [int(IMGSZ // s) for s in STRIDES]
    return [torch.randn(batch, 4 * REG_MAX + NC, n, n, generator=gen).requires_grad_() for n in sizes]


def sample_targets() -> torch.Tensor:
    """(4, 6) normalised targets over two images, listed out of image order."""
    return torch.tensor(
        [
            [1, 2, 0.50, 0.50, 0.40, 0.60],
            [0, 0, 0.30, 0.30, 0.30, 0.25],
            [1, 1, 0.25, 0.70, 0.20, 0.30],
            [0, 1, 0.70, 0.60, 0.45, 0.50],
        ]
    )


def maps_from_anchor_rows(rows: torch.Tensor) -> list[torch.Tensor]:
    """(B, A, C) per-anchor rows -> per-level (B, C, H, W) maps at IMGSZ (inverse of the loss's flattening)."""
    sizes = [int(IMGSZ // s) for s in STRIDES]
    chunks = rows.split([n * n for n in sizes], dim=1)
    return [c.transpose(1, 2).unflatten(2, (n, n)).contiguous() for c, n in zip(chunks, sizes)]


def test_pad_targets_groups_by_image() -> None:
    labels, boxes, mask = pad_targets(sample_targets(), 3, torch.tensor([64.0, 128.0]))
    assert labels.shape == (3, 2, 1) and boxes.shape == (3, 2, 4) and mask.shape == (3, 2, 1)
    assert mask[..., 0].tolist() == [[True, True], [True, True], [False, False]]
    assert labels[0, :, 0].tolist() == [0.0, 1.0] and labels[1, :, 0].tolist() == [2.0, 1.0]
    torch.testing.assert_close(boxes[1, 0], torch.tensor([38.4, 12.8, 89.6, 51.2]))
    assert (boxes[2] == 0).all()
    empty = pad_targets(torch.zeros(0, 6), 2, torch.tensor([64.0, 64.0]))
    assert [tuple(t.shape) for t in empty] == [(2, 0, 1), (2, 0, 4), (2, 0, 1)]


def test_expected_distances_match_head_dfl() -> None:
    logits = torch.randn(2, 4 * REG_MAX, 10)
    from_head = DDetect(nc=NC, ch=(16,)).dfl(logits)
    torch.testing.assert_close(expected_distances(logits.transpose(1, 2), REG_MAX), from_head.transpose(1, 2))


def test_dfl_loss_interpolates_between_bins() -> None:
    logits = torch.full((1, 4, REG_MAX), -30.0)
    logits[..., 3] = 0.0
    assert dfl_loss(logits, torch.full((1, 4), 3.0)).item() < 1e-6
    assert dfl_loss(logits, torch.full((1, 4), 3.5)).item() > 10


@pytest.mark.parametrize("dual", [False, True])
@pytest.mark.parametrize("with_boxes", [False, True])
def test_loss_is_finite_with_grads(dual: bool, with_boxes: bool) -> None:
    maps = [random_maps(seed=0), random_maps(seed=1)] if dual else random_maps()
    targets = sample_targets() if with_boxes else torch.zeros(0, 6)
    loss, items = DetectionLoss(make_head(dual), HYP)(maps, targets)
    assert loss.ndim == 0 and torch.isfinite(loss) and items.shape == (3,) and not items.requires_grad
    torch.testing.assert_close(loss.detach(), items.sum() * 2)
    loss.backward()
    leaves = [m for branch in maps for m in branch] if dual else maps
    assert all(m.grad is not None and torch.isfinite(m.grad).all() for m in leaves)
    if with_boxes:
        assert (items > 0).all()
    else:
        assert items[0] == 0 and items[2] == 0 and items[1] > 0


def test_dual_loss_is_weighted_sum_of_branches() -> None:
    aux, main = random_maps(seed=0), random_maps(seed=1)
    targets = sample_targets()
    dual_loss, dual_items = DetectionLoss(make_head(True), HYP)([aux, main], targets)
    single = DetectionLoss(make_head(False), HYP)
    aux_loss, aux_items = single(aux, targets)
    main_loss, main_items = single(main, targets)
    torch.testing.assert_close(dual_items, 0.25 * aux_items + main_items)
    torch.testing.assert_close(dual_loss, 0.25 * aux_loss + main_loss)


def test_gains_and_aux_weight_come_from_hyp() -> None:
    aux, main = random_maps(seed=0), random_maps(seed=1)
    targets = sample_targets()
    _, default = DetectionLoss(make_head(True), HYP)([aux, main], targets)
    _, custom = DetectionLoss(make_head(True), {**HYP, "box": 1.0, "cls": 1.0, "dfl": 1.0, "aux_weight": 0.25})(
        [aux, main], targets
    )
    torch.testing.assert_close(default, custom * torch.tensor([7.5, 0.5, 1.5]))
    _, main_only = DetectionLoss(make_head(True), {**HYP, "aux_weight": 0.0})([aux, main], targets)
    _, single = DetectionLoss(make_head(False), HYP)(main, targets)
    torch.testing.assert_close(main_only, single)


def test_unset_stride_is_reported() -> None:
    head = make_head(False)
    head.stride = torch.zeros(3)
    with pytest.raises(ValueError, match="stride"):
        DetectionLoss(head, HYP)(random_maps(), sample_targets())


def test_perfect_boxes_give_zero_box_loss() -> None:
    targets = sample_targets()[[1, 0]]
    targets[:, 0] = torch.tensor([0.0, 1.0])
    gt_xyxy = xywh2xyxy(targets[:, 2:] * IMGSZ)
    points, strides = make_anchors(random_maps(), STRIDES)
    side_dist = bbox2dist(points[None], gt_xyxy[:, None] / strides[None], REG_MAX - 1)
    left = side_dist.long()
    frac = side_dist - left
    probs = torch.zeros(*side_dist.shape, REG_MAX)
    probs.scatter_(-1, left[..., None], (1 - frac)[..., None])
    probs.scatter_add_(-1, (left + 1)[..., None], frac[..., None])
    box_logits = probs.clamp(min=1e-12).log().flatten(2)
    cls_logits = torch.full((2, points.shape[0], NC), -4.0)
    maps = maps_from_anchor_rows(torch.cat((box_logits, cls_logits), -1))
    _, items = DetectionLoss(make_head(False), HYP)(maps, targets)
    assert items[0] < 1e-4
    assert items[1] > 0


class TinyDetector(nn.Module):
    """Five stride-2 convs feeding a real head with P3/P4/P5 (strides 8/16/32)."""

    def __init__(self, dual: bool):
        super().__init__()
        self.stem = nn.Sequential(Conv(3, 8, 3, 2), Conv(8, 16, 3, 2), Conv(16, 16, 3, 2))
        self.down4 = Conv(16, 16, 3, 2)
        self.down5 = Conv(16, 16, 3, 2)
        self.dual = dual
        self.head = make_head(dual)
        self.head.bias_init()

    def forward(self, x: torch.Tensor) -> list:
        p3 = self.stem(x)
        p4 = self.down4(p3)
        p5 = self.down5(p4)
        levels = [p3, p4, p5]
        return self.head(levels * 2 if self.dual else levels)


@pytest.mark.parametrize("dual", [False, True])
def test_tiny_network_overfits_one_batch(dual: bool) -> None:
    torch.manual_seed(0)
    model = TinyDetector(dual).train()
    images = torch.rand(2, 3, IMGSZ, IMGSZ)
    targets = sample_targets()
    criterion = DetectionLoss(model.head, HYP)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, _ = criterion(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_real_model_loss_backward() -> None:
    try:
        from focalyolo.models import build_model
    except ImportError:
        pytest.skip("focalyolo.models.build_model is not available yet")
    model = build_model("yolov9-t", nc=NC).train()
    loss, items = DetectionLoss(model.head, HYP)(model(torch.rand(2, 3, IMGSZ, IMGSZ)), sample_targets())
    loss.backward()
    assert torch.isfinite(items).all()
    assert all(p.grad is not None for p in model.head.parameters() if p.requires_grad)
