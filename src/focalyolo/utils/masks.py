"""Instance masks from prototypes: assembly, cropping, the letterbox round trip, IoU, polygons and RLE.

A segmentation head predicts ``nm`` prototype masks per image at stride 4 and ``nm`` coefficients per
detection; a detection's mask is ``sigmoid(coefficients @ protos)`` kept inside its box and thresholded at 0.5.
Validation scores masks on the prototype grid (fast, the loader's masks are there too); prediction and the
pycocotools figures upsample them to the network input, then map them to the original image.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["crop_to_boxes", "instance_masks", "mask_iou", "masks_in_original", "masks_to_original",
           "masks_to_polygons", "masks_to_rle", "overlap_to_instances"]

RatioPad = tuple[tuple[float, float], tuple[float, float]]


def crop_to_boxes(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero ``maps`` (n, h, w) outside each box (n, 4) xyxy in grid units: pixel (x, y) stays when
    x1 <= x < x2 and y1 <= y < y2."""
    _, h, w = maps.shape
    x1, y1, x2, y2 = boxes[:, :, None, None].unbind(1)
    cols = torch.arange(w, device=maps.device, dtype=boxes.dtype)
    rows = torch.arange(h, device=maps.device, dtype=boxes.dtype)[:, None]
    return maps * ((cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2))


def instance_masks(protos: torch.Tensor, coefficients: torch.Tensor, boxes: torch.Tensor, input_hw: tuple[int, int],
                   upsample: bool = False) -> torch.Tensor:
    """Binary masks of one image's detections.

    Args:
        protos: (nm, h, w) the image's prototypes (stride 4).
        coefficients: (n, nm) the detections' mask coefficients.
        boxes: (n, 4) xyxy in network-input pixels.
        input_hw: (H, W) of the network input.
        upsample: False gives masks on the prototype grid (h, w); True upsamples the probabilities bilinearly
            to (H, W) before cropping and thresholding (prediction, pycocotools).

    Returns:
        (n, h, w) or (n, H, W) bool, True inside the box where the mask probability exceeds 0.5.
    """
    nm, h, w = protos.shape
    probs = (coefficients.float() @ protos.float().reshape(nm, -1)).sigmoid().view(-1, h, w)
    boxes = boxes.float()
    if upsample:
        probs = F.interpolate(probs[None], size=input_hw, mode="bilinear", align_corners=False)[0]
    else:
        boxes = boxes * boxes.new_tensor([w / input_hw[1], h / input_hw[0]]).repeat(2)
    return crop_to_boxes(probs, boxes) > 0.5


def masks_to_original(masks: torch.Tensor, input_hw: tuple[int, int], original_hw: tuple[int, int],
                      ratio_pad: RatioPad) -> torch.Tensor:
    """Undo a letterbox on masks: (n, H', W') masks over the network input (any multiple of its grid, e.g. the
    prototype grid) -> (n, h0, w0) bool over the original image (padding cut off, bilinear resize, > 0.5).

    ``ratio_pad`` is ``((gain_h, gain_w), (pad_w, pad_h))`` in network-input pixels (see ``scale_boxes``).
    """
    (gain_h, gain_w), (pad_w, pad_h) = ratio_pad
    h0, w0 = original_hw
    sy, sx = masks.shape[-2] / input_hw[0], masks.shape[-1] / input_hw[1]
    top, left = int(round(pad_h * sy)), int(round(pad_w * sx))
    bottom = max(int(round((pad_h + h0 * gain_h) * sy)), top + 1)
    right = max(int(round((pad_w + w0 * gain_w) * sx)), left + 1)
    inner = masks[:, top:bottom, left:right].float()
    if not len(inner):
        return torch.zeros((0, h0, w0), dtype=torch.bool, device=masks.device)
    return F.interpolate(inner[None], size=(h0, w0), mode="bilinear", align_corners=False)[0] > 0.5


def masks_in_original(protos: torch.Tensor, coefficients: torch.Tensor, boxes: torch.Tensor,
                      input_hw: tuple[int, int], original_hw: tuple[int, int], ratio_pad: RatioPad,
                      chunk: int = 32) -> torch.Tensor:
    """One image's detection masks over its original image: assembled and cropped at the network input's
    resolution (:func:`instance_masks` with ``upsample``), then mapped back (:func:`masks_to_original`), ``chunk``
    detections at a time to bound the memory of the input-size probabilities. Returns (n, h0, w0) bool."""
    parts = [
        masks_to_original(instance_masks(protos, coefficients[k:k + chunk], boxes[k:k + chunk], input_hw, True),
                          input_hw, original_hw, ratio_pad)
        for k in range(0, len(coefficients), chunk)
    ]
    return torch.cat(parts) if parts else torch.zeros((0, *original_hw), dtype=torch.bool, device=protos.device)


def overlap_to_instances(index_mask: torch.Tensor, n: int) -> torch.Tensor:
    """An index-coded (h, w) mask (value j + 1 = instance j) -> (n, h, w) bool masks."""
    return index_mask[None] == torch.arange(1, n + 1, device=index_mask.device).view(-1, 1, 1)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every pair of (n, h, w) and (m, h, w) binary masks -> (n, m) float (0 where both are empty)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None] - inter
    return inter / union.clamp(min=1e-9)


def masks_to_polygons(masks: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """The outline of each (n, h, w) binary mask: its largest external contour through the centres of its border
    pixels, as (k, 2) float32 x, y in continuous pixel coordinates (pixel i spans [i, i + 1)); an empty mask gives
    an empty (0, 2) array."""
    masks = masks.cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    polygons = []
    for mask in masks.astype(np.uint8):
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if contours:
            polygons.append(max(contours, key=len).reshape(-1, 2).astype(np.float32) + 0.5)
        else:
            polygons.append(np.zeros((0, 2), np.float32))
    return polygons


def masks_to_rle(masks: np.ndarray | torch.Tensor) -> list[dict]:
    """COCO run-length encodings (``{"size": [h, w], "counts": str}``) of (n, h, w) binary masks."""
    from pycocotools import mask as mask_utils

    masks = masks.cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    if not len(masks):
        return []
    encoded = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return [{"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")} for rle in encoded]
