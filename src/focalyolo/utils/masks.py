"""Instance masks from prototypes: assembly, cropping, the letterbox round trip, IoU, polygons and RLE.

A segmentation head predicts ``nm`` prototype masks per image at stride 4 and ``nm`` coefficients per
detection; a detection's mask is ``sigmoid(coefficients @ protos)`` kept inside its box and thresholded at 0.5.
Validation scores masks on the prototype grid (fast, the loader's masks are there too); prediction and the
pycocotools figures resample the probabilities straight to the original image's pixels through the letterbox
(one bilinear step), then crop and threshold there.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["crop_to_boxes", "instance_masks", "mask_iou", "mask_outlines", "mask_probabilities", "masks_in_original",
           "masks_to_polygons", "masks_to_rle", "overlap_to_instances", "to_original"]

RatioPad = tuple[tuple[float, float], tuple[float, float]]


def crop_to_boxes(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero ``maps`` (n, h, w) outside each box (n, 4) xyxy in grid units (cell i spans [i, i + 1)): a cell stays
    when its centre lies in the box, x1 <= x + 0.5 < x2 and y1 <= y + 0.5 < y2, the rule the label masks are
    rasterised by (the official crop tests the cell's corner, x1 <= x < x2, half a cell off)."""
    _, h, w = maps.shape
    x1, y1, x2, y2 = boxes[:, :, None, None].unbind(1)
    cols = torch.arange(w, device=maps.device, dtype=boxes.dtype) + 0.5
    rows = torch.arange(h, device=maps.device, dtype=boxes.dtype)[:, None] + 0.5
    return maps * ((cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2))


def mask_probabilities(protos: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """(nm, h, w) prototypes, (n, nm) coefficients -> (n, h, w) float mask probabilities on the prototype grid."""
    nm, h, w = protos.shape
    return (coefficients.float() @ protos.float().reshape(nm, -1)).sigmoid().view(-1, h, w)


def instance_masks(protos: torch.Tensor, coefficients: torch.Tensor, boxes: torch.Tensor,
                   input_hw: tuple[int, int]) -> torch.Tensor:
    """Binary masks of one image's detections on the prototype grid (what validation matches).

    Args:
        protos: (nm, h, w) the image's prototypes (stride 4).
        coefficients: (n, nm) the detections' mask coefficients.
        boxes: (n, 4) xyxy in network-input pixels.
        input_hw: (H, W) of the network input.

    Returns:
        (n, h, w) bool, True inside the box where the mask probability exceeds 0.5.
    """
    _, h, w = protos.shape
    grid_boxes = boxes.float() * boxes.new_tensor([w / input_hw[1], h / input_hw[0]], dtype=torch.float32).repeat(2)
    return crop_to_boxes(mask_probabilities(protos, coefficients), grid_boxes) > 0.5


def _letterbox_grid(input_hw: tuple[int, int], original_hw: tuple[int, int], ratio_pad: RatioPad,
                    device: torch.device) -> torch.Tensor:
    """``grid_sample`` coordinates (1, h0, w0, 2) of each original pixel's centre on maps covering the network
    input (at any resolution): original x -> input x * gain_w + pad_w, normalised to [-1, 1] over the input."""
    (gain_h, gain_w), (pad_w, pad_h) = ratio_pad
    h0, w0 = original_hw
    xs = ((torch.arange(w0, device=device) + 0.5) * gain_w + pad_w) / input_hw[1] * 2 - 1
    ys = ((torch.arange(h0, device=device) + 0.5) * gain_h + pad_h) / input_hw[0] * 2 - 1
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None].float()


def to_original(maps: torch.Tensor, input_hw: tuple[int, int], original_hw: tuple[int, int],
                ratio_pad: RatioPad) -> torch.Tensor:
    """Undo a letterbox on (n, h', w') float maps over the network input (any resolution, e.g. the prototype
    grid) -> (n, h0, w0) over the original image, bilinearly resampled at each original pixel's centre in one
    step. ``ratio_pad`` is ``((gain_h, gain_w), (pad_w, pad_h))`` in network-input pixels (see ``scale_boxes``)."""
    if not len(maps):
        return maps.new_zeros((0, *original_hw))
    grid = _letterbox_grid(input_hw, original_hw, ratio_pad, maps.device)
    return F.grid_sample(maps[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def masks_in_original(protos: torch.Tensor, coefficients: torch.Tensor, boxes: torch.Tensor,
                      input_hw: tuple[int, int], original_hw: tuple[int, int], ratio_pad: RatioPad,
                      chunk: int = 32) -> torch.Tensor:
    """One image's detection masks over its original image (prediction, pycocotools): the probabilities on the
    prototype grid resampled to the original pixels (:func:`to_original`), cropped to each box mapped back the
    same way, thresholded at 0.5; ``chunk`` detections at a time to bound the memory. Returns (n, h0, w0) bool."""
    (gain_h, gain_w), (pad_w, pad_h) = ratio_pad
    h0, w0 = original_hw
    original_boxes = (boxes.float() - boxes.new_tensor([pad_w, pad_h, pad_w, pad_h], dtype=torch.float32)) / \
        boxes.new_tensor([gain_w, gain_h, gain_w, gain_h], dtype=torch.float32)
    parts = [
        crop_to_boxes(to_original(mask_probabilities(protos, coefficients[k:k + chunk]), input_hw, original_hw,
                                  ratio_pad), original_boxes[k:k + chunk]) > 0.5
        for k in range(0, len(coefficients), chunk)
    ]
    return torch.cat(parts) if parts else torch.zeros((0, h0, w0), dtype=torch.bool, device=protos.device)


def overlap_to_instances(index_mask: torch.Tensor, n: int) -> torch.Tensor:
    """An index-coded (h, w) mask (value j + 1 = instance j) -> (n, h, w) bool masks."""
    return index_mask[None] == torch.arange(1, n + 1, device=index_mask.device).view(-1, 1, 1)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every pair of (n, h, w) and (m, h, w) binary masks -> (n, m) float (0 where both are empty)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None] - inter
    return inter / union.clamp(min=1e-9)


OUTLINE_SUPERSAMPLING = 4
"""Masks are traced at this many sub-pixels per pixel, so an outline runs 1 / (2 x this) pixel inside the mask's
pixel edges (redrawn with the pixel-centre rule it gives the mask back) instead of through its border pixels'
centres (which would drop half of every border pixel)."""


def mask_outlines(mask: np.ndarray) -> list[np.ndarray]:
    """Every external contour of one (h, w) binary mask, largest first, as (k, 2) float32 x, y in continuous pixel
    coordinates (pixel i spans [i, i + 1)), traced at :data:`OUTLINE_SUPERSAMPLING`; [] for an empty mask."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return []
    s = OUTLINE_SUPERSAMPLING
    x0, y0 = xs.min(), ys.min()
    crop = np.asarray(mask[y0: ys.max() + 1, x0: xs.max() + 1], np.uint8)
    fine = np.pad(crop.repeat(s, 0).repeat(s, 1), 1)  # a free border so contours close inside it
    contours, _ = cv2.findContours(fine, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted(contours, key=cv2.contourArea, reverse=True)
    return [(c.reshape(-1, 2).astype(np.float32) - 1 + 0.5) / s + np.array([x0, y0], np.float32) for c in contours]


def masks_to_polygons(masks: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """The outline of each (n, h, w) binary mask: its largest external contour (:func:`mask_outlines`); an empty
    mask gives an empty (0, 2) array."""
    masks = masks.cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    return [next(iter(mask_outlines(mask)), np.zeros((0, 2), np.float32)) for mask in masks]


def masks_to_rle(masks: np.ndarray | torch.Tensor) -> list[dict]:
    """COCO run-length encodings (``{"size": [h, w], "counts": str}``) of (n, h, w) binary masks."""
    from pycocotools import mask as mask_utils

    masks = masks.cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    if not len(masks):
        return []
    encoded = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return [{"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")} for rle in encoded]
