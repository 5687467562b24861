"""YOLOv9 detection loss: task-aligned assignment, then BCE class loss, CIoU box loss and DFL.

A single-branch head (DDetect) gives one loss; a dual head (DualDDetect, PGI) gives
``aux_weight * aux + main`` per component, each branch with its own assignment. The three components are
multiplied by their gains (box 7.5, cls 0.5, dfl 1.5 in YOLOv9's recipe) and the total is scaled by the batch
size. Gains, the auxiliary weight and the assigner's settings come from the configuration
(:class:`focalyolo.cfg.TrainConfig`, groups ``loss`` and ``assigner``).

Shapes: B images, A anchors over all levels, M GT slots per image, C classes, R = reg_max bins per side.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.boxes import bbox2dist, bbox_ciou, dist2bbox, make_anchors, xywh2xyxy
from .assigner import TaskAlignedAssigner

__all__ = [
    "Assignment", "DetectionLoss", "GAIN_KEYS", "dfl_loss", "expected_distances", "flatten_levels", "group_by_image",
    "pad_targets",
]

GAIN_KEYS = ("box", "cls", "dfl")


def group_by_image(rows: torch.Tensor, image_idx: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a flat batch -> one padded slot list per image.

    Args:
        rows: (N, ...) one row per target.
        image_idx: (N,) int64 the image of each row.
        batch_size: B.

    Returns:
        (B, M, ...) rows, each image's in their original order, zeros in the unused slots, and (B, M) bool marking
        the used slots; M is the largest number of rows of one image (0 for an empty batch).
    """
    counts = torch.bincount(image_idx, minlength=batch_size)
    most = int(counts.max()) if rows.shape[0] else 0
    order = torch.argsort(image_idx, stable=True)
    image_idx = image_idx[order]
    first_row = counts.cumsum(0) - counts
    slot = torch.arange(rows.shape[0], device=rows.device) - first_row[image_idx]
    padded = rows.new_zeros(batch_size, most, *rows.shape[1:])
    padded[image_idx, slot] = rows[order]
    return padded, torch.arange(most, device=rows.device) < counts[:, None]


def pad_targets(
    targets: torch.Tensor, batch_size: int, imgsz: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Group flat normalised targets per image (:func:`group_by_image`).

    Args:
        targets: (N, 6) rows [batch_idx, cls, cx, cy, w, h], box normalised to the input image.
        batch_size: B.
        imgsz: (2,) input (height, width) in pixels.

    Returns:
        gt_labels (B, M, 1), gt_bboxes (B, M, 4) xyxy in pixels, mask_gt (B, M, 1) bool, where M is the
        largest number of boxes in one image (0 for an empty batch); padded slots are zeros.
    """
    padded, used = group_by_image(targets[:, 1:], targets[:, 0].long(), batch_size)
    scale = imgsz.flip(0).repeat(2).to(targets.dtype)
    gt_bboxes = xywh2xyxy(padded[..., 1:] * scale)
    return padded[..., :1], gt_bboxes, used[..., None]


def expected_distances(box_logits: torch.Tensor, reg_max: int) -> torch.Tensor:
    """(..., 4 * R) per-side bin logits -> (..., 4) expected ltrb distance (softmax over bins 0..R-1)."""
    bins = torch.arange(reg_max, dtype=box_logits.dtype, device=box_logits.device)
    probs = box_logits.unflatten(-1, (4, reg_max)).softmax(-1)
    return probs @ bins


def dfl_loss(box_logits: torch.Tensor, target_ltrb: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss, mean over the four sides.

    Args:
        box_logits: (n, 4, R) bin logits.
        target_ltrb: (n, 4) target distances in bins, within [0, R - 1).

    Returns:
        (n,) sum over the two bins around each target of CE(bin) weighted by linear interpolation.
    """
    left = target_ltrb.long()
    weight_left = left + 1 - target_ltrb
    logits = box_logits.flatten(0, 1)
    ce_left = F.cross_entropy(logits, left.flatten(), reduction="none").view_as(left)
    ce_right = F.cross_entropy(logits, (left + 1).flatten(), reduction="none").view_as(left)
    return (ce_left * weight_left + ce_right * (1 - weight_left)).mean(-1)


def flatten_levels(feats: list[torch.Tensor], reg_max: int, nc: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-level maps (B, 4R + C, H_i, W_i) -> box logits (B, A, 4R) and class logits (B, A, C), as float32."""
    flat = torch.cat([f.flatten(2) for f in feats], dim=2).float()
    box, cls = flat.split((4 * reg_max, nc), dim=1)
    return box.transpose(1, 2), cls.transpose(1, 2)


class Assignment(NamedTuple):
    """Which ground truth each anchor of a branch learns from: ``fg_mask`` (B, A) bool, ``gt_index`` (B, A) long
    (the GT slot of :func:`pad_targets`), ``boxes`` (B, A, 4) xyxy of the assigned GT in input pixels."""

    fg_mask: torch.Tensor
    gt_index: torch.Tensor
    boxes: torch.Tensor


class DetectionLoss:
    """Loss of a DDetect / DualDDetect head in train mode.

    Args:
        head: the detection head; ``nc``, ``reg_max`` and ``is_dual`` are read now, ``stride`` at every call.
        hyp: the resolved hyper-parameters (``focalyolo.cfg.load_hyp()`` or a run's; no key is filled in here);
            read: gains ``box``, ``cls``, ``dfl``, ``aux_weight`` and the assigner's ``topk``, ``alpha``, ``beta``.
    """

    assigner_type: type[TaskAlignedAssigner] = TaskAlignedAssigner
    """The assignment of each branch (the oriented-box loss assigns by rotated boxes)."""

    def __init__(self, head: nn.Module, hyp: Mapping[str, Any]):
        self.hyp = hyp
        self.head = head
        self.nc: int = head.nc
        self.reg_max: int = head.reg_max
        self.is_dual: bool = bool(getattr(head, "is_dual", False))
        self.gains = torch.tensor([float(hyp[k]) for k in GAIN_KEYS])
        self.branch_weights = (float(hyp["aux_weight"]), 1.0) if self.is_dual else (1.0,)
        self.assigners = [self.assigner_type(topk=int(hyp["topk"]), num_classes=self.nc, alpha=float(hyp["alpha"]),
                                              beta=float(hyp["beta"])) for _ in self.branch_weights]
        self.bce = nn.BCEWithLogitsLoss(reduction="none")
        self._strides: tuple[tuple, list[float]] = ((), [])

    def __call__(self, preds: list, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss.

        Args:
            preds: train-mode head output: a list of (B, 4R + C, H_i, W_i) maps, or ``[aux_maps, main_maps]``.
            targets: (N, 6) rows [batch_idx, cls, cx, cy, w, h], box normalised to the input image.

        Returns:
            loss: scalar, (gain-weighted box + cls + dfl) * B, with grad.
            loss_items: (3,) detached gain-weighted [box, cls, dfl].
        """
        branches = preds if self.is_dual else [preds]
        batch, stride, gt = self.prepare(branches[0][0], targets)
        parts = sum(
            weight * self.branch_loss(feats, gt, stride, assigner)[0]
            for weight, feats, assigner in zip(self.branch_weights, branches, self.assigners)
        )
        items = parts * self.gains.to(stride.device, non_blocking=True)
        return items.sum() * batch, items.detach()

    def host_strides(self) -> list[float]:
        """The head's level strides as Python numbers, read from the device once (not at every step); ValueError
        unless all are positive."""
        stride = self.head.stride
        key = (stride.data_ptr(), stride._version, stride.device)
        if key != self._strides[0]:
            values = stride.tolist()
            if not all(v > 0 for v in values):
                raise ValueError(f"head.stride must be set (positive) before computing the loss, got {values}")
            self._strides = (key, values)
        return self._strides[1]

    @staticmethod
    def pad_targets(targets: torch.Tensor, batch_size: int, imgsz: torch.Tensor) -> tuple:
        """The loss's targets grouped per image in pixels (:func:`pad_targets` here, rotated boxes for OBB)."""
        return pad_targets(targets, batch_size, imgsz)

    def prepare(self, first_map: torch.Tensor, targets: torch.Tensor) -> tuple[int, torch.Tensor, tuple]:
        """Batch size, level strides (checked, on the device) and the padded ground truth (:meth:`pad_targets`) of
        a batch whose first level map is ``first_map`` (B, ·, H_0, W_0).

        Targets still on the host are padded there (the padding's size is then known without a device read) and
        copied over without waiting for the device's queue."""
        batch, device = first_map.shape[0], first_map.device
        strides = self.host_strides()
        imgsz = torch.tensor(first_map.shape[-2:], dtype=torch.float32, device=targets.device) * strides[0]
        gt = self.pad_targets(targets.float(), batch, imgsz)
        stride = torch.tensor(strides, dtype=torch.float32).to(device, non_blocking=True)
        return batch, stride, tuple(t.to(device, non_blocking=True) for t in gt)

    def branch_loss(
        self,
        feats: list[torch.Tensor],
        gt: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        stride: torch.Tensor,
        assigner: TaskAlignedAssigner,
    ) -> tuple[torch.Tensor, Assignment]:
        """Unweighted (3,) [box, cls, dfl] of one branch (``gt``: the output of :func:`pad_targets`), and the
        assignment it was computed with (other tasks' terms use it).

        The box and DFL terms are summed over every anchor with the anchor's target score as weight (0 off the
        foreground) rather than over the foreground anchors picked out: the same sums, without the host read
        that picking a data-dependent number of rows needs."""
        box_logits, cls_logits = flatten_levels(feats, self.reg_max, self.nc)
        anchors, anchor_stride = make_anchors(feats, self.host_strides(), 0.5)
        anchors, anchor_stride = anchors.float(), anchor_stride.float()
        pred_bboxes = dist2bbox(expected_distances(box_logits, self.reg_max), anchors, xywh=False)

        gt_labels, gt_bboxes, mask_gt = gt
        _, target_pixels, target_scores, fg_mask, target_gt_idx = assigner(
            cls_logits.detach().sigmoid(),
            pred_bboxes.detach() * anchor_stride,
            anchors * anchor_stride,
            gt_labels,
            gt_bboxes,
            mask_gt,
        )
        target_bboxes = target_pixels / anchor_stride
        score_sum = target_scores.sum().clamp(min=1)
        cls = self.bce(cls_logits, target_scores).sum() / score_sum

        weight = target_scores.sum(-1)  # (B, A)
        ciou = bbox_ciou(pred_bboxes, target_bboxes).squeeze(-1)
        box = ((1.0 - ciou) * weight).sum() / score_sum
        target_ltrb = bbox2dist(anchors, target_bboxes, self.reg_max - 1).flatten(0, 1)
        logits = box_logits.flatten(0, 1).unflatten(-1, (4, self.reg_max))
        dfl = (dfl_loss(logits, target_ltrb) * weight.flatten()).sum() / score_sum
        return torch.stack((box, cls, dfl)), Assignment(fg_mask, target_gt_idx, target_pixels)
