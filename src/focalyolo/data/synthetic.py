"""The built-in synthetic datasets: coloured shapes on cluttered, textured backgrounds.

Five classes (circle, square, triangle, cross, star) drawn as anti-aliased filled polygons with random
colour, size (10% small: 6-12 px, the rest log-uniform from 14 px to half the image), rotation and mild
stretching; 2-8 per image. Backgrounds are muted gradients with low-frequency blotches, noise and lines.

- ``synthetic`` (detection): objects may overlap each other by at most a third of a box (partial
  occlusion) and leave the image by up to 40 %; labels are boxes.
- ``synthetic-seg`` (segmentation): objects lie wholly inside the image and do not touch each other's boxes,
  so each drawn polygon is exactly the visible object; labels are those polygons (``cls x1 y1 x2 y2 ...``),
  which detection reads as their boxes.
- ``synthetic-pose`` (keypoints): two classes of its own, star and house (a pentagon: roof apex, eaves, base
  corners), 2-6 per image, from 20 px across (boxes from about 16 px) to half the image, turned at most 25 degrees
  (so "top" and "left" stay well defined), wholly inside the image and apart as in ``synthetic-seg``. Each has 5
  keypoints in one layout: 0 top (the star's top tip, the roof apex), 1 upper-left, 2 upper-right, 3 lower-left,
  4 lower-right (left/right as seen in the upright image), all visible; rows are pose rows (``cls cx cy w h`` +
  5 x ``x y 2``) and the data.yaml carries ``kpt_shape``, ``flip_idx`` and ``skeleton``.
- ``synthetic-cls`` (classification): one pale object per image, 35-80 % of the image wide, wholly inside it, on
  the background darkened to 60 %; the classes are balanced (image ``i`` shows class ``i mod 5``).
- ``synthetic-context`` (detection, a probe of context): identical grey squares whose class (red-cue, blue-cue) is
  the colour of a marker half the image away on the same row, beyond the plain model's effective receptive field
  (:func:`render_context_image`).
- ``synthetic-context-marked`` (detection): the same images as ``synthetic-context`` (identical bytes), with each
  marker labelled too, as ``red-marker`` / ``blue-marker`` (classes 2 and 3, its disc's box), so that training
  must keep the marker's colour; whether a context block then carries it to the square is the question.
- ``synthetic-small`` (detection, a probe of small objects): the five shapes at 1.5-2.5 % of the image side, in
  low contrast among strokes and dots of the same size (:func:`render_small_image`); generated at 320 px.
- ``synthetic-obb`` (oriented boxes): three classes of elongated shapes, ship (a hull with a pointed bow and a
  deck block), plane (fuselage, wings and tail: a cross) and vehicle (a small rectangle with a cab), 2-6 per image
  at any angle, their oriented boxes wholly inside the image and their axis-aligned boxes apart
  (:func:`render_obb_image`). Each shape touches all four sides of its own rectangle, so that rectangle is its exact
  oriented box; rows are OBB rows (``cls x1 y1 x2 y2 x3 y3 x4 y4``, the rectangle's corners normalised). Shapes are
  drawn by pixel coverage in the labels' coordinates (:func:`_fill_coverage`), so a quarter turn or a flip of an
  image and its rows is as exact as the set itself.

The sets before ``synthetic-obb`` draw with OpenCV's anti-aliased fill, which puts a shape half a pixel right of
and below its label and rounds its vertical edges to whole rows; they stay so, as figures were measured on them
(bumping their versions would change those figures). A thin line may be drawn over objects in all of them. Every
image is generated from ``(seed, split, index)`` alone, so output is deterministic and independent of generation
order. The layout is the usual YOLO one (``images/{train,val}``, ``labels/{train,val}``, ``data.yaml``), for
classification the image-folder one (``{train,val}/<class>/*.jpg``, and a ``data.yaml`` naming the splits).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml

from ..errors import DataError
from .paths import focalyolo_home
from .rotated_boxes import corner_rows

__all__ = [
    "CLASS_NAMES", "CONTEXT_CUES", "CONTEXT_DISTANCE", "CONTEXT_MARKER", "CONTEXT_NAMES", "CONTEXT_SQUARE",
    "DEFAULT_SIZES", "MARKER_NAMES", "OBJECTS_PER_IMAGE", "POSE_FLIP_IDX", "POSE_KPT_SHAPE", "POSE_NAMES",
    "POSE_SKELETON", "SMALL_FRACTION", "SMALL_SIZE", "VERSIONS", "ensure_synthetic", "generate_synthetic",
    "render_classification_image", "render_context_image", "render_image", "render_pose_image",
    "OBB_NAMES", "render_obb_image", "render_small_image",
]

LOGGER = logging.getLogger("focalyolo")

CLASS_NAMES = ("circle", "square", "triangle", "cross", "star")
POSE_NAMES = ("star", "house")
POSE_KPT_SHAPE = [5, 3]
POSE_FLIP_IDX = [0, 2, 1, 4, 3]  # a mirror swaps upper-left/upper-right and lower-left/lower-right
POSE_SKELETON = [[0, 1], [0, 2], [1, 3], [2, 4], [3, 4]]  # the outline through the five points
VERSIONS = {"synthetic": "synthetic-v2", "synthetic-seg": "synthetic-seg-v1", "synthetic-pose": "synthetic-pose-v1",
            "synthetic-cls": "synthetic-cls-v1", "synthetic-context": "synthetic-context-v1",
            "synthetic-context-marked": "synthetic-context-marked-v1", "synthetic-small": "synthetic-small-v1",
            "synthetic-obb": "synthetic-obb-v2"}
"""Built-in dataset name -> the folder it is generated into; bump a version whenever its images or labels change."""
_SHAPES_SIZE = {"n_train": 400, "n_val": 100, "imgsz": 160, "seed": 0}
DEFAULT_SIZES = {"synthetic": _SHAPES_SIZE, "synthetic-seg": _SHAPES_SIZE, "synthetic-pose": _SHAPES_SIZE,
                 "synthetic-cls": {"n_train": 1000, "n_val": 250, "imgsz": 96, "seed": 0},
                 "synthetic-context": _SHAPES_SIZE, "synthetic-context-marked": _SHAPES_SIZE,
                 "synthetic-small": {**_SHAPES_SIZE, "imgsz": 320},
                 "synthetic-obb": _SHAPES_SIZE}
"""Built-in dataset name -> the size it is generated at (images per split, image side, seed)."""
CLASSIFY_SIZE = (0.35, 0.8)  # object diameter in synthetic-cls, as a fraction of the image side
SMALL_FRACTION = 0.10
OBJECTS_PER_IMAGE = (2, 8)
POSE_OBJECTS_PER_IMAGE = (2, 6)
POSE_MIN_SIZE = 20  # px diameter (boxes >= ~16 px): smaller objects' five keypoints are too close to mean much
POSE_MAX_TILT = 25.0  # degrees
CONTEXT_NAMES = ("red-cue", "blue-cue")
MARKER_NAMES = ("red-marker", "blue-marker")  # synthetic-context-marked's extra classes, in CONTEXT_CUES' order
CONTEXT_CUES = ((0, 0, 230), (230, 0, 0))  # BGR marker colour of each class of synthetic-context
CONTEXT_SQUARE = 0.1  # side of synthetic-context's grey squares, as a fraction of the image side
CONTEXT_MARKER = 0.025  # radius of its cue markers, as a fraction of the image side
CONTEXT_DISTANCE = 0.5  # from a square's centre to its marker's centre, as a fraction of the image side
CONTEXT_OBJECTS_PER_IMAGE = (1, 3)
SMALL_SIZE = (0.015, 0.025)  # object diameter in synthetic-small, as a fraction of the image side (<= 16 px at 640)
SMALL_OBJECTS_PER_IMAGE = (3, 10)
OBB_NAMES = ("ship", "plane", "vehicle")
OBB_OBJECTS_PER_IMAGE = (2, 6)
OBB_LENGTHS = ((30.0, 0.6), (26.0, 0.45), (14.0, 28.0))  # per class: shortest length (px), longest (px, or * imgsz)
SMALL_CLUTTER = (30, 60)  # clutter strokes and dots per synthetic-small image
SMALL_CONTRAST = (35.0, 60.0)  # L2 distance (BGR) of an object's or a clutter mark's colour from the background
_SHIFT = 4  # fixed-point bits for sub-pixel polygon drawing
COVERAGE_SAMPLES = 8  # samples per pixel side of synthetic-obb's drawing (:func:`_fill_coverage`)


def _unit_polygon(cls: int) -> np.ndarray:
    """(k, 2) outline of class ``cls`` inside the unit circle, centred at the origin."""
    if cls == 0:  # circle
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    elif cls == 1:  # square
        t = np.deg2rad(np.arange(45, 360, 90))
    elif cls == 2:  # triangle
        t = np.deg2rad(np.arange(-90, 270, 120))
    elif cls == 3:  # cross: a plus sign with arms 0.36 wide
        a = 0.36
        return np.array([[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a],
                         [a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a]])
    else:  # five-pointed star
        t = np.deg2rad(np.arange(-90, 270, 36))
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack((np.cos(t) * r, np.sin(t) * r), 1)
    return np.stack((np.cos(t), np.sin(t)), 1)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8 muted gradient + low-frequency blotches + noise + a few lines."""
    c0, c1 = rng.uniform(40, 210, (2, 3))
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-9
    yy, xx = np.mgrid[0:size, 0:size] / size
    t = (xx * direction[0] + yy * direction[1])
    t = (t - t.min()) / (np.ptp(t) + 1e-9)
    img = c0 + (c1 - c0) * t[..., None]
    blotches = cv2.resize(rng.normal(0, 18, (4, 4, 3)), (size, size), interpolation=cv2.INTER_CUBIC)
    img += blotches + rng.normal(0, rng.uniform(3, 12), (size, size, 3))
    img = img.clip(0, 255).astype(np.uint8)
    _lines(img, rng, int(rng.integers(2, 8)))
    return img


def _lines(img: np.ndarray, rng: np.random.Generator, n: int) -> None:
    """Draw ``n`` random thin lines in muted colours across the image, in place."""
    size = img.shape[0]
    for _ in range(n):
        p1, p2 = rng.integers(-size // 4, size + size // 4, (2, 2))
        colour = tuple(int(v) for v in rng.uniform(30, 220, 3))
        start, end = tuple(int(v) for v in p1), tuple(int(v) for v in p2)
        cv2.line(img, start, end, colour, int(rng.integers(1, 3)), cv2.LINE_AA)


def _vivid_colour(rng: np.random.Generator, avoid: np.ndarray) -> tuple[int, int, int]:
    """A saturated BGR colour far (L2 > 100) from ``avoid`` (the background under the object)."""
    for _ in range(20):
        hsv = np.array([[[rng.integers(0, 180), rng.integers(140, 256), rng.integers(110, 256)]]], np.uint8)
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(float)
        if np.linalg.norm(bgr - avoid) > 100:
            break
    return tuple(int(v) for v in bgr)


def _overlaps_too_much(box: np.ndarray, boxes: list[np.ndarray], limit: float = 0.33) -> bool:
    """True if ``box`` covers more than ``limit`` of any placed box or is mostly covered by one."""
    if not boxes:
        return False
    b = np.array(boxes)
    iw = (np.minimum(box[2], b[:, 2]) - np.maximum(box[0], b[:, 0])).clip(0)
    ih = (np.minimum(box[3], b[:, 3]) - np.maximum(box[1], b[:, 1])).clip(0)
    inter = iw * ih
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    own = (box[2] - box[0]) * (box[3] - box[1])
    return bool((inter > limit * areas).any() or (inter > limit * own).any())


def _object_size(rng: np.random.Generator, imgsz: int) -> float:
    """Object diameter in px: small (6-12 px) with probability 0.1, else log-uniform in [14, 0.5*imgsz]."""
    if rng.random() < SMALL_FRACTION:
        return rng.uniform(6, 12)
    return float(np.exp(rng.uniform(np.log(14), np.log(0.5 * imgsz))))


def _place(rng: np.random.Generator, shape: np.ndarray, imgsz: int, boxes: list[np.ndarray], min_visible: float,
           overlap: float) -> tuple[np.ndarray, np.ndarray] | None:
    """A random offset for the centred (k, 2) pixel ``shape`` (up to 20 tries) whose box keeps ``min_visible`` of
    its area in the image and overlaps the placed ``boxes`` at most ``overlap`` (:func:`_overlaps_too_much`): the
    (2,) offset and the (4,) xyxy box clipped to the image, or None."""
    for _attempt in range(20):
        offset = rng.uniform(0, imgsz, 2)
        pts = shape + offset
        raw = np.concatenate((pts.min(0), pts.max(0)))
        box = raw.clip(0, imgsz)
        visible = np.prod(box[2:] - box[:2]) / max(np.prod(raw[2:] - raw[:2]), 1e-9)
        if visible >= min_visible and not _overlaps_too_much(box, boxes, overlap):
            return offset, box
    return None


def _draw(img: np.ndarray, pts: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """Fill the (k, 2) pixel polygon ``pts`` (xyxy ``box``) in place, anti-aliased, in a vivid colour far from the
    background under it."""
    x1, y1, x2, y2 = box.astype(int)
    under = img[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)].reshape(-1, 3).mean(0)
    fixed = np.round(pts * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(img, [fixed], _vivid_colour(rng, under), cv2.LINE_AA, shift=_SHIFT)


def _rotation(angle: float) -> np.ndarray:
    """(2, 2) rotation by ``angle`` radians (clockwise on screen, as y points down)."""
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def _box_row(cls: int, box: np.ndarray, imgsz: int) -> list[float]:
    """[cls, cx, cy, w, h] normalised of an xyxy pixel box."""
    return [cls, (box[0] + box[2]) / 2 / imgsz, (box[1] + box[3]) / 2 / imgsz, (box[2] - box[0]) / imgsz,
            (box[3] - box[1]) / imgsz]


def render_image(rng: np.random.Generator, imgsz: int,
                 polygons: bool = False) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """One (imgsz, imgsz, 3) BGR image, its (n, 5) [cls, cx, cy, w, h] normalised labels and each object's
    outline, (k, 2) normalised xy. With ``polygons`` objects lie wholly inside the image and apart (each outline
    is then exactly the visible object); without, they may overlap and leave the image (the detection set)."""
    img = _background(rng, imgsz)
    boxes, labels, outlines = [], [], []
    min_visible, overlap = (1.0, 0.0) if polygons else (0.6, 0.33)
    for _ in range(int(rng.integers(OBJECTS_PER_IMAGE[0], OBJECTS_PER_IMAGE[1] + 1))):
        cls = int(rng.integers(len(CLASS_NAMES)))
        radius = _object_size(rng, imgsz) / 2
        stretch = np.exp(rng.uniform(-0.2, 0.2, 2))
        shape = (_unit_polygon(cls) * radius * stretch) @ _rotation(rng.uniform(0, 2 * np.pi)).T
        placed = _place(rng, shape, imgsz, boxes, min_visible, overlap)
        if placed is None:
            continue
        offset, box = placed
        _draw(img, shape + offset, box, rng)
        boxes.append(box)
        labels.append(_box_row(cls, box, imgsz))
        outlines.append((shape + offset) / imgsz)
    _lines(img, rng, int(rng.integers(0, 2)))
    return img, np.array(labels, np.float64).reshape(-1, 5), outlines


def _pose_shape(cls: int) -> tuple[np.ndarray, np.ndarray]:
    """Class ``cls`` of synthetic-pose, upright in the unit circle: its (k, 2) outline and which outline vertex is
    each of the 5 keypoints (top, upper-left, upper-right, lower-left, lower-right)."""
    if cls == 0:  # the five-pointed star of the shapes set: tips at -90 (top), -18, 54, 126 and 198 degrees
        return _unit_polygon(4), np.array([0, 8, 2, 6, 4])
    house = np.array([[0, -1], [0.7, -0.2], [0.7, 0.7], [-0.7, 0.7], [-0.7, -0.2]])  # apex, eaves and base corners
    return house, np.array([0, 4, 1, 3, 2])


def render_pose_image(rng: np.random.Generator, imgsz: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (imgsz, imgsz, 3) BGR image of synthetic-pose, its (n, 5) [cls, cx, cy, w, h] normalised labels and
    their (n, 5, 3) keypoints [x, y, 2] normalised (the keypoints are outline vertices, so inside their boxes)."""
    img = _background(rng, imgsz)
    boxes, labels, keypoints = [], [], []
    for _ in range(int(rng.integers(POSE_OBJECTS_PER_IMAGE[0], POSE_OBJECTS_PER_IMAGE[1] + 1))):
        cls = int(rng.integers(len(POSE_NAMES)))
        radius = np.exp(rng.uniform(np.log(POSE_MIN_SIZE), np.log(0.5 * imgsz))) / 2
        stretch = np.exp(rng.uniform(-0.15, 0.15, 2))
        outline, corners = _pose_shape(cls)
        shape = (outline * radius * stretch) @ _rotation(np.deg2rad(rng.uniform(-POSE_MAX_TILT, POSE_MAX_TILT))).T
        placed = _place(rng, shape, imgsz, boxes, 1.0, 0.0)
        if placed is None:
            continue
        offset, box = placed
        _draw(img, shape + offset, box, rng)
        boxes.append(box)
        labels.append(_box_row(cls, box, imgsz))
        keypoints.append(np.concatenate(((shape[corners] + offset) / imgsz, np.full((5, 1), 2.0)), 1))
    _lines(img, rng, int(rng.integers(0, 2)))
    return img, np.array(labels, np.float64).reshape(-1, 5), np.array(keypoints, np.float64).reshape(-1, 5, 3)


def render_context_image(rng: np.random.Generator, imgsz: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (imgsz, imgsz, 3) BGR image of synthetic-context, its (n, 5) [cls, cx, cy, w, h] normalised labels and
    each object's (n, 2) marker centre (x, y normalised).

    Every object is the same mid-grey square (side :data:`CONTEXT_SQUARE` of the image, a black outline); its class
    is told only by the colour (:data:`CONTEXT_CUES`) of a disc (radius :data:`CONTEXT_MARKER`) on the same row,
    :data:`CONTEXT_DISTANCE` of the image to its right. Objects occupy rows of their own, so no other marker lies on
    a square's row; squares and markers lie wholly inside the image."""
    img = _background(rng, imgsz)
    side, radius, distance = CONTEXT_SQUARE * imgsz, CONTEXT_MARKER * imgsz, CONTEXT_DISTANCE * imgsz
    band = max(side, 2 * radius) / 2 + 2  # half the height of the rows an object takes
    labels, markers, rows = [], [], []
    for _ in range(int(rng.integers(CONTEXT_OBJECTS_PER_IMAGE[0], CONTEXT_OBJECTS_PER_IMAGE[1] + 1))):
        cls = int(rng.integers(len(CONTEXT_NAMES)))
        for _attempt in range(20):
            cx = rng.uniform(side / 2 + 1, imgsz - distance - radius - 1)
            cy = rng.uniform(band, imgsz - band)
            if all(abs(cy - other) >= 2 * band for other in rows):
                break
        else:
            continue
        rows.append(cy)
        box = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
        corners = np.round(box.reshape(2, 2) * (1 << _SHIFT)).astype(np.int32)
        cv2.rectangle(img, tuple(int(v) for v in corners[0]), tuple(int(v) for v in corners[1]), (128, 128, 128),
                      -1, cv2.LINE_AA, _SHIFT)
        cv2.rectangle(img, tuple(int(v) for v in corners[0]), tuple(int(v) for v in corners[1]), (0, 0, 0), 1,
                      cv2.LINE_AA, _SHIFT)
        marker = (cx + distance, cy)
        cv2.circle(img, tuple(int(round(v * (1 << _SHIFT))) for v in marker), int(round(radius * (1 << _SHIFT))),
                   CONTEXT_CUES[cls], -1, cv2.LINE_AA, _SHIFT)
        labels.append(_box_row(cls, box, imgsz))
        markers.append(np.array(marker) / imgsz)
    return img, np.array(labels, np.float64).reshape(-1, 5), np.array(markers, np.float64).reshape(-1, 2)


def _colour_near(rng: np.random.Generator, under: np.ndarray) -> tuple[int, int, int]:
    """A BGR colour at an L2 distance in :data:`SMALL_CONTRAST` from ``under`` (kept inside 0-255)."""
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction) + 1e-9
    direction = np.where((under + direction * SMALL_CONTRAST[1] > 255) | (under + direction * SMALL_CONTRAST[1] < 0),
                         -direction, direction)  # turn back from the side of the cube it would leave
    colour = (under + direction * rng.uniform(*SMALL_CONTRAST)).clip(0, 255)
    return tuple(int(v) for v in colour)


def render_small_image(rng: np.random.Generator, imgsz: int) -> tuple[np.ndarray, np.ndarray]:
    """One (imgsz, imgsz, 3) BGR image of synthetic-small and its (n, 5) [cls, cx, cy, w, h] normalised labels.

    The shapes of ``synthetic`` (its five classes), boxes whose longer side is :data:`SMALL_SIZE` of the image side
    (at most 16 px at 640), in colours close to the background under them (:data:`SMALL_CONTRAST`), wholly inside
    the image and apart, among :data:`SMALL_CLUTTER` strokes and dots of the same size and contrast."""
    img = _background(rng, imgsz)
    low, high = SMALL_SIZE[0] * imgsz, SMALL_SIZE[1] * imgsz
    for _ in range(int(rng.integers(SMALL_CLUTTER[0], SMALL_CLUTTER[1] + 1))):
        start = rng.uniform(0, imgsz, 2)
        under = img[int(start[1]), int(start[0])].astype(float)
        if rng.random() < 0.5:  # a short stroke
            end = start + rng.normal(size=2) / np.sqrt(2) * rng.uniform(low, 2 * high)
            cv2.line(img, tuple(int(v) for v in start), tuple(int(v) for v in end), _colour_near(rng, under), 1,
                     cv2.LINE_AA)
        else:  # a dot
            cv2.circle(img, tuple(int(v) for v in start), int(rng.integers(1, 3)), _colour_near(rng, under), -1,
                       cv2.LINE_AA)
    boxes, labels = [], []
    for _ in range(int(rng.integers(SMALL_OBJECTS_PER_IMAGE[0], SMALL_OBJECTS_PER_IMAGE[1] + 1))):
        cls = int(rng.integers(len(CLASS_NAMES)))
        shape = _unit_polygon(cls) @ _rotation(rng.uniform(0, 2 * np.pi)).T
        shape *= rng.uniform(low, high) / np.ptp(shape, 0).max()  # the box's longer side is the drawn size
        placed = _place(rng, shape, imgsz, boxes, 1.0, 0.0)
        if placed is None:
            continue
        offset, box = placed
        x1, y1, x2, y2 = box.astype(int)
        under = img[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)].reshape(-1, 3).mean(0)
        cv2.fillPoly(img, [np.round((shape + offset) * (1 << _SHIFT)).astype(np.int32)], _colour_near(rng, under),
                     cv2.LINE_AA, shift=_SHIFT)
        boxes.append(box)
        labels.append(_box_row(cls, box, imgsz))
    return img, np.array(labels, np.float64).reshape(-1, 5)


def _pale_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A light BGR colour of random hue (HSV saturation <= 60, value >= 225)."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(0, 61), rng.integers(225, 256)]]], np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def render_classification_image(rng: np.random.Generator, imgsz: int, cls: int) -> np.ndarray:
    """One (imgsz, imgsz, 3) BGR image of a single object of class ``cls`` (diameter :data:`CLASSIFY_SIZE` of the
    side, random rotation and stretch, wholly inside the image): a pale shape of random tint on the detection
    set's cluttered background darkened to 60 %.

    The object is lighter than its background so that its outline, the only class cue, stands out: shapes of random
    vivid colours on these backgrounds need far more images and steps than a CPU test affords before a small
    network separates figure from ground (measured: top-1 stays near chance after 1,000 steps at 64 px)."""
    img = (_background(rng, imgsz) * 0.6).astype(np.uint8)
    radius = rng.uniform(*CLASSIFY_SIZE) * imgsz / 2
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shape = (_unit_polygon(cls) * radius * np.exp(rng.uniform(-0.2, 0.2, 2))) @ rot.T
    low, high = -shape.min(0), imgsz - shape.max(0)
    pts = shape + rng.uniform(low, np.maximum(high, low))
    cv2.fillPoly(img, [np.round(pts * (1 << _SHIFT)).astype(np.int32)], _pale_colour(rng), cv2.LINE_AA,
                 shift=_SHIFT)
    _lines(img, rng, int(rng.integers(0, 2)))
    return img


def _obb_shape(cls: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], float]:
    """Class ``cls`` of synthetic-obb along the x axis, spanning x in [-1, 1] and y in [-a, a]: its (k, 2) outline,
    the (m, 2) parts drawn darker on it (deck, cab) and its half-width ``a``."""
    if cls == 0:  # ship: a hull with a pointed bow at +x and a deck block
        a = rng.uniform(0.2, 0.3)
        hull = np.array([[-1, -a], [0.55, -a], [1, 0], [0.55, a], [-1, a]])
        return hull, [np.array([[-0.6, -a / 2], [0.1, -a / 2], [0.1, a / 2], [-0.6, a / 2]])], a
    if cls == 1:  # plane: fuselage (nose at +x), wings and tail, a cross
        a, f, t = rng.uniform(0.75, 0.95), 0.1, 0.35
        half = [[-1, -t], [-0.8, -t], [-0.8, -f], [0, -f], [0, -a], [0.3, -a], [0.3, -f], [0.85, -f], [1, 0]]
        upper = np.array(half, float)
        lower = upper[-2::-1] * (1, -1)
        return np.concatenate((upper, lower)), [], a
    a = rng.uniform(0.45, 0.55)  # vehicle: a small rectangle with a cab at +x
    body = np.array([[-1, -a], [1, -a], [1, a], [-1, a]])
    return body, [np.array([[0.45, -0.8 * a], [0.95, -0.8 * a], [0.95, 0.8 * a], [0.45, 0.8 * a]])], a


def _obb_length(rng: np.random.Generator, cls: int, imgsz: int) -> float:
    """Length in px of an object of class ``cls`` (:data:`OBB_LENGTHS`), log-uniform."""
    low, high = OBB_LENGTHS[cls]
    high = high * imgsz if high < 1 else high
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _fill_coverage(img: np.ndarray, pts: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Fill the (k, 2) polygon ``pts`` in place, in the labels' pixel coordinates (0 is the first pixel's left / top
    edge, pixel i spans [i, i + 1)): each pixel is blended with ``colour`` by the fraction of it the polygon covers,
    counted on :data:`COVERAGE_SAMPLES` x :data:`COVERAGE_SAMPLES` points.

    Why not ``cv2.fillPoly`` with ``LINE_AA`` as the other sets: it puts integer coordinates at pixel centres (the
    drawing sits half a pixel right of and below its labels), rounds vertices to whole rows, and draws a top edge
    unlike a bottom one, so a shape and its quarter turn differ by up to a pixel. Coverage is exact to a
    ``1 / COVERAGE_SAMPLES`` pixel, the same along both axes, so a turned or flipped image of the set is an image
    the set could have drawn."""
    n = COVERAGE_SAMPLES
    x0, y0 = np.floor(pts.min(0)).astype(int).clip(0)
    x1, y1 = np.ceil(pts.max(0)).astype(int).clip(None, img.shape[1::-1])
    if x1 <= x0 or y1 <= y0:
        return
    fine = np.zeros(((y1 - y0) * n, (x1 - x0) * n), np.uint8)
    sample_grid = (pts - (x0, y0)) * n - 0.5  # sample k of a fine row sits at fine coordinate k (cv2's centres)
    cv2.fillPoly(fine, [np.round(sample_grid * (1 << _SHIFT)).astype(np.int32)], 255, cv2.LINE_8, shift=_SHIFT)
    alpha = fine.reshape(y1 - y0, n, x1 - x0, n).mean((1, 3))[..., None] / 255
    region = img[y0:y1, x0:x1].astype(np.float64)
    img[y0:y1, x0:x1] = np.round(region + (np.array(colour, np.float64) - region) * alpha).astype(np.uint8)


def render_obb_image(rng: np.random.Generator,
                     imgsz: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """One (imgsz, imgsz, 3) BGR image of synthetic-obb, its (n,) class ids, (n, 4, 2) oriented-box corners
    normalised (the shape's own rectangle: ``c - u - v, c + u - v, c + u + v, c - u + v``, u along its length) and
    each object's (k, 2) outline normalised (which touches every side of its rectangle)."""
    img = _background(rng, imgsz)
    boxes, classes, corners, outlines = [], [], [], []
    for _ in range(int(rng.integers(OBB_OBJECTS_PER_IMAGE[0], OBB_OBJECTS_PER_IMAGE[1] + 1))):
        cls = int(rng.integers(len(OBB_NAMES)))
        outline, parts, a = _obb_shape(cls, rng)
        turn = _rotation(rng.uniform(0, 2 * np.pi)).T * _obb_length(rng, cls, imgsz) / 2
        shape, rectangle = outline @ turn, np.array([[-1, -a], [1, -a], [1, a], [-1, a]]) @ turn
        placed = _place(rng, rectangle, imgsz, boxes, 1.0, 0.0)  # the whole oriented box inside, boxes apart
        if placed is None:
            continue
        offset, box = placed
        x1, y1, x2, y2 = box.astype(int)
        colour = _vivid_colour(rng, img[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)].reshape(-1, 3).mean(0))
        _fill_coverage(img, shape + offset, colour)
        for part in parts:
            _fill_coverage(img, part @ turn + offset, tuple(int(c * 0.55) for c in colour))
        boxes.append(box)
        classes.append(cls)
        corners.append((rectangle + offset) / imgsz)
        outlines.append((shape + offset) / imgsz)
    _lines(img, rng, int(rng.integers(0, 2)))
    return img, np.array(classes, np.int64), np.array(corners, np.float64).reshape(-1, 4, 2), outlines


def _write_jpeg(path: Path, img: np.ndarray) -> None:
    _, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    path.write_bytes(jpg.tobytes())


def _generate_classification(root: Path, n_train: int, n_val: int, imgsz: int, seed: int) -> dict:
    """Write ``{train,val}/<class>/<index>.jpg``; returns the data.yaml content."""
    for split_id, (split, n) in enumerate((("train", n_train), ("val", n_val))):
        for name in CLASS_NAMES:
            (root / split / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cls = i % len(CLASS_NAMES)
            img = render_classification_image(np.random.default_rng([seed, split_id, i]), imgsz, cls)
            _write_jpeg(root / split / CLASS_NAMES[cls] / f"{i:06d}.jpg", img)
    return {"path": ".", "train": "train", "val": "val", "names": list(CLASS_NAMES)}


def _label_rows(labels: np.ndarray, outlines: list[np.ndarray], polygons: bool) -> str:
    """Label file text: ``cls cx cy w h`` rows, or ``cls x1 y1 ...`` polygon rows."""
    if polygons:
        return "".join(f"{int(r[0])} " + " ".join(f"{v:.6f}" for v in xy.ravel()) + "\n"
                       for r, xy in zip(labels, outlines))
    return "".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in labels)


def _pose_label_rows(labels: np.ndarray, keypoints: np.ndarray) -> str:
    """Label file text: ``cls cx cy w h`` + ``x y v`` per keypoint."""
    return "".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f} "
                   + " ".join(f"{x:.6f} {y:.6f} {int(v)}" for x, y, v in points) + "\n"
                   for r, points in zip(labels, keypoints))


def _marked_context_labels(rng: np.random.Generator, imgsz: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic-context image with its squares' rows followed by one row per marker: class ``2 + cue``, the
    disc's box (side 2 * :data:`CONTEXT_MARKER`)."""
    img, labels, markers = render_context_image(rng, imgsz)
    side = 2 * CONTEXT_MARKER
    marked = np.column_stack([labels[:, 0] + len(CONTEXT_NAMES), markers, np.full((len(markers), 2), side)])
    return img, np.concatenate([labels, marked])


_BOX_SETS = {"synthetic-context": lambda rng, imgsz: render_context_image(rng, imgsz)[:2],
             "synthetic-context-marked": _marked_context_labels,
             "synthetic-small": render_small_image}
"""Built-in box sets beyond ``synthetic``: name -> (rng, imgsz) -> (BGR image, (n, 5) label rows)."""


def _render_labelled(rng: np.random.Generator, imgsz: int, name: str) -> tuple[np.ndarray, str]:
    """One image of the built-in set ``name`` (any but synthetic-cls) and its label text."""
    if name == "synthetic-pose":
        img, labels, keypoints = render_pose_image(rng, imgsz)
        return img, _pose_label_rows(labels, keypoints)
    if name == "synthetic-obb":
        img, classes, corners, _ = render_obb_image(rng, imgsz)
        return img, corner_rows(classes, corners)
    if name in _BOX_SETS:
        img, labels = _BOX_SETS[name](rng, imgsz)
        return img, _label_rows(labels, [], False)
    polygons = name == "synthetic-seg"
    img, labels, outlines = render_image(rng, imgsz, polygons)
    return img, _label_rows(labels, outlines, polygons)


def _generate_detection(root: Path, n_train: int, n_val: int, imgsz: int, seed: int, name: str) -> dict:
    """Write ``images/{train,val}`` and their ``labels``; returns the data.yaml content."""
    for split_id, (split, n) in enumerate((("train", n_train), ("val", n_val))):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, text = _render_labelled(np.random.default_rng([seed, split_id, i]), imgsz, name)
            _write_jpeg(root / "images" / split / f"{i:06d}.jpg", img)
            (root / "labels" / split / f"{i:06d}.txt").write_text(text)
    config = {"path": ".", "train": "images/train", "val": "images/val"}
    if name == "synthetic-pose":
        return {**config, "names": list(POSE_NAMES), "kpt_shape": POSE_KPT_SHAPE, "flip_idx": POSE_FLIP_IDX,
                "skeleton": POSE_SKELETON}
    if name == "synthetic-obb":
        return {**config, "names": list(OBB_NAMES)}
    names = {"synthetic-context": CONTEXT_NAMES, "synthetic-context-marked": CONTEXT_NAMES + MARKER_NAMES}
    return {**config, "names": list(names.get(name, CLASS_NAMES))}


def generate_synthetic(root: Path, n_train: int = 400, n_val: int = 100, imgsz: int = 160, seed: int = 0,
                       name: str = "synthetic") -> Path:
    """Write the built-in dataset ``name`` (a key of :data:`VERSIONS`: ``synthetic``, ``synthetic-seg``,
    ``synthetic-pose``, ``synthetic-cls``, ``synthetic-context``, ``synthetic-context-marked``, ``synthetic-small``
    or ``synthetic-obb``) under ``root`` and return its ``data.yaml``.

    Image ``i`` of split ``s`` depends only on ``(seed, s, i)``: the same arguments give identical
    bytes. Images are JPEG (quality 90), ``imgsz`` x ``imgsz``.
    """
    if name not in VERSIONS:
        raise DataError(f"unknown built-in dataset {name!r}; choose from {', '.join(VERSIONS)}")
    root = Path(root)
    config = (_generate_classification(root, n_train, n_val, imgsz, seed) if name == "synthetic-cls"
              else _generate_detection(root, n_train, n_val, imgsz, seed, name))
    config["synthetic"] = {"version": VERSIONS[name], "seed": seed, "imgsz": imgsz, "n_train": n_train,
                           "n_val": n_val}
    data_yaml = root / "data.yaml"
    data_yaml.write_text(f"# Built-in {name} shapes dataset (focalyolo.data.synthetic)\n"
                         + yaml.safe_dump(config, sort_keys=False))
    return data_yaml


def ensure_synthetic(name: str = "synthetic") -> Path:
    """The built-in dataset ``name``'s ``data.yaml`` (default size), generating it once (atomically) if absent, with
    one INFO line saying so (it takes a while, and the folder is where the images are).

    It lives in ``$FOCALYOLO_HOME/datasets/<version>`` (:data:`VERSIONS`); generation goes to a temporary sibling
    folder that is renamed into place, so an interrupted or concurrent run never leaves half a dataset.
    """
    if name not in VERSIONS:
        raise DataError(f"unknown built-in dataset {name!r}; choose from {', '.join(VERSIONS)}")
    version = VERSIONS[name]
    root = focalyolo_home() / "datasets" / version
    if (root / "data.yaml").is_file():
        return root / "data.yaml"
    root.parent.mkdir(parents=True, exist_ok=True)
    size = DEFAULT_SIZES[name]
    LOGGER.info(f"{name}: generating the synthetic set ({size['n_train']} train + {size['n_val']} val images, "
                f"{size['imgsz']} px) in {root} (once)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=root.parent))
    try:
        generate_synthetic(tmp, **size, name=name)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if root.exists() and not (root / "data.yaml").is_file():
            shutil.rmtree(root)
        os.rename(tmp, root)
    except OSError:
        if not (root / "data.yaml").is_file():  # not a lost race with another process
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root / "data.yaml"
