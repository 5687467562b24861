"""Post-processing of decoded head outputs: confidence filter + NMS, and mapping boxes back to the image.

The eval-mode head returns (B, 4 + nc, A): xywh boxes in input pixels, then per-class scores (a segmentation
head appends ``nm`` mask coefficients). NMS turns that into one (n, 6) tensor per image with rows
``[x1, y1, x2, y2, score, cls]`` (plus the coefficients), best score first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import batched_nms, nms

from focalyolo.utils.boxes import xywh2xyxy

__all__ = ["clip_boxes", "nms_candidates", "non_max_suppression", "scale_boxes"]


def nms_candidates(
    scores: torch.Tensor, conf: float, multi_label: bool, keep_classes: torch.Tensor | None, max_nms: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The candidates of one image that NMS (axis-aligned or rotated) sorts out.

    Args:
        scores: (A, nc) class scores.
        conf: keep scores strictly above this.
        multi_label: True keeps every (box, class) pair above the threshold, False only each box's best class.
        keep_classes: (k,) class ids to keep, or None for all.
        max_nms: at most this many, the highest scores.

    Returns:
        anchor indices (n,), scores (n,), classes (n,) int64.
    """
    if multi_label:
        anchor, cls = (scores > conf).nonzero(as_tuple=True)
        best = scores[anchor, cls]
    else:
        best, cls = scores.max(dim=1)
        anchor = (best > conf).nonzero(as_tuple=True)[0]
        best, cls = best[anchor], cls[anchor]
    if keep_classes is not None:
        wanted = torch.isin(cls, keep_classes)
        anchor, best, cls = anchor[wanted], best[wanted], cls[wanted]
    if best.numel() > max_nms:
        top = best.topk(max_nms).indices
        anchor, best, cls = anchor[top], best[top], cls[top]
    return anchor, best, cls


def non_max_suppression(
    prediction: torch.Tensor,
    conf: float = 0.25,
    iou: float = 0.7,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    multi_label: bool = False,
    max_det: int = 300,
    max_nms: int = 30000,
    nm: int = 0,
) -> list[torch.Tensor]:
    """Confidence filter and per-class NMS of a batch of decoded predictions.

    Args:
        prediction: (B, 4 + nc + nm, A) xywh boxes in pixels, class scores in [0, 1], then ``nm`` extra
            values per anchor (a segmentation head's mask coefficients) carried along unchanged.
        conf: minimum score (exclusive) of a candidate.
        iou: boxes overlapping a better one by more than this IoU are suppressed.
        classes: keep only these class indices (None keeps all).
        agnostic: True suppresses across classes (one plain NMS), False only within a class.
        multi_label: True makes every (box, class) pair with score > ``conf`` a candidate.
        max_det: most detections kept per image.
        max_nms: most candidates (highest scores) passed to NMS per image.
        nm: number of extra values at the end of each anchor's column.

    Returns:
        B tensors (n_i, 6 + nm) float32, rows ``[x1, y1, x2, y2, score, cls, extra...]`` by descending score.
    """
    if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
        raise ValueError(f"conf and iou must be in [0, 1], got {conf} and {iou}")
    if prediction.dim() != 3 or prediction.shape[1] < 5 + nm:
        raise ValueError(f"prediction must be (B, 4 + nc + {nm}, A), got {tuple(prediction.shape)}")
    pred = prediction.detach().float().transpose(1, 2)
    score_end = pred.shape[2] - nm
    keep_classes = None if classes is None else torch.as_tensor(classes, device=pred.device)
    out = []
    for x in pred:
        anchor, scores, cls = nms_candidates(x[:, 4:score_end], conf, multi_label, keep_classes, max_nms)
        boxes = xywh2xyxy(x[anchor, :4])
        kept = nms(boxes, scores, iou) if agnostic else batched_nms(boxes, scores, cls, iou)
        kept = kept[:max_det]
        out.append(torch.cat((boxes[kept], scores[kept, None], cls[kept, None].float(), x[anchor[kept], score_end:]),
                             dim=1))
    return out


def clip_boxes(boxes: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Clip (..., 4) xyxy boxes in place to an image of ``shape`` (h, w); returns ``boxes``."""
    h, w = shape[:2]
    boxes[..., 0::2] = boxes[..., 0::2].clamp(0, w)
    boxes[..., 1::2] = boxes[..., 1::2].clamp(0, h)
    return boxes


def scale_boxes(
    img1_shape: tuple[int, int],
    boxes: torch.Tensor,
    img0_shape: tuple[int, int],
    ratio_pad: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> torch.Tensor:
    """Undo a letterbox: map xyxy boxes from the network input back to the original image, then clip.

    Args:
        img1_shape: (h, w) of the letterboxed network input the boxes refer to.
        boxes: (..., 4) xyxy in ``img1_shape`` pixels (or (..., 2) xy points, e.g. keypoints); modified in place
            and returned.
        img0_shape: (h0, w0) of the original image.
        ratio_pad: ``((gain_h, gain_w), (pad_w, pad_h))`` as applied by the letterbox (left/top padding).
            None assumes one uniform gain ``min(h / h0, w / w0)`` and the padding split evenly on both sides.

    Returns:
        ``boxes`` in original-image pixels, clipped to ``img0_shape``.
    """
    if ratio_pad is None:
        gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
        gain_h = gain_w = gain
        pad_w = (img1_shape[1] - img0_shape[1] * gain) / 2
        pad_h = (img1_shape[0] - img0_shape[0] * gain) / 2
    else:
        (gain_h, gain_w), (pad_w, pad_h) = ratio_pad
    boxes[..., 0::2] = (boxes[..., 0::2] - pad_w) / gain_w
    boxes[..., 1::2] = (boxes[..., 1::2] - pad_h) / gain_h
    return clip_boxes(boxes, img0_shape)
