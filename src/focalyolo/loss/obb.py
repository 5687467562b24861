"""Oriented-box loss: the detection loss on rotated boxes, for DOBB / DualDOBB heads.

The same task-aligned assignment as detection (:class:`~focalyolo.loss.assigner.TaskAlignedAssigner`), with two
changes (:class:`RotatedTaskAlignedAssigner`): a GT may pick the anchors whose centre lies inside its rotated box,
and the overlap of the alignment metric ``score^alpha * overlap^beta`` is ProbIoU
(:func:`~focalyolo.utils.rotated_iou.probiou`) where detection uses CIoU. Then, per branch:

- ``box``: 1 - ProbIoU of the decoded rotated box (xywh and angle) with its assigned GT, weighted by the anchor's
  target score as detection's CIoU term; the angle is learned through this term alone (ProbIoU sees every row of one
  rectangle alike, so the canonical form's jump at pi/2 costs nothing).
- ``cls``: BCE against the soft task-aligned targets, as detection's.
- ``dfl``: DFL on the four side distances, the targets measured from the anchor in the assigned GT's own rotated
  frame (:func:`~focalyolo.utils.rotated_anchors.rbox2dist`). It also breaks the tie between a GT row and the
  equivalent row a quarter turn on (w and h swapped), which ProbIoU cannot see: the distances are the GT row's.

Items [box, cls, dfl], times the gains ``box``, ``cls``, ``dfl``; a dual head (PGI) weighs each branch's terms by
``aux_weight`` and 1; total = their sum x B, as for detection.

Targets: (N, 7) rows [image index, class, cx, cy, w, h, angle]: cx and w normalised by the input image's width, cy
and h by its height (as detection's xywh), the angle in radians (any row of the rectangle; canonical in practice).

Shapes: B images, A anchors over all levels, M GT slots per image, R = reg_max bins per side.
"""

from __future__ import annotations

import torch

from ..utils.boxes import make_anchors
from ..utils.rotated_anchors import decode_angle, dist2rbox, rbox2dist
from ..utils.rotated_iou import probiou
from .assigner import TaskAlignedAssigner
from .detection import DetectionLoss, dfl_loss, expected_distances, flatten_levels, group_by_image

__all__ = ["OBBLoss", "RotatedTaskAlignedAssigner", "anchors_inside_rotated_boxes", "pad_rotated_targets"]


def pad_rotated_targets(
    targets: torch.Tensor, batch_size: int, imgsz: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Group flat normalised rotated-box targets per image (:func:`~focalyolo.loss.detection.group_by_image`).

    Args:
        targets: (N, 7) rows [batch_idx, cls, cx, cy, w, h, angle] (see the module docstring).
        batch_size: B.
        imgsz: (2,) input (height, width) in pixels.

    Returns:
        gt_labels (B, M, 1), gt_boxes (B, M, 5) ``cx, cy, w, h, angle`` in pixels, mask_gt (B, M, 1) bool; padded
        slots are zeros.
    """
    padded, used = group_by_image(targets[:, 1:], targets[:, 0].long(), batch_size)
    scale = imgsz.flip(0).repeat(2).to(targets.dtype)
    gt_boxes = torch.cat((padded[..., 1:5] * scale, padded[..., 5:6]), -1)
    return padded[..., :1], gt_boxes, used[..., None]


def anchors_inside_rotated_boxes(anc_points: torch.Tensor, gt_boxes: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Which anchor centres lie strictly inside which rotated GT boxes.

    Args:
        anc_points: (A, 2) anchor centres (x, y) in pixels.
        gt_boxes: (B, M, 5) ``cx, cy, w, h, angle`` in pixels.

    Returns:
        (B, M, A) bool, true where the anchor is more than ``eps`` inside all four sides.
    """
    delta = anc_points[None, None] - gt_boxes[:, :, None, :2]  # (B, M, A, 2)
    cos, sin = gt_boxes[..., 4:5].cos(), gt_boxes[..., 4:5].sin()  # (B, M, 1)
    along_w = delta[..., 0] * cos + delta[..., 1] * sin
    along_h = -delta[..., 0] * sin + delta[..., 1] * cos
    margin_w = gt_boxes[..., 2:3] / 2 - along_w.abs()
    margin_h = gt_boxes[..., 3:4] / 2 - along_h.abs()
    return torch.minimum(margin_w, margin_h) > eps


class RotatedTaskAlignedAssigner(TaskAlignedAssigner):
    """:class:`TaskAlignedAssigner` on rotated boxes: boxes are (..., 5) ``cx, cy, w, h, angle`` rows in pixels
    (GT and predictions alike, and so the assigned ``target_bboxes``), candidates are the anchors inside the rotated
    GT box, and the overlap is ProbIoU."""

    def inside(self, anc_points: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        return anchors_inside_rotated_boxes(anc_points, gt_bboxes, self.eps)

    @staticmethod
    def overlap(gt_bboxes: torch.Tensor, pd_bboxes: torch.Tensor) -> torch.Tensor:
        return probiou(gt_bboxes, pd_bboxes)


class OBBLoss(DetectionLoss):
    """Loss of a DOBB / DualDOBB head in train mode (see the module docstring).

    Args:
        head: the oriented-box head; ``nc``, ``reg_max`` and ``is_dual`` are read now, ``stride`` at every call.
        hyp: as :class:`~focalyolo.loss.detection.DetectionLoss` (gains ``box``, ``cls``, ``dfl``, ``aux_weight``
            and the assigner's ``topk``, ``alpha``, ``beta``).
    """

    assigner_type = RotatedTaskAlignedAssigner
    pad_targets = staticmethod(pad_rotated_targets)

    def __call__(self, preds: tuple, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss.

        Args:
            preds: train-mode head output ``(maps, angles)``: level maps (B, 4R + C, H_i, W_i) as for detection and
                the raw angle logits (B, 1, A); each ``[aux, main]`` for a dual head.
            targets: (N, 7) rows [batch_idx, cls, cx, cy, w, h, angle] (see the module docstring).

        Returns:
            loss: scalar, (gain-weighted box + cls + dfl) * B, with grad.
            loss_items: (3,) detached gain-weighted [box, cls, dfl].
        """
        maps, angles = preds
        branches = list(zip(maps, angles)) if self.is_dual else [(maps, angles)]
        batch, stride, gt = self.prepare(branches[0][0][0], targets)
        parts = sum(
            weight * self.rotated_branch_loss(level_maps, angle_logits, gt, assigner)
            for weight, (level_maps, angle_logits), assigner in zip(self.branch_weights, branches, self.assigners)
        )
        items = parts * self.gains.to(stride.device, non_blocking=True)
        return items.sum() * batch, items.detach()

    def rotated_branch_loss(
        self,
        feats: list[torch.Tensor],
        angle_logits: torch.Tensor,
        gt: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        assigner: TaskAlignedAssigner,
    ) -> torch.Tensor:
        """Unweighted (3,) [box, cls, dfl] of one branch: level maps, (B, 1, A) angle logits and the padded
        ground truth ``gt`` of :func:`pad_rotated_targets`.

        As detection's, the box and DFL terms are sums over every anchor weighted by its target score (0 off the
        foreground); an anchor without a GT compares its box with itself (ProbIoU 1, a finite gradient, weight 0).
        """
        box_logits, cls_logits = flatten_levels(feats, self.reg_max, self.nc)
        anchors, anchor_stride = make_anchors(feats, self.host_strides(), 0.5)
        anchors, anchor_stride = anchors.float(), anchor_stride.float()
        angle = decode_angle(angle_logits.float()).transpose(1, 2)  # (B, A, 1)
        xywh = dist2rbox(expected_distances(box_logits, self.reg_max), angle, anchors)  # in strides
        pred = torch.cat((xywh, angle), -1)

        gt_labels, gt_boxes, mask_gt = gt
        _, target_pixels, target_scores, fg_mask, _ = assigner(
            cls_logits.detach().sigmoid(),
            torch.cat((xywh.detach() * anchor_stride, angle.detach()), -1),
            anchors * anchor_stride,
            gt_labels,
            gt_boxes,
            mask_gt,
        )
        target = torch.cat((target_pixels[..., :4] / anchor_stride, target_pixels[..., 4:]), -1)
        score_sum = target_scores.sum().clamp(min=1)
        cls = self.bce(cls_logits, target_scores).sum() / score_sum

        weight = target_scores.sum(-1)  # (B, A)
        overlap = probiou(pred, torch.where(fg_mask[..., None], target, pred.detach()))
        box = ((1.0 - overlap) * weight).sum() / score_sum
        target_ltrb = rbox2dist(anchors, target, self.reg_max - 1).flatten(0, 1)
        logits = box_logits.flatten(0, 1).unflatten(-1, (4, self.reg_max))
        dfl = (dfl_loss(logits, target_ltrb) * weight.flatten()).sum() / score_sum
        return torch.stack((box, cls, dfl))
