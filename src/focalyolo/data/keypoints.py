"""The keypoint annotation kind (pose): nk points per object, moved with the pixels, reordered by ``flip_idx`` in a
mirror image and hidden once outside the image.

A value is an (n, nk, 3) float32 array [x, y, v] per image, one row per label row (normalised in the store, xy in
pixels inside the pipeline). Flips also reorder the points by ``flip_idx``, as a mirror turns a left eye into a
right one; points that leave the image are hidden (:func:`hide_keypoints_outside`: v = 0, x = y = 0) when a mosaic
is cut to its canvas and when a sample is made; boxes still come from the boxes. A sample carries ``keypoints``:
(n, nk, 3) float32 [x / W, y / H, v], rows aligned with its labels.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..errors import DataError
from ..utils.keypoints import check_kpt_shape as keypoint_shape
from .annotations import AnnotationKind, LabelRows, box_row_text, register_annotation_kind
from .geometry import transform_points

__all__ = ["Keypoints", "check_flip_idx", "check_kpt_shape", "hide_keypoints_outside", "is_int"]


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_kpt_shape(value: Any, source: str) -> list[int]:
    """A data file's ``kpt_shape`` (a list or tuple): [nk >= 1, 2 or 3], as a DataError naming ``source``."""
    try:
        return keypoint_shape(value)
    except ValueError as exc:
        raise DataError(f"{source}: {exc}") from None


def check_flip_idx(value: Any, nk: int, source: str) -> list[int]:
    """A data file's ``flip_idx`` (a list or tuple): a permutation of range(nk)."""
    if not (isinstance(value, (list, tuple)) and all(map(is_int, value)) and sorted(value) == list(range(nk))):
        raise DataError(f"{source}: 'flip_idx' must list each keypoint index 0..{nk - 1} once, got {value}")
    return list(value)


def hide_keypoints_outside(keypoints: np.ndarray, w: int, h: int) -> np.ndarray:
    """(n, nk, 3) pixel keypoints with those outside [0, w) x [0, h) or not labelled (v == 0) set to
    v = 0, x = y = 0: after cropping, a point off the image is no longer in it to be predicted."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    hidden = (x < 0) | (x >= w) | (y < 0) | (y >= h) | (keypoints[..., 2] == 0)
    out = keypoints.copy()
    out[hidden] = 0
    return out


@register_annotation_kind
class Keypoints(AnnotationKind):
    """Pose keypoints (see the module docstring).

    Args:
        kpt_shape: (nk, ndim), the keypoints per row and values per keypoint (2: x y, 3: x y visibility) of the
            labels (``cls cx cy w h`` + nk x ndim values).
        flip_idx: a permutation of range(nk); after a mirror (either flip) keypoint i becomes keypoint
            ``flip_idx[i]`` (left <-> right). Needed when training with ``fliplr`` or ``flipud`` > 0; None keeps
            the order.
    """

    name = "keypoints"

    def __init__(self, kpt_shape: Sequence[int], flip_idx: Sequence[int] | None = None) -> None:
        self.kpt_shape, self.flip_idx = kpt_shape, flip_idx

    def checked(self, source: str, flips: bool) -> Keypoints:
        """``kpt_shape`` as (nk, ndim) and ``flip_idx`` as a list, checked; flipping keypoints needs ``flip_idx``."""
        nk, ndim = check_kpt_shape(self.kpt_shape, source)
        flip_idx = self.flip_idx
        if flip_idx is not None:
            flip_idx = check_flip_idx(flip_idx, nk, source)
        elif flips:
            raise DataError(f"{source}: flipping keypoints needs 'flip_idx' in the data YAML (which keypoint each "
                            "becomes in a mirror image), or fliplr: 0 and flipud: 0")
        return Keypoints((nk, ndim), flip_idx)

    def row_format(self) -> str:
        nk, ndim = self.kpt_shape
        return f"keypoints {int(nk)}x{int(ndim)}"

    def parse_rows(self, rows: list[np.ndarray]) -> LabelRows:
        """Pose rows ``cls cx cy w h`` + nk x ndim keypoint values: (n, nk, 3) float64 keypoints [x, y, v] (v = 2
        when ndim is 2), which must be finite; rows with another value count are dropped."""
        nk, ndim = (int(v) for v in self.kpt_shape)
        good = [values for values in rows if len(values) == 5 + nk * ndim]
        table = np.array(good, np.float64).reshape(-1, 5 + nk * ndim)
        points = table[:, 5:].reshape(-1, nk, ndim)
        if ndim == 2:
            points = np.concatenate((points, np.full((len(points), nk, 1), 2.0)), 2)
        return LabelRows(table[:, :5], points, points.reshape(len(points), nk * 3),
                         [len(v) for v in rows if len(v) != 5 + nk * ndim])

    def column_note(self, found: list[int]) -> str:
        """The counts found and the count ``kpt_shape`` asks for (a data YAML whose ``kpt_shape`` disagrees with
        its labels shows here)."""
        nk, ndim = self.kpt_shape
        counts = ", ".join(map(str, sorted(set(found))))
        return (f"with a wrong column count ({counts} values; kpt_shape {list(self.kpt_shape)} needs 5 + {nk}x{ndim} "
                f"= {5 + nk * ndim})")

    def coco_row(self, row: np.ndarray, annotation: Mapping[str, Any], size: tuple[float, float]) -> tuple[str, bool]:
        """A pose row ``cls cx cy w h x1 y1 v1 ...`` from the box row and the annotation's ``keypoints`` (normalised
        by the image ``size`` (w, h)); unusable or absent keypoints are written as v = 0."""
        nk = int(self.kpt_shape[0])
        keypoints = annotation.get("keypoints")
        try:
            points = np.asarray(keypoints if isinstance(keypoints, list) else [], np.float64)
        except (TypeError, ValueError):  # nested or non-numeric values
            points = np.zeros(0)
        usable = points.shape == (nk * 3,) and bool(np.isfinite(points).all())
        points = points.reshape(nk, 3) if usable else np.zeros((nk, 3))
        points[points[:, 2] == 0, :2] = 0
        values = " ".join(f"{x / size[0]:.6f} {y / size[1]:.6f} {int(v)}" for x, y, v in points)
        return f"{box_row_text(row)} {values}", usable or keypoints is None

    def coco_problem(self) -> str:
        nk = int(self.kpt_shape[0])
        return f"malformed keypoints (not {nk * 3} finite numbers) kept with every keypoint unlabelled"

    def kept_rows(self, value: np.ndarray, index: np.ndarray) -> np.ndarray:
        """(k, nk, 3) float32 keypoints of the kept rows; ``x = y = 0`` where ``v == 0`` (not labelled)."""
        points = value[index].astype(np.float32)
        points[points[..., 2] == 0, :2] = 0  # a point that is not labelled has no position
        return points

    def pack(self, values: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {"keypoints": np.concatenate(values) if values else np.zeros((0, 0, 3), np.float32)}

    def to_pixels(self, value: np.ndarray, w: float, h: float, pad_w: float, pad_h: float) -> np.ndarray:
        points = value.copy()
        points[..., :2] = points[..., :2] * (w, h) + (pad_w, pad_h)
        return points

    def shift(self, value: np.ndarray, offset: np.ndarray) -> np.ndarray:
        moved = value.astype(np.float32).copy()
        moved[..., :2] += offset
        return moved

    def transform(self, value: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
        """The points moved (not hidden: that happens when the image is final)."""
        moved = value.copy()
        moved[..., :2] = transform_points(value[..., :2].reshape(-1, 2), matrix).reshape(len(value), -1, 2)
        return moved

    def flip(self, value: np.ndarray, axis: int, size: int) -> np.ndarray:
        """Mirrored along ``axis`` and reordered: point i becomes point ``flip_idx[i]``."""
        mirrored = value.copy()
        mirrored[..., axis] = size - mirrored[..., axis]
        if self.flip_idx is None:
            return mirrored
        out = np.empty_like(mirrored)
        out[:, np.asarray(self.flip_idx)] = mirrored
        return out

    def crop(self, value: np.ndarray, w: int, h: int) -> np.ndarray:
        """Points off the w x h image hidden (a mosaic's cut-off parts, which a zoomed-out affine step could bring
        back into view as grey border)."""
        return hide_keypoints_outside(value, w, h)

    def sample(self, value: np.ndarray, rows: np.ndarray, hw: tuple[int, int]) -> tuple[dict[str, Any], np.ndarray]:
        """``keypoints`` of the kept rows, those outside the image hidden, normalised to it."""
        hh, ww = hw
        points = hide_keypoints_outside(value[rows], ww, hh)
        return {"keypoints": torch.from_numpy((points / np.array([ww, hh, 1], np.float32)).astype(np.float32))}, rows
