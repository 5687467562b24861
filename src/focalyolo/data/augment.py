"""Image + box (+ polygon) augmentations of the YOLOv9 ``hyp.scratch-high`` recipe, written from its description.

Every function keeps boxes consistent with pixels. Inside the pipeline labels are (n, 5) float arrays
``[cls, x1, y1, x2, y2]`` in pixels of the current image; images are (H, W, 3) uint8 BGR. Segmentation data
carry ``segments`` too: one (k, 2) float32 polygon per label row, in the same pixels, moved by every geometric
step; the affine step clips them to the output and takes each box from its clipped polygon, so boxes and masks
stay aligned. Detection passes ``segments=None`` (and gets None back). Pose data carry ``keypoints``: an (n, nk, 3)
float32 array [x, y, v] per label row, xy in the same pixels, moved by every geometric step like the polygons
(flips also reorder them by ``flip_idx``, as a mirror turns a left eye into a right one); points that leave the
image are hidden at the end (:func:`hide_keypoints_outside`), boxes still come from the boxes. All randomness comes
from the ``numpy.random.Generator`` passed in, so a seeded generator reproduces a run.

``copy_paste`` needs polygon labels and is ignored for box labels; ``mixup`` happens only inside mosaic,
as in the original recipe.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import cv2
import numpy as np

__all__ = [
    "FILL", "Keypoints", "Segments", "augment_hsv", "box_candidates", "clip_polygon", "flip_lr", "flip_ud",
    "hide_keypoints_outside", "letterbox", "mixup", "mosaic4", "random_affine", "rect_batch_shapes",
    "resize_long_side", "transform_boxes", "transform_points",
]

Segments = Union[list[np.ndarray], None]
"""Polygons of a sample's label rows ((k, 2) float32 pixel xy each), or None for box-only (detection) data."""
Keypoints = Union[np.ndarray, None]
"""Keypoints of a sample's label rows ((n, nk, 3) float32 [x, y, v], xy in pixels), or None for data without."""

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
    images: list[np.ndarray], labels: list[np.ndarray], size: int, rng: np.random.Generator,
    segments: list[Segments] | None = None, keypoints: list[Keypoints] | None = None,
) -> tuple[np.ndarray, np.ndarray, Segments, Keypoints]:
    """Tile four images around a random centre on a (2*size, 2*size) canvas filled with grey.

    Args:
        images: four (h_i, w_i, 3) uint8 images, each with its long side at most ``size``.
        labels: four (n_i, 5) pixel ``[cls, x1, y1, x2, y2]`` arrays in their own image's pixels.
        size: the training image size; the centre is drawn uniformly from [size/2, 3*size/2].
        segments: the four images' polygons (segmentation), or None.
        keypoints: the four images' (n_i, nk, 3) keypoints (pose), or None.

    Returns:
        The canvas, the (n, 5) labels moved onto it and clipped to it (degenerate ones removed later
        by :func:`random_affine`), the polygons moved with them (not clipped yet) and the (n, nk, 3) keypoints
        moved with them, those off the canvas (in the part of an image cut off, which a zoomed-out affine step could
        bring back into view as grey border) hidden; each None when not given.
    """
    s2 = 2 * size
    xc, yc = (int(v) for v in rng.uniform(size / 2, 3 * size / 2, 2))
    canvas = np.full((s2, s2, 3), FILL, np.uint8)
    out, moved_segments, moved_keypoints = [], [], []
    for i, (img, lb) in enumerate(zip(images, labels)):
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
        moved = lb.astype(np.float32).copy()
        moved[:, [1, 3]] += x1a - x1b
        moved[:, [2, 4]] += y1a - y1b
        out.append(moved)
        shift = np.array([x1a - x1b, y1a - y1b], np.float32)
        if segments is not None:
            moved_segments += [polygon + shift for polygon in segments[i]]
        if keypoints is not None:
            moved_keypoints.append(_shift_keypoints(keypoints[i], shift))
    merged = np.concatenate(out) if out else np.zeros((0, 5), np.float32)
    merged[:, 1:] = merged[:, 1:].clip(0, s2)
    return (canvas, merged, (moved_segments if segments is not None else None),
            (hide_keypoints_outside(np.concatenate(moved_keypoints), s2, s2) if keypoints is not None else None))


def _shift_keypoints(keypoints: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """(n, nk, 3) keypoints with xy moved by the (2,) ``shift`` (visibility kept)."""
    moved = keypoints.astype(np.float32).copy()
    moved[..., :2] += shift
    return moved


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


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Map (n, 4) xyxy boxes through a 3x3 matrix: the box around the 4 moved corners, clipped."""
    n = len(boxes)
    corners = np.ones((n * 4, 3))
    corners[:, :2] = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)  # tl, br, bl, tr
    moved = corners @ matrix.T
    xy = (moved[:, :2] / moved[:, 2:3]).reshape(n, 8)
    x, y = xy[:, 0::2], xy[:, 1::2]
    out = np.stack((x.min(1), y.min(1), x.max(1), y.max(1)), 1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, out_hw[1])
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, out_hw[0])
    return out


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(k, 2) xy through a 3x3 (affine or perspective) matrix -> (k, 2) float32."""
    moved = np.concatenate((points, np.ones((len(points), 1))), 1) @ matrix.T
    return (moved[:, :2] / moved[:, 2:3]).astype(np.float32)


def clip_polygon(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """The part of a polygon (k, 2) inside [0, width] x [0, height] (Sutherland-Hodgman, one image side at a
    time): (m, 2) float32, empty when nothing is inside."""
    for axis, limit, keep_below in ((0, 0.0, False), (0, width, True), (1, 0.0, False), (1, height, True)):
        if not len(points):
            break
        inside = points[:, axis] <= limit if keep_below else points[:, axis] >= limit
        if inside.all():  # the usual case: the polygon does not cross this side
            continue
        following = np.roll(points, -1, 0)
        crosses = inside != np.roll(inside, -1)
        with np.errstate(divide="ignore", invalid="ignore"):  # edges along the side: unused, may be nan
            t = (limit - points[:, axis]) / (following[:, axis] - points[:, axis])
            crossing = points + t[:, None] * (following - points)
        crossing[:, axis] = limit
        # per edge p -> q: p if p is inside, then the crossing point if the edge crosses the side
        candidates = np.stack((points, crossing), 1).reshape(-1, 2)
        points = candidates[np.stack((inside, crosses), 1).reshape(-1)]
    return points.astype(np.float32)


def random_affine(
    img: np.ndarray, labels: np.ndarray, rng: np.random.Generator, out_hw: tuple[int, int],
    degrees: float = 0.0, translate: float = 0.1, scale: float = 0.5, shear: float = 0.0, perspective: float = 0.0,
    segments: Segments = None, keypoints: Keypoints = None,
) -> tuple[np.ndarray, np.ndarray, Segments, Keypoints]:
    """Random rotation, scale, shear, translation and perspective, cropped to ``out_hw``.

    The output is centred on the input's centre (moved by +-``translate`` of the output size), so a
    (2s, 2s) mosaic becomes an (s, s) crop. Boxes follow the pixels; those left too small, too thin or
    mostly cut off are dropped (:func:`box_candidates`). Polygons, when given, are moved and clipped to the
    output, and each box becomes the box of its clipped polygon. Keypoints, when given, are moved through the
    same matrix (not clipped: :func:`hide_keypoints_outside` hides those outside at the end).

    Args:
        img: (H, W, 3) uint8. labels: (n, 5) pixel ``[cls, x1, y1, x2, y2]``.
        out_hw: output (height, width).
        segments: the label rows' polygons, or None.
        keypoints: the label rows' (n, nk, 3) keypoints, or None.

    Returns:
        The (out_h, out_w, 3) image, the surviving (m, 5) labels, their polygons and their (m, nk, 3) keypoints
        (each None when not given).
    """
    matrix, gain = _affine_matrix(img.shape[:2], out_hw, rng, degrees, translate, scale, shear, perspective)
    size = (out_hw[1], out_hw[0])
    if perspective:
        img = cv2.warpPerspective(img, matrix, dsize=size, borderValue=(FILL,) * 3)
    else:
        img = cv2.warpAffine(img, matrix[:2], dsize=size, borderValue=(FILL,) * 3)
    if not len(labels):
        return img, labels, segments, keypoints
    if keypoints is not None:
        keypoints = keypoints.copy()
        keypoints[..., :2] = transform_points(keypoints[..., :2].reshape(-1, 2), matrix).reshape(len(keypoints), -1, 2)
    if segments is None:
        boxes = transform_boxes(labels[:, 1:5], matrix, out_hw)
    else:
        segments = [clip_polygon(transform_points(p, matrix), out_hw[1], out_hw[0]) for p in segments]
        boxes = np.array([np.concatenate((p.min(0), p.max(0))) if len(p) else np.zeros(4) for p in segments],
                         np.float64).reshape(-1, 4)
    keep = box_candidates(labels[:, 1:5], boxes, gain)
    kept = np.concatenate((labels[keep, :1], boxes[keep]), 1).astype(np.float32)
    return (img, kept, (None if segments is None else [p for p, k in zip(segments, keep) if k]),
            (None if keypoints is None else keypoints[keep]))


def mixup(
    img: np.ndarray, labels: np.ndarray, segments: Segments, keypoints: Keypoints, img2: np.ndarray,
    labels2: np.ndarray, segments2: Segments, keypoints2: Keypoints, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, Segments, Keypoints]:
    """Blend two same-size images with a Beta(32, 32) ratio and keep both label (polygon, keypoint) sets."""
    r = rng.beta(32.0, 32.0)
    blended = (img.astype(np.float32) * r + img2.astype(np.float32) * (1 - r)).round().astype(np.uint8)
    merged = None if segments is None else segments + segments2
    points = None if keypoints is None else np.concatenate((keypoints, keypoints2), 0)
    return blended, np.concatenate((labels, labels2), 0), merged, points


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


def _mirror(segments: Segments, axis: int, size: int) -> Segments:
    if segments is None:
        return None
    mirrored = [p.copy() for p in segments]
    for p in mirrored:
        p[:, axis] = size - p[:, axis]
    return mirrored


def _mirror_keypoints(keypoints: Keypoints, axis: int, size: int, flip_idx: Sequence[int] | None) -> Keypoints:
    """(n, nk, 3) keypoints mirrored along ``axis`` and reordered: point i becomes point ``flip_idx[i]``."""
    if keypoints is None:
        return None
    mirrored = keypoints.copy()
    mirrored[..., axis] = size - mirrored[..., axis]
    if flip_idx is None:
        return mirrored
    out = np.empty_like(mirrored)
    out[:, np.asarray(flip_idx)] = mirrored
    return out


def flip_lr(img: np.ndarray, labels: np.ndarray, segments: Segments = None, keypoints: Keypoints = None,
            flip_idx: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, Segments, Keypoints]:
    """Mirror left-right; (n, 5) pixel xyxy labels (polygons, keypoints) follow. Keypoint i becomes keypoint
    ``flip_idx[i]`` (e.g. the left eye the right one); ``None`` keeps their order."""
    w = img.shape[1]
    labels = labels.copy()
    labels[:, [1, 3]] = w - labels[:, [3, 1]]
    return (np.ascontiguousarray(img[:, ::-1]), labels, _mirror(segments, 0, w),
            _mirror_keypoints(keypoints, 0, w, flip_idx))


def flip_ud(img: np.ndarray, labels: np.ndarray, segments: Segments = None, keypoints: Keypoints = None,
            flip_idx: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, Segments, Keypoints]:
    """Mirror top-bottom; (n, 5) pixel xyxy labels (polygons, keypoints) follow. A vertical mirror also swaps
    left and right, so keypoints are reordered by ``flip_idx`` as in :func:`flip_lr`."""
    h = img.shape[0]
    labels = labels.copy()
    labels[:, [2, 4]] = h - labels[:, [4, 2]]
    return (np.ascontiguousarray(img[::-1]), labels, _mirror(segments, 1, h),
            _mirror_keypoints(keypoints, 1, h, flip_idx))


def hide_keypoints_outside(keypoints: np.ndarray, w: int, h: int) -> np.ndarray:
    """(n, nk, 3) pixel keypoints with those outside [0, w) x [0, h) or not labelled (v == 0) set to
    v = 0, x = y = 0: after cropping, a point off the image is no longer in it to be predicted."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    hidden = (x < 0) | (x >= w) | (y < 0) | (y >= h) | (keypoints[..., 2] == 0)
    out = keypoints.copy()
    out[hidden] = 0
    return out


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
