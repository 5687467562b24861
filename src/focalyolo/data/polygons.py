"""The polygon annotation kind (segmentation): one outline per object, moved and clipped with the pixels and
rasterised into instance masks for the batch.

A value is a list with one (k, 2) float32 xy polygon per label row ((0, 2) for a box row in the store). Polygons
follow every geometric step; the affine step clips them to the output (:func:`clip_polygon`) and each box becomes
the box of its clipped polygon (:meth:`Polygons.outline_boxes`), so boxes and masks stay aligned. A sample carries
``masks`` (:func:`polygons_to_masks`): (H / r, W / r) int32 index-coded (overlap; value j + 1 = row j of its
labels) or (n, H / r, W / r) 0/1, r = ``mask_ratio``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..errors import DataError
from ..utils.masks import mask_outlines
from .annotations import AnnotationKind, LabelRows, box_row_text, register_annotation_kind
from .geometry import transform_points

__all__ = ["Polygons", "clip_polygon", "coco_outline", "fill_centres", "join_parts", "polygons_to_masks"]


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


def fill_centres(mask: np.ndarray, polygon: np.ndarray) -> None:
    """Set to 1 the pixels of (h, w) ``mask`` whose centre (x + 0.5, y + 0.5) lies inside the (k, 2) ``polygon``
    (even-odd rule, in pixel units), vectorised over the polygon's bounding box. Unlike ``cv2.fillPoly``, which also
    fills every pixel an edge touches, no pixel outside the polygon's box is ever set."""
    h, w = mask.shape
    x0, y0 = (np.floor(polygon.min(0) - 0.5).astype(int)).clip(0, (w, h))
    x1, y1 = (np.ceil(polygon.max(0) + 0.5).astype(int)).clip(0, (w, h))
    if x1 <= x0 or y1 <= y0:
        return
    xs = np.arange(x0, x1) + 0.5
    ys = np.arange(y0, y1) + 0.5
    start, end = polygon.astype(np.float64), np.roll(polygon, -1, 0).astype(np.float64)
    spans = (start[:, 1:2] > ys) != (end[:, 1:2] > ys)  # (k, rows): edge k crosses the row's centre line
    with np.errstate(divide="ignore", invalid="ignore"):  # horizontal edges never span a row
        cross_x = start[:, 0:1] + (ys - start[:, 1:2]) * (end[:, 0:1] - start[:, 0:1]) / (end[:, 1:2] - start[:, 1:2])
    crossings = (spans[:, :, None] & (xs < cross_x[:, :, None])).sum(0)  # (rows, cols) crossings to the right
    mask[y0:y1, x0:x1] |= (crossings % 2).astype(mask.dtype)


def polygons_to_masks(segments: list[np.ndarray], hw: tuple[int, int], ratio: int,
                      overlap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise pixel polygons at 1/``ratio`` of an image of size ``hw``.

    Returns ``(masks, order)``; polygon edges are sub-pixel, and a pixel belongs to a mask when its centre does.
    Per instance (``overlap`` False): (n, h, w) uint8 0/1 masks and the identity order. Overlap: one (h, w) int32
    index mask in which instance ``order[j]`` has value j + 1; instances are drawn largest first, so where they
    overlap the smaller one wins (pass the labels through ``order`` too).
    """
    size = (hw[0] // ratio, hw[1] // ratio)
    masks = np.zeros((len(segments), *size), np.uint8)
    for mask, polygon in zip(masks, segments):
        if len(polygon) >= 3:
            fill_centres(mask, polygon / ratio)
    if not overlap:
        return masks, np.arange(len(segments))
    order = np.argsort(-masks.sum((1, 2)), kind="stable")
    index = np.zeros(size, np.int32)  # a mosaic with mixup can hold more than 255 instances
    for j, i in enumerate(order):
        index[masks[i] > 0] = j + 1
    return index, order


def join_parts(parts: list[np.ndarray]) -> np.ndarray:
    """One outline through several (k_i, 2) polygon parts: each further part is entered from the point of the
    outline so far nearest to it, walked round, and left back to that point (a zero-width bridge), so filling the
    outline fills every part."""
    outline = parts[0]
    for part in parts[1:]:
        distance = ((outline[:, None] - part[None]) ** 2).sum(-1)
        i, j = np.unravel_index(int(distance.argmin()), distance.shape)
        outline = np.concatenate((outline[: i + 1], np.roll(part, -j, 0), part[j: j + 1], outline[i:]))
    return outline


def coco_outline(segmentation: list | dict, width: float, height: float) -> np.ndarray | None:
    """An annotation's ``segmentation`` (polygon list, or RLE with list or string counts) -> one (k, 2) polygon
    normalised to the image, or None when there is no usable outline (no part with 3 points)."""
    if isinstance(segmentation, dict):
        from pycocotools import mask as mask_utils

        if not isinstance(segmentation.get("counts"), (list, str, bytes)) or "size" not in segmentation:
            return None
        try:
            rle = mask_utils.frPyObjects(segmentation, *segmentation["size"]) if isinstance(
                segmentation["counts"], list) else segmentation
            mask = mask_utils.decode(rle)
        except (TypeError, ValueError, OverflowError, IndexError, KeyError):  # a malformed size or counts
            return None
        parts = [p.astype(np.float64) for p in mask_outlines(mask)]
    elif isinstance(segmentation, list):
        parts = [np.asarray(p, np.float64).reshape(-1, 2) for p in segmentation
                 if isinstance(p, list) and len(p) % 2 == 0]
    else:
        return None
    parts = [p for p in parts if len(p) >= 3 and np.isfinite(p).all()]
    if not parts:
        return None
    return (join_parts(parts) / (width, height)).clip(0, 1)


@register_annotation_kind
class Polygons(AnnotationKind):
    """Segmentation outlines (see the module docstring).

    Args:
        mask_ratio: masks are 1/``mask_ratio`` of the image size (4: the prototypes' resolution).
        overlap: one index-coded mask per image (value j + 1 = the j-th label row) instead of one per instance.
    """

    name = "polygons"

    def __init__(self, mask_ratio: int = 4, overlap: bool = True) -> None:
        self.mask_ratio, self.overlap = mask_ratio, overlap

    def row_format(self) -> str:
        return "boxes or polygons"

    def parse_rows(self, rows: list[np.ndarray]) -> LabelRows:
        """Box rows ``cls cx cy w h`` (a (0, 2) polygon) and polygon rows ``cls x1 y1 x2 y2 ...`` (at least three
        points; the row's box is the polygon's extent)."""
        boxes, polygons, bad_cols = [], [], []
        for values in rows:
            if len(values) == 5:
                boxes.append(values)
                polygons.append(np.zeros((0, 2), np.float32))
            elif len(values) >= 7 and len(values) % 2 == 1:
                xy = values[1:].reshape(-1, 2)
                lo, hi = xy.min(0), xy.max(0)
                boxes.append(np.array([values[0], *(lo + hi) / 2, *(hi - lo)]))
                polygons.append(xy.astype(np.float32))
            else:
                bad_cols.append(len(values))
        return LabelRows(np.array(boxes, np.float64).reshape(-1, 5), polygons, None, bad_cols)

    def pack(self, values: list[list[np.ndarray]]) -> dict[str, np.ndarray]:
        """Every polygon's point count and all points."""
        polygons = [polygon for image in values for polygon in image]
        return {"segment_lengths": np.array([len(p) for p in polygons], np.int64),
                "segment_points": np.concatenate(polygons) if polygons else np.zeros((0, 2), np.float32)}

    def unpack(self, arrays: Mapping[str, np.ndarray], starts: list[int]) -> list[list[np.ndarray]]:
        sizes = arrays["segment_lengths"]
        polygons = np.split(arrays["segment_points"], np.cumsum(sizes)[:-1]) if len(sizes) else []
        return [[p.copy() for p in polygons[a:b]] for a, b in zip(starts[:-1], starts[1:])]

    def coco_row(self, row: np.ndarray, annotation: Mapping[str, Any], size: tuple[float, float]) -> tuple[str, bool]:
        """A polygon row ``cls x1 y1 ...`` from the annotation's outline (:func:`coco_outline`), or its box row when
        it has none; usable unless it has a segmentation without a usable outline."""
        segmentation = annotation.get("segmentation")
        outline = coco_outline(segmentation, *size) if segmentation else None
        if outline is None:
            return box_row_text(row), not segmentation
        return f"{int(row[0])} " + " ".join(f"{v:.6f}" for v in outline.reshape(-1)), True

    def coco_problem(self) -> str:
        return "an unusable segmentation (no part with 3 points, or a malformed RLE) kept as boxes only"

    def usable_rows(self, values: list[list[np.ndarray]], source: str) -> tuple[list[np.ndarray], str]:
        """Rows with a polygon; a dataset whose rows are all boxes is a :class:`DataError`."""
        if any(len(p) for p in values) and not any(len(q) for p in values for q in p):
            raise DataError(f"{source}: none of the {sum(map(len, values))} labelled instances has an outline; "
                            "segmentation needs polygon rows (class x1 y1 x2 y2 ...) or a COCO JSON with segmentations")
        return ([np.array([len(p) > 0 for p in polygons], bool) for polygons in values],
                "box row(s) without a polygon dropped (segmentation needs outlines)")

    def to_pixels(self, value: list[np.ndarray], w: float, h: float, pad_w: float, pad_h: float) -> list[np.ndarray]:
        scale, shift = np.array([w, h], np.float32), np.array([pad_w, pad_h], np.float32)
        return [p * scale + shift for p in value]

    def shift(self, value: list[np.ndarray], offset: np.ndarray) -> list[np.ndarray]:
        return [polygon + offset for polygon in value]

    def transform(self, value: list[np.ndarray], matrix: np.ndarray, out_hw: tuple[int, int]) -> list[np.ndarray]:
        """Each polygon moved and clipped to the output image (:func:`clip_polygon`; possibly empty)."""
        return [clip_polygon(transform_points(p, matrix), out_hw[1], out_hw[0]) for p in value]

    def outline_boxes(self, value: list[np.ndarray]) -> np.ndarray:
        """(n, 4) float64 box of each (clipped) polygon; zeros for an empty one."""
        return np.array([np.concatenate((p.min(0), p.max(0))) if len(p) else np.zeros(4) for p in value],
                        np.float64).reshape(-1, 4)

    def flip(self, value: list[np.ndarray], axis: int, size: int) -> list[np.ndarray]:
        mirrored = [p.copy() for p in value]
        for p in mirrored:
            p[:, axis] = size - p[:, axis]
        return mirrored

    def sample(self, value: list[np.ndarray], rows: np.ndarray,
               hw: tuple[int, int]) -> tuple[dict[str, Any], np.ndarray]:
        """``masks`` of the kept rows (module docstring); with ``overlap`` the rows in drawing order."""
        masks, order = polygons_to_masks([value[i] for i in rows], hw, self.mask_ratio, self.overlap)
        return {"masks": torch.from_numpy(masks)}, rows[order]

    def collate(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``masks``: (B, h, w) index-coded, or (N, h, w) per instance in ``targets`` order."""
        masks = [s["masks"] for s in samples]
        return {"masks": torch.stack(masks) if masks[0].dim() == 2 else torch.cat(masks)}
