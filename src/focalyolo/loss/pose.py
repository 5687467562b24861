"""Pose loss: the detection loss plus YOLO-Pose's keypoint terms (Maji et al., 2022, arXiv 2204.06806) on the same
assignment.

For every foreground anchor, with the keypoints of the object it is assigned to:

- ``pose``: 1 - OKS of the predicted keypoints against the labelled ones (v > 0), the object's area being its
  box's and the sigmas :func:`focalyolo.utils.keypoints.keypoint_sigmas` (COCO's for 17 points, else 1 / nk);
  summed over the anchors whose object has a labelled keypoint and divided by all the foreground anchors, so an
  object without labelled keypoints (COCO's persons with ``num_keypoints = 0``) adds 0 to the sum and 1 to the
  count, as in Ultralytics, whose ``pose`` gain (12.0) was tuned with that average. OKS is scale-invariant and,
  unlike an L1 distance, weighs each keypoint by how precisely it can be placed.
- ``kobj`` (3-value keypoints only): BCE of each keypoint's visibility logit against "labelled and inside the
  image" (v > 0), the mean over the anchors' keypoints.

Items: [box, pose, kobj, cls, dfl], each times its gain (``box``, ``pose``, ``kobj``, ``cls``, ``dfl``); a dual head
(PGI) weighs each branch's five terms by ``aux_weight`` and 1; total = their sum x B, as for detection.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.boxes import make_anchors
from ..utils.keypoints import decode_keypoints, keypoint_oks, keypoint_sigmas
from .detection import Assignment, DetectionLoss, group_by_image

__all__ = ["PoseLoss", "keypoint_terms"]


def keypoint_terms(pred: torch.Tensor, target: torch.Tensor, boxes: torch.Tensor,
                   sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The unweighted (pose, kobj) terms of n foreground anchors.

    Args:
        pred: (n, nk, ndim) predicted x, y in pixels (and the visibility logit when ndim is 3).
        target: (n, nk, 3) the assigned objects' keypoints x, y (pixels), v.
        boxes: (n, 4) the assigned objects' boxes, xyxy pixels (their areas scale the OKS).
        sigmas: (nk,) OKS sigmas.

    Returns:
        pose: 1 - OKS summed over the anchors whose object has a labelled keypoint, divided by all n anchors (an
            anchor of an object without labelled keypoints counts as 0; 0 if no object has one);
        kobj: mean visibility BCE over every keypoint (0 for 2-value keypoints).
    """
    labelled = target[..., 2] > 0
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    scored = labelled.any(-1)
    oks = keypoint_oks(pred[scored], target[scored], areas[scored], sigmas)
    pose = (1 - oks).sum() / len(pred) if bool(scored.any()) else pred.sum() * 0.0
    if pred.shape[-1] < 3:
        return pose, pred.new_zeros(())
    return pose, F.binary_cross_entropy_with_logits(pred[..., 2], labelled.to(pred.dtype))


class PoseLoss(DetectionLoss):
    """Loss of a DPose / DualDPose head in train mode (see the module docstring).

    Args:
        head: the pose head (``kpt_shape`` is read now).
        hyp: as :class:`DetectionLoss`, plus the gains ``pose`` and ``kobj``.
    """

    def __init__(self, head: nn.Module, hyp: Mapping[str, Any]):
        super().__init__(head, hyp)
        self.nk, self.ndim = head.kpt_shape
        self.keypoint_gains = (float(self.hyp["pose"]), float(self.hyp["kobj"]))
        self.sigmas = torch.from_numpy(keypoint_sigmas(self.nk)).float()

    def __call__(self, preds: tuple, targets: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss.

        Args:
            preds: train-mode head output ``(maps, keypoints)``: level maps as for detection and the raw keypoints
                (B, nk * ndim, A); each ``[aux, main]`` for a dual head.
            targets: ``(boxes, keypoints)``: (N, 6) rows [batch_idx, cls, cx, cy, w, h] and (N, nk, 3) x, y, v, both
                normalised to the input image, in the same row order.

        Returns:
            loss: scalar, (gain-weighted box + pose + kobj + cls + dfl) * B, with grad.
            loss_items: (5,) detached gain-weighted [box, pose, kobj, cls, dfl].
        """
        maps, keypoints = preds
        branches = list(zip(maps, keypoints)) if self.is_dual else [(maps, keypoints)]
        boxes, gt_keypoints = targets
        batch, stride, gt = self.prepare(branches[0][0][0], boxes)
        # grouped where the targets are (on the host, the group size needs no device read), then copied over
        imgsz = torch.tensor(branches[0][0][0].shape[-2:], dtype=torch.float32) * self.host_strides()[0]
        pixels = gt_keypoints.float() * torch.cat((imgsz.flip(0), imgsz.new_ones(1))).to(gt_keypoints.device)
        per_image, _ = group_by_image(pixels, boxes[:, 0].long().to(gt_keypoints.device), batch)
        per_image = per_image.to(stride.device, non_blocking=True)
        parts = sum(
            weight * self._branch(level_maps, raw, gt, stride, assigner, per_image)
            for weight, (level_maps, raw), assigner in zip(self.branch_weights, branches, self.assigners)
        )
        box, cls, dfl = self.gains.to(stride.device)
        gains = torch.stack((box, box.new_tensor(self.keypoint_gains[0]), box.new_tensor(self.keypoint_gains[1]),
                             cls, dfl))
        items = parts * gains
        return items.sum() * batch, items.detach()

    def _branch(self, level_maps: list[torch.Tensor], raw: torch.Tensor, gt: tuple, stride: torch.Tensor,
                assigner: nn.Module, keypoints: torch.Tensor) -> torch.Tensor:
        """Unweighted (5,) [box, pose, kobj, cls, dfl] of one branch; ``keypoints`` (B, M, nk, 3) in pixels, in the
        slots of the padded ground truth ``gt``."""
        terms, assignment = self.branch_loss(level_maps, gt, stride, assigner)
        anchors, anchor_stride = make_anchors(level_maps, self.host_strides(), 0.5)
        pred = decode_keypoints(raw.float(), anchors.float(), anchor_stride.float(), self.ndim, visibility_logits=True)
        pred = pred.unflatten(1, (self.nk, self.ndim)).permute(0, 3, 1, 2)  # (B, A, nk, ndim)
        pose, kobj = self._keypoint_terms(pred, assignment, keypoints)
        return torch.cat((terms[:1], pose[None], kobj[None], terms[1:]))

    def _keypoint_terms(self, pred: torch.Tensor, assignment: Assignment,
                        keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fg = assignment.fg_mask
        if not bool(fg.any()):  # every prediction stays in the graph
            return pred.sum() * 0.0, pred.sum() * 0.0
        images = torch.arange(fg.shape[0], device=fg.device)[:, None].expand_as(fg)
        target = keypoints[images[fg], assignment.gt_index[fg]]
        return keypoint_terms(pred[fg], target, assignment.boxes[fg], self.sigmas.to(pred.device))
