"""Image + label augmentations of the YOLOv9 ``hyp.scratch-high`` recipe, written from its description.

Every function keeps labels consistent with pixels. Inside the pipeline an image's labels are an
:class:`~focalyolo.data.annotations.Annotations`: (n,) class ids and (n, 4) xyxy boxes in pixels of the current
image, plus what each annotation kind adds per object (polygons, keypoints), which every geometric step moves through
the annotations' methods without naming the kinds (how each kind moves, clips and flips lives in its own module).
Images are (H, W, 3) uint8 BGR. All randomness comes from the ``numpy.random.Generator`` passed in, so a seeded
generator reproduces a run.

``copy_paste`` needs polygon labels and is ignored for box labels; ``mixup`` happens only inside mosaic,
as in the original recipe.
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from .annotations import Annotations

__all__ = [
    "FILL", "augment_hsv", "box_candidates", "flip_lr", "flip_ud", "letterbox", "mixup", "mosaic4", "random_affine",
    "rect_batch_shapes", "resize_long_side",
]

FILL = 114  # letterbox / mosaic / border grey


def letterbox(
    img: np.ndarray, new_shape: tuple[int, int], scaleup: bool = True, color: int = FILL
) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Resize keeping the aspect ratio so the image fits ``new_shape`` (h, w), then pad it centred.

    Args:
        img: (H, W, 3) uint8.
        new_shape: output (height, width).
        scaleup: allow enlarging; ``False`` only shrinks (validation keeps native resolution).

    Returns:
        The (new_h, new_w, 3) image, the gains (gain_h, gain_w) = resized / input size, and the
        padding (pad_w, pad_h) added on the left and top, in pixels.
    """
    h, w = img.shape[:2]
    r = min(new_shape[0] / h, new_shape[1] / w)
    if not scaleup:
        r = min(r, 1.0)
    nh, nw = min(round(h * r), new_shape[0]), min(round(w * r), new_shape[1])
    if (nh, nw) != (h, w):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = (new_shape[0] - nh) // 2, (new_shape[1] - nw) // 2
    img = cv2.copyMakeBorder(
        img, top, new_shape[0] - nh - top, left, new_shape[1] - nw - left, cv2.BORDER_CONSTANT, value=(color,) * 3
    )
    return img, (nh / h, nw / w), (float(left), float(top))


def mosaic4(
    images: list[np.ndarray], labels: list[Annotations], size: int, rng: np.random.Generator,
) -> tuple[np.ndarray, Annotations]:
    """Tile four images around a random centre on a (2*size, 2*size) canvas filled with grey.

    Args:
        images: four (h_i, w_i, 3) uint8 images, each with its long side at most ``size``.
        labels: the four images' annotations, in their own image's pixels.
        size: the training image size; the centre is drawn uniformly from [size/2, 3*size/2].

    Returns:
        The canvas and the annotations moved onto it and cut to it (:meth:`Annotations.crop`: boxes clipped,
        degenerate ones removed later by :func:`random_affine`; each kind's extras as it crops them).
    """
    s2 = 2 * size
    xc, yc = (int(v) for v in rng.uniform(size / 2, 3 * size / 2, 2))
    canvas = np.full((s2, s2, 3), FILL, np.uint8)
    moved = []
    for i, (img, ann) in enumerate(zip(images, labels)):
        h, w = img.shape[:2]
        # corner of the canvas region (x1a, y1a, x2a, y2a) and of the image crop (x1b, y1b, x2b, y2b)
        if i == 0:  # top-left: image's bottom-right corner at the centre
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b = w - (x2a - x1a), h - (y2a - y1a)
        elif i == 1:  # top-right
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, s2), yc
            x1b, y1b = 0, h - (y2a - y1a)
        elif i == 2:  # bottom-left
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(yc + h, s2)
            x1b, y1b = w - (x2a - x1a), 0
        else:  # bottom-right
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, s2), min(yc + h, s2)
            x1b, y1b = 0, 0
        canvas[y1a:y2a, x1a:x2a] = img[y1b : y1b + (y2a - y1a), x1b : x1b + (x2a - x1a)]
        moved.append(ann.shift(x1a - x1b, y1a - y1b))
    return canvas, Annotations.concat(moved).crop(s2, s2)


def _affine_matrix(
    in_hw: tuple[int, int], out_hw: tuple[int, int], rng: np.random.Generator,
    degrees: float, translate: float, scale: float, shear: float, perspective: float,
) -> tuple[np.ndarray, float]:
    """3x3 matrix centre -> perspective -> rotate/scale -> shear -> translate, and the scale gain."""
    centre = np.eye(3)
    centre[0, 2], centre[1, 2] = -in_hw[1] / 2, -in_hw[0] / 2
    persp = np.eye(3)
    persp[2, 0], persp[2, 1] = rng.uniform(-perspective, perspective, 2)
    angle = rng.uniform(-degrees, degrees)
    gain = rng.uniform(1 - scale, 1 + scale)
    rot = np.eye(3)
    rot[:2] = cv2.getRotationMatrix2D(center=(0, 0), angle=angle, scale=gain)
    sh = np.eye(3)
    sh[0, 1], sh[1, 0] = np.tan(np.deg2rad(rng.uniform(-shear, shear, 2)))
    move = np.eye(3)
    move[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_hw[1]
    move[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_hw[0]
    return move @ sh @ rot @ persp @ centre, gain


def box_candidates(
    before: np.ndarray, after: np.ndarray, gain: float, wh_thr: float = 2.0, ar_thr: float = 100.0,
    area_thr: float = 0.1, eps: float = 1e-16,
) -> np.ndarray:
    """Mask of transformed boxes worth keeping: both sides > ``wh_thr`` px, aspect ratio < ``ar_thr``,
    and at least ``area_thr`` of the (gain-scaled) original area left after clipping.

    Args:
        before, after: (n, 4) xyxy boxes before and after the transform (after clipping).
        gain: the scale factor the transform applied.
    """
    w1, h1 = (before[:, 2] - before[:, 0]) * gain, (before[:, 3] - before[:, 1]) * gain
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def random_affine(
    img: np.ndarray, labels: Annotations, rng: np.random.Generator, out_hw: tuple[int, int],
    degrees: float = 0.0, translate: float = 0.1, scale: float = 0.5, shear: float = 0.0, perspective: float = 0.0,
) -> tuple[np.ndarray, Annotations]:
    """Random rotation, scale, shear, translation and perspective, cropped to ``out_hw``.

    The output is centred on the input's centre (moved by +-``translate`` of the output size), so a
    (2s, 2s) mosaic becomes an (s, s) crop. Labels follow the pixels (:meth:`Annotations.transform`: a kind such
    as polygons may define the new boxes); objects left too small, too thin or mostly cut off are dropped
    (:func:`box_candidates`).

    Args:
        img: (H, W, 3) uint8. labels: its annotations in pixels.
        out_hw: output (height, width).

    Returns:
        The (out_h, out_w, 3) image and the surviving objects' annotations (float32 boxes).
    """
    matrix, gain = _affine_matrix(img.shape[:2], out_hw, rng, degrees, translate, scale, shear, perspective)
    size = (out_hw[1], out_hw[0])
    if perspective:
        img = cv2.warpPerspective(img, matrix, dsize=size, borderValue=(FILL,) * 3)
    else:
        img = cv2.warpAffine(img, matrix[:2], dsize=size, borderValue=(FILL,) * 3)
    if not len(labels):
        return img, labels
    moved = labels.transform(matrix, out_hw)
    kept = moved.select(box_candidates(labels.boxes, moved.boxes, gain))
    return img, replace(kept, boxes=kept.boxes.astype(np.float32))


def mixup(img: np.ndarray, labels: Annotations, img2: np.ndarray, labels2: Annotations,
          rng: np.random.Generator) -> tuple[np.ndarray, Annotations]:
    """Blend two same-size images with a Beta(32, 32) ratio and keep both label sets."""
    r = rng.beta(32.0, 32.0)
    blended = (img.astype(np.float32) * r + img2.astype(np.float32) * (1 - r)).round().astype(np.uint8)
    return blended, Annotations.concat([labels, labels2])


def augment_hsv(img: np.ndarray, rng: np.random.Generator, hgain: float, sgain: float, vgain: float) -> np.ndarray:
    """Random hue/saturation/value gains applied through one 256-entry lookup table per channel."""
    if not (hgain or sgain or vgain):
        return img
    r = rng.uniform(-1, 1, 3) * (hgain, sgain, vgain) + 1
    hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_h = ((x * r[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def flip_lr(img: np.ndarray, labels: Annotations) -> tuple[np.ndarray, Annotations]:
    """Mirror left-right; the labels follow (keypoints are also reordered by their ``flip_idx``)."""
    w = img.shape[1]
    return np.ascontiguousarray(img[:, ::-1]), labels.flip(0, w)


def flip_ud(img: np.ndarray, labels: Annotations) -> tuple[np.ndarray, Annotations]:
    """Mirror top-bottom; the labels follow. A vertical mirror also swaps left and right, so keypoints are
    reordered by their ``flip_idx`` as in :func:`flip_lr`."""
    h = img.shape[0]
    return np.ascontiguousarray(img[::-1]), labels.flip(1, h)


def resize_long_side(img: np.ndarray, size: int, smooth_down: bool) -> np.ndarray:
    """Resize so the longer side equals ``size`` (area interpolation when shrinking and ``smooth_down``)."""
    h, w = img.shape[:2]
    r = size / max(h, w)
    if r == 1:
        return img
    interp = cv2.INTER_AREA if (r < 1 and smooth_down) else cv2.INTER_LINEAR
    new_wh = (min(size, max(1, round(w * r))), min(size, max(1, round(h * r))))
    return cv2.resize(img, new_wh, interpolation=interp)


def rect_batch_shapes(shapes_hw: np.ndarray, imgsz: int, batch_size: int, stride: int, pad: float) -> np.ndarray:
    """Per-batch (h, w) letterbox shapes for aspect-ratio-sorted images, multiples of ``stride``.

    Args:
        shapes_hw: (n, 2) original (height, width) of images already sorted by h/w.

    Returns:
        (n_batches, 2) int shapes: the long side is ``imgsz`` (+ ``pad`` strides), the short side fits
        the batch's most extreme aspect ratio.
    """
    ar = shapes_hw[:, 0] / shapes_hw[:, 1]
    n_batches = math.ceil(len(ar) / batch_size)
    rel = np.ones((n_batches, 2))
    for b in range(n_batches):
        chunk = ar[b * batch_size : (b + 1) * batch_size]
        lo, hi = chunk.min(), chunk.max()
        if hi < 1:  # all wide: full width, height of the tallest
            rel[b] = (hi, 1)
        elif lo > 1:  # all tall: full height, width of the widest
            rel[b] = (1, 1 / lo)
    return (np.ceil(rel * imgsz / stride + pad) * stride).astype(int)
