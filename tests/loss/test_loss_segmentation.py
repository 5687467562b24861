"""SegmentationLoss: the mask term by hand, the two mask layouts, the PGI weighting, and the detection terms."""

from __future__ import annotations

import math

import pytest
import torch

from focalyolo.cfg import default_hyperparameters
from focalyolo.loss import DetectionLoss, SegmentationLoss, mask_loss
from focalyolo.nn import DSegment, DualDSegment
from focalyolo.utils.masks import crop_to_boxes

HYP = default_hyperparameters()

NC, NM, IMGSZ = 3, 8, 64
STRIDES = (8.0, 16.0, 32.0)
GRID = IMGSZ // 4  # the prototype grid


def head(dual: bool = False):
    ch = (16, 16, 16)
    module = DualDSegment(NC, NM, 16, (*ch, *ch, 8, 8)) if dual else DSegment(NC, NM, 16, (*ch, 8))
    module.stride = torch.tensor(STRIDES)
    return module.train()


def predictions(batch: int = 2, seed: int = 0, zero_protos: bool = False):
    """Random train-mode outputs of a (single-branch) segmentation head at IMGSZ."""
    gen = torch.Generator().manual_seed(seed)
    maps = [torch.randn(batch, 64 + NC, IMGSZ // int(s), IMGSZ // int(s), generator=gen).requires_grad_()
            for s in STRIDES]
    anchors = sum(m.shape[-1] * m.shape[-2] for m in maps)
    coefficients = torch.randn(batch, NM, anchors, generator=gen).requires_grad_()
    protos = (torch.zeros(batch, NM, GRID, GRID) if zero_protos
              else torch.randn(batch, NM, GRID, GRID, generator=gen)).requires_grad_()
    return maps, coefficients, protos


# boxes on the 4-pixel grid (x1, y1, x2, y2 in pixels); rows listed out of image order
BOXES_PX = [(1, 0, 16, 32, 48, 56), (0, 2, 8, 8, 40, 24), (0, 1, 44, 36, 60, 60)]


def box_targets() -> torch.Tensor:
    rows = [[i, c, (x1 + x2) / 2 / IMGSZ, (y1 + y2) / 2 / IMGSZ, (x2 - x1) / IMGSZ, (y2 - y1) / IMGSZ]
            for i, c, x1, y1, x2, y2 in BOXES_PX]
    return torch.tensor(rows)


def instance_masks(scale: int = 4) -> torch.Tensor:
    """(N, IMGSZ / scale, IMGSZ / scale): each target's box filled, in target-row order."""
    masks = torch.zeros(len(BOXES_PX), IMGSZ // scale, IMGSZ // scale)
    for n, (_, _, x1, y1, x2, y2) in enumerate(BOXES_PX):
        masks[n, y1 // scale: y2 // scale, x1 // scale: x2 // scale] = 1
    return masks


def overlap_masks() -> torch.Tensor:
    """(B, GRID, GRID): pixel value j + 1 where the image's j-th target (in row order) lies."""
    masks = torch.zeros(2, GRID, GRID)
    seen = [0, 0]
    for n, (i, *_rest) in enumerate(BOXES_PX):
        seen[i] += 1
        masks[i][instance_masks()[n].bool()] = seen[i]
    return masks


def test_crop_keeps_the_pixels_inside_the_box():
    kept = crop_to_boxes(torch.ones(2, 4, 6), torch.tensor([[1.0, 1.0, 3.0, 2.0], [0.0, 0.0, 6.0, 4.0]]))
    assert kept[0].sum() == 2 and kept[0, 1, 1:3].sum() == 2 and kept[1].sum() == 24


def test_mask_loss_by_hand():
    """One prototype equal to 2 and a coefficient 1: logit 2 everywhere; the mask covers the left half of the box.
    In-box mean of BCE = (log(1 + e^-2) + log(1 + e^2)) / 2, whatever the box's size."""
    protos = torch.full((1, 8, 8), 2.0)
    gt = torch.zeros(1, 8, 8)
    gt[0, 2:6, 2:4] = 1
    box = torch.tensor([[2.0, 2.0, 6.0, 6.0]])
    loss = mask_loss(torch.ones(1, 1), protos, gt, box, torch.tensor([16 / 64]))
    assert loss.item() == pytest.approx((math.log1p(math.exp(-2)) + math.log1p(math.exp(2))) / 2, rel=1e-6)


def test_zero_prototypes_give_log2_per_image_and_detection_terms_unchanged():
    """Logits 0 -> BCE log 2 on every pixel; boxes on the grid -> in-box mean log 2 per image; the seg item is
    2.5 / B x (images with objects) x log 2, and box / cls / dfl are the detection loss's."""
    preds = predictions(zero_protos=True)
    loss, items = SegmentationLoss(head(), HYP, overlap=True)(preds, (box_targets(), overlap_masks()))
    assert items[1].item() == pytest.approx(2.5 / 2 * 2 * math.log(2), rel=1e-5)
    _, detection_items = DetectionLoss(head(), HYP)(preds[0], box_targets())
    assert torch.allclose(items[[0, 2, 3]], detection_items)
    assert loss.item() == pytest.approx(items.sum().item() * 2, rel=1e-6)


def test_overlap_and_per_instance_masks_give_the_same_loss():
    preds = predictions(seed=1)
    _, overlap = SegmentationLoss(head(), HYP, overlap=True)(preds, (box_targets(), overlap_masks()))
    _, instances = SegmentationLoss(head(), HYP, overlap=False)(preds, (box_targets(), instance_masks()))
    _, full_size = SegmentationLoss(head(), HYP, overlap=False)(preds, (box_targets(), instance_masks(scale=1)))
    assert torch.allclose(overlap, instances) and torch.allclose(instances, full_size)  # resized to the grid


def test_dual_loss_is_a_quarter_aux_plus_main():
    aux, main = predictions(seed=2), predictions(seed=3)
    dual_preds = tuple([a, m] for a, m in zip(aux, main))
    targets = (box_targets(), overlap_masks())
    _, dual = SegmentationLoss(head(dual=True), HYP)(dual_preds, targets)
    _, aux_items = SegmentationLoss(head(), HYP)(aux, targets)
    _, main_items = SegmentationLoss(head(), HYP)(main, targets)
    assert torch.allclose(dual, 0.25 * aux_items + main_items, rtol=1e-5)


def test_seg_gain_and_gradients():
    preds = predictions(seed=4)
    targets = (box_targets(), overlap_masks())
    _, base = SegmentationLoss(head(), HYP)(preds, targets)
    loss, doubled = SegmentationLoss(head(), {**HYP, "seg": 5.0})(preds, targets)
    assert doubled[1] == pytest.approx(2 * base[1].item()) and torch.equal(doubled[[0, 2, 3]], base[[0, 2, 3]])
    loss.backward()
    assert preds[2].grad.abs().sum() > 0 and preds[1].grad.abs().sum() > 0


def test_a_batch_without_objects_has_a_zero_mask_term_and_keeps_the_graph():
    preds = predictions(seed=5)
    loss, items = SegmentationLoss(head(), HYP)(preds, (torch.zeros(0, 6), torch.zeros(2, GRID, GRID)))
    assert items[1] == 0 and torch.isfinite(loss)
    loss.backward()
    assert preds[2].grad is not None and preds[1].grad is not None


@pytest.mark.parametrize("overlap", [True, False])
def test_the_mask_term_reads_the_device_once_per_branch_not_per_image(overlap):
    """``nonzero`` calls (boolean-mask indexing too; on a GPU each waits for its queue) in the loss of a batch of 6
    images: the assigner's candidate list and the mask term's foreground list, whatever the number of images."""
    from torch.profiler import ProfilerActivity, profile

    targets = torch.cat([box_targets() + torch.tensor([2.0 * k, 0, 0, 0, 0, 0]) for k in range(3)])
    masks = torch.cat([overlap_masks()] * 3) if overlap else torch.cat([instance_masks()] * 3)
    loss_fn = SegmentationLoss(head(), HYP, overlap=overlap)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loss_fn(predictions(batch=6), (targets, masks))
    assert sum(e.name == "aten::nonzero" for e in prof.events()) == 2
