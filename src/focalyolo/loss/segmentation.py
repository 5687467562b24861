"""YOLOv9 segmentation loss: the detection loss plus a mask term on the same assignment.

For each image and each foreground anchor, the mask logits ``coefficients @ protos`` (on the prototype grid,
stride 4) are scored against the assigned instance's mask by BCE with logits; the per-pixel loss is kept inside
the instance's box (on the prototype grid), averaged over the grid, divided by the box's normalised area (so: the
mean over the box) and averaged over the image's foreground anchors. The image terms are summed and multiplied by
``seg / B``; box, cls and dfl are as in :class:`DetectionLoss`. A dual head (PGI) weighs each branch's four terms
by ``aux_weight`` and 1. Items: [box, seg, cls, dfl]; total = their sum x B (YOLOv9's ``loss_tal`` for
segmentation).

Mask targets come in one of two layouts: *overlap* (B, Hm, Wm), one index-coded mask per image (pixel value j + 1
= the image's j-th target, 0 = background; where instances overlap the later one wins), or *per instance*
(N, Hm, Wm), one 0/1 mask per target row. Masks at another resolution than the prototypes are resized (nearest).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.boxes import xyxy2xywh
from ..utils.masks import crop_to_boxes
from .detection import DetectionLoss

__all__ = ["SegmentationLoss", "mask_loss"]


def mask_loss(coefficients: torch.Tensor, protos: torch.Tensor, gt_masks: torch.Tensor, boxes: torch.Tensor,
              areas: torch.Tensor) -> torch.Tensor:
    """Mean over anchors of the in-box mask BCE divided by the box area.

    Args:
        coefficients: (n, nm) mask coefficients of n foreground anchors.
        protos: (nm, h, w) the image's prototypes.
        gt_masks: (n, h, w) 0/1 mask of each anchor's assigned instance.
        boxes: (n, 4) the instances' boxes, xyxy on the prototype grid.
        areas: (n,) the boxes' areas as a fraction of the image.
    """
    logits = (coefficients @ protos.flatten(1)).view(-1, *protos.shape[1:])
    pixels = F.binary_cross_entropy_with_logits(logits, gt_masks, reduction="none")
    return (crop_to_boxes(pixels, boxes).mean(dim=(1, 2)) / areas).mean()


class SegmentationLoss(DetectionLoss):
    """Loss of a Segment / DSegment / DualDSegment head in train mode (see the module docstring).

    Args:
        head: the segmentation head.
        hyp: as :class:`DetectionLoss`, plus the gain ``seg``.
        overlap: the mask targets are index-coded per image (True) or one mask per instance (False).
    """

    def __init__(self, head: nn.Module, hyp: Mapping[str, Any], overlap: bool = True):
        super().__init__(head, hyp)
        self.seg_gain = float(self.hyp["seg"])
        self.overlap = overlap

    def __call__(self, preds: tuple, targets: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss.

        Args:
            preds: train-mode head output ``(maps, coefficients, protos)``: level maps as for detection,
                coefficients (B, nm, A), protos (B, nm, h, w); each ``[aux, main]`` for a dual head.
            targets: ``(boxes, masks)``: (N, 6) rows [batch_idx, cls, cx, cy, w, h] normalised, and the masks in
                the layout ``overlap`` names.

        Returns:
            loss: scalar, (gain-weighted box + seg + cls + dfl) * B, with grad.
            loss_items: (4,) detached gain-weighted [box, seg, cls, dfl].
        """
        maps, coefficients, protos = preds
        branches = list(zip(maps, coefficients, protos)) if self.is_dual else [(maps, coefficients, protos)]
        boxes, masks = targets
        batch, stride, gt = self.prepare(branches[0][0][0], boxes)
        image_index = boxes[:, 0].long().to(stride.device, non_blocking=True)
        grid = branches[0][2].shape[-2:]  # the prototype grid; masks at another resolution are resized once
        masks = masks.to(stride.device, non_blocking=True)
        if tuple(masks.shape[-2:]) != tuple(grid):
            masks = F.interpolate(masks[None].float(), tuple(grid), mode="nearest")[0]
        parts = sum(
            weight * self._branch(level_maps, branch_coefficients, branch_protos, gt, stride, assigner, masks,
                                  image_index)
            for weight, (level_maps, branch_coefficients, branch_protos), assigner in zip(
                self.branch_weights, branches, self.assigners)
        )
        gains = torch.tensor([self.gains[0], self.seg_gain / batch, self.gains[1], self.gains[2]])
        gains = gains.to(stride.device, non_blocking=True)
        items = parts * gains
        return items.sum() * batch, items.detach()

    def _branch(self, level_maps: list[torch.Tensor], coefficients: torch.Tensor, protos: torch.Tensor, gt: tuple,
                stride: torch.Tensor, assigner: nn.Module, masks: torch.Tensor,
                image_index: torch.Tensor) -> torch.Tensor:
        """Unweighted (4,) [box, seg (summed over images), cls, dfl] of one branch."""
        terms, assignment = self.branch_loss(level_maps, gt, stride, assigner)
        protos = protos.float()
        coefficients = coefficients.float().transpose(1, 2)  # (B, A, nm)
        mask_h, mask_w = protos.shape[-2:]
        height, width = (size * self.host_strides()[0] for size in level_maps[0].shape[-2:])
        to_unit = torch.tensor([width, height, width, height]).to(protos.device, non_blocking=True)  # pixels
        to_grid = torch.tensor([mask_w, mask_h, mask_w, mask_h], dtype=torch.float32).to(protos.device,
                                                                                          non_blocking=True)
        # every prototype and coefficient takes part in the graph, also when no anchor is foreground
        seg = (protos.sum() + coefficients.sum()) * 0.0
        # the foreground anchors of all images, image by image, and how many each image has: two host reads per
        # branch (not one per image); each image's mask term is then a slice of these rows
        images, anchors = assignment.fg_mask.nonzero(as_tuple=True)
        counts = torch.bincount(images, minlength=protos.shape[0]).tolist()
        slots = assignment.gt_index[images, anchors]
        unit = assignment.boxes[images, anchors] / to_unit
        fg_coefficients = coefficients[images, anchors]
        if not self.overlap:  # the target row of (image, slot): rows sorted by image, as pad_targets orders them
            per_image = torch.bincount(image_index, minlength=protos.shape[0])
            rows = torch.argsort(image_index, stable=True)[(per_image.cumsum(0) - per_image)[images] + slots]
        start = 0
        for i, n in enumerate(counts):
            if not n:
                continue
            part = slice(start, start + n)
            start += n
            if self.overlap:
                gt_masks = (masks[i] == (slots[part] + 1).view(-1, 1, 1)).float()
            else:
                gt_masks = masks[rows[part]].float()
            seg = seg + mask_loss(fg_coefficients[part], protos[i], gt_masks, unit[part] * to_grid,
                                  xyxy2xywh(unit[part])[:, 2:].prod(1))
        return torch.cat((terms[:1], seg[None], terms[1:]))
