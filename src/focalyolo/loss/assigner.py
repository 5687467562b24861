"""Task-aligned label assignment (TOOD, Feng et al. 2021) as used by YOLOv9's loss.

Each ground-truth box (GT) picks the ``topk`` anchors whose centre lies inside it and whose prediction
best aligns with it, where alignment = score_of_gt_class^alpha * CIoU(gt, pred)^beta. An anchor picked
by several GTs keeps the one it overlaps most. Picked anchors get a soft one-hot class target scaled so
that each GT's best-aligned anchor receives that GT's best overlap. Which anchors a GT may pick and the overlap are
two methods (:meth:`TaskAlignedAssigner.inside`, :meth:`TaskAlignedAssigner.overlap`), which the rotated boxes'
assigner (:mod:`focalyolo.loss.obb`) replaces.

Shapes: B images, A anchors, M GT slots per image (padded; ``mask_gt`` marks the real ones), C classes.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..utils.boxes import bbox_ciou

__all__ = ["TaskAlignedAssigner", "anchors_inside_boxes", "topk_mask"]


def anchors_inside_boxes(anc_points: torch.Tensor, gt_bboxes: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Which anchor centres lie strictly inside which GT boxes.

    Args:
        anc_points: (A, 2) anchor centres (x, y) in pixels.
        gt_bboxes: (B, M, 4) xyxy GT boxes in pixels.

    Returns:
        (B, M, A) bool, true where the smallest of the four centre-to-side distances exceeds ``eps``.
    """
    points = anc_points[None, None]
    deltas = torch.cat((points - gt_bboxes[:, :, None, :2], gt_bboxes[:, :, None, 2:] - points), dim=-1)
    return deltas.amin(dim=-1) > eps


def topk_mask(metric: torch.Tensor, k: int) -> torch.Tensor:
    """(B, M, A) metric -> (B, M, A) bool marking, for each GT row, its ``k`` largest entries (k <= A)."""
    idx = metric.topk(k, dim=-1).indices
    return torch.zeros_like(metric, dtype=torch.bool).scatter_(-1, idx, True)


class TaskAlignedAssigner(nn.Module):
    """Assigns GT boxes to anchors by the task-alignment metric (YOLOv9 settings: topk=10, alpha=0.5, beta=6)."""

    def __init__(self, topk: int = 10, num_classes: int = 80, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9):
        super().__init__()
        self.topk = topk
        self.num_classes = num_classes
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    @torch.no_grad()
    def forward(
        self,
        pd_scores: torch.Tensor,
        pd_bboxes: torch.Tensor,
        anc_points: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_bboxes: torch.Tensor,
        mask_gt: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Assign targets to every anchor of every image.

        Args:
            pd_scores: (B, A, C) predicted class probabilities (after sigmoid).
            pd_bboxes: (B, A, 4) predicted xyxy boxes in pixels.
            anc_points: (A, 2) anchor centres in pixels.
            gt_labels: (B, M, 1) GT class indices (any value in padded slots).
            gt_bboxes: (B, M, 4) xyxy GT boxes in pixels.
            mask_gt: (B, M, 1) 1/true for real GTs, 0/false for padding.

        Returns:
            target_labels: (B, A) long, class of the assigned GT (0 on background anchors).
            target_bboxes: (B, A, 4) xyxy box of the assigned GT in pixels (0 on background anchors).
            target_scores: (B, A, C) soft one-hot class targets (all 0 on background anchors).
            fg_mask: (B, A) bool, true on anchors assigned to a GT.
            target_gt_idx: (B, A) long, index into M of the assigned GT (0 on background anchors).
        """
        batch, num_anchors, _ = pd_scores.shape
        if gt_bboxes.shape[1] == 0:
            return self._empty(batch, num_anchors, gt_bboxes.shape[-1], pd_scores)

        labels = gt_labels.long().squeeze(-1).clamp(0, self.num_classes - 1)
        candidates = self.inside(anc_points, gt_bboxes) & mask_gt.bool()
        overlaps, align = self._alignment(pd_scores, pd_bboxes, labels, gt_bboxes, candidates)

        mask_pos = topk_mask(align, min(self.topk, num_anchors)) & candidates
        mask_pos = self._resolve_conflicts(mask_pos, overlaps)

        fg_mask = mask_pos.any(dim=1)
        target_gt_idx = mask_pos.long().argmax(dim=1)
        target_labels = labels.gather(1, target_gt_idx) * fg_mask
        target_bboxes = gt_bboxes.gather(1, target_gt_idx[..., None].expand(-1, -1, gt_bboxes.shape[-1]))
        target_bboxes = target_bboxes * fg_mask[..., None]
        score_scale = self._score_scale(align, overlaps, mask_pos)
        target_scores = pd_scores.new_zeros(batch, num_anchors, self.num_classes)  # one-hot, without one_hot's check
        target_scores.scatter_(-1, target_labels[..., None], (score_scale * fg_mask)[..., None].to(pd_scores.dtype))
        return target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx

    def _alignment(
        self,
        pd_scores: torch.Tensor,
        pd_bboxes: torch.Tensor,
        labels: torch.Tensor,
        gt_bboxes: torch.Tensor,
        candidates: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, M, A) overlaps = :meth:`overlap` (gt, pred) >= 0 and align = score^alpha * overlap^beta, 0 off
        ``candidates``.

        Both are computed only on the candidate pairs (anchor centre inside a real GT), a few percent of all
        B * M * A pairs, and scattered into zero tensors.
        """
        b, m, a = candidates.nonzero(as_tuple=True)
        ciou = self.overlap(gt_bboxes[b, m], pd_bboxes[b, a]).clamp_(min=0).to(pd_scores.dtype)
        scores = pd_scores[b, a, labels[b, m]]
        overlaps = torch.zeros(candidates.shape, dtype=pd_scores.dtype, device=pd_scores.device)
        align = torch.zeros_like(overlaps)
        overlaps[b, m, a] = ciou
        align[b, m, a] = scores.pow(self.alpha) * ciou.pow(self.beta)
        return overlaps, align

    def inside(self, anc_points: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """(A, 2) anchor centres, (B, M, 4) xyxy GT boxes -> (B, M, A) bool, the anchors a GT may pick."""
        return anchors_inside_boxes(anc_points, gt_bboxes, self.eps)

    @staticmethod
    def overlap(gt_bboxes: torch.Tensor, pd_bboxes: torch.Tensor) -> torch.Tensor:
        """(n, 4) and (n, 4) xyxy GT and predicted boxes, paired -> (n,) CIoU, the overlap of the alignment metric."""
        return bbox_ciou(gt_bboxes, pd_bboxes).squeeze(-1)

    @staticmethod
    def _resolve_conflicts(mask_pos: torch.Tensor, overlaps: torch.Tensor) -> torch.Tensor:
        """(B, M, A) bool -> same, where an anchor picked by several GTs keeps only its highest-overlap picker.

        The choice is made among the GTs that picked the anchor, so every assigned box contains its anchor.
        The official code takes the argmax over all GTs' overlaps, which can hand an anchor to a GT that
        did not pick it; both agree whenever the highest-overlap GT is one of the pickers.
        """
        contested = mask_pos.sum(dim=1, keepdim=True) > 1
        best = overlaps.masked_fill(~mask_pos, -1.0).argmax(dim=1, keepdim=True)
        keep_best = torch.zeros_like(mask_pos).scatter_(1, best, True)
        return torch.where(contested, keep_best, mask_pos)

    def _score_scale(self, align: torch.Tensor, overlaps: torch.Tensor, mask_pos: torch.Tensor) -> torch.Tensor:
        """(B, A) target-score scale: max over GTs of align * max_overlap_of_gt / (max_align_of_gt + eps)."""
        align = align * mask_pos
        max_align = align.amax(dim=-1, keepdim=True)
        max_overlap = (overlaps * mask_pos).amax(dim=-1, keepdim=True)
        return (align * max_overlap / (max_align + self.eps)).amax(dim=1)

    def _empty(
        self, batch: int, num_anchors: int, box_size: int, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """All-background result for a batch without any GT slot."""
        device = like.device
        zeros_long = torch.zeros(batch, num_anchors, dtype=torch.long, device=device)
        return (
            zeros_long,
            torch.zeros(batch, num_anchors, box_size, dtype=like.dtype, device=device),
            torch.zeros(batch, num_anchors, self.num_classes, dtype=like.dtype, device=device),
            torch.zeros(batch, num_anchors, dtype=torch.bool, device=device),
            zeros_long.clone(),
        )
