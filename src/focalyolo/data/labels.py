"""Parsing and validating one YOLO label file.

A row is ``class cx cy w h`` (normalised to the image) or a polygon ``class x1 y1 x2 y2 ...`` (at least
three points): detection uses its bounding box, segmentation the polygon too (kept beside the box row). Pose data
(a ``kpt_shape`` [nk, ndim] given) has rows ``class cx cy w h`` followed by nk keypoints of ndim values each
(``x y`` or ``x y visibility``; COCO visibility: 0 not labelled, 1 labelled but hidden, 2 visible). Bad rows
are dropped and described, never raised: the scan collects the notes into the dataset report.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CLIP_TOLERANCE", "LabelFile", "MIN_SIDE", "decode_lines", "read_label_file", "validate_rows"]

MIN_SIDE = 1e-4  # a box narrower than this fraction of the image (after clipping) is dropped
CLIP_TOLERANCE = 1e-3  # overshoots up to this (rounding in label writers) are clipped without a note


@dataclass
class LabelFile:
    """What one label file yielded.

    Attributes:
        labels: (n, 5) float32 rows [cls, cx, cy, w, h], normalised, valid, clipped, de-duplicated.
        notes: one short description per kind of problem found (empty when the file is clean).
        unreadable: the whole file could not be read/decoded (the image must then be skipped).
        segments: per row of ``labels`` its polygon, (k, 2) float32 normalised xy, or a (0, 2) array for a box
            row.
        keypoints: pose data only (empty otherwise): per row of ``labels`` its (nk, 3) float32 keypoints
            [x, y, v] normalised; ``x = y = 0`` where ``v == 0`` (not labelled).
    """

    labels: np.ndarray
    notes: list[str] = field(default_factory=list)
    unreadable: bool = False
    segments: list[np.ndarray] = field(default_factory=list)
    keypoints: list[np.ndarray] = field(default_factory=list)


def _empty() -> np.ndarray:
    return np.zeros((0, 5), np.float32)


def _numeric_rows(lines: list[str]) -> tuple[list[np.ndarray], int]:
    """The (k,) float64 values of each non-blank line and the number of lines with a non-numeric field."""
    rows, bad_num = [], 0
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        try:
            rows.append(np.array(fields, dtype=np.float64))
        except ValueError:
            bad_num += 1
    return rows, bad_num


def _parse_rows(lines: list[str]) -> tuple[np.ndarray, list[np.ndarray], None, list[int], int]:
    """Box rows and polygon rows: (n, 5) float64 [cls, cx, cy, w, h] (a polygon's box), each row's polygon
    ((0, 2) for box rows), no keypoints, the column count of each row with a wrong one and #non-numeric rows."""
    numeric, bad_num = _numeric_rows(lines)
    rows, polygons, bad_cols = [], [], []
    for values in numeric:
        if len(values) == 5:
            rows.append(values)
            polygons.append(np.zeros((0, 2), np.float32))
        elif len(values) >= 7 and len(values) % 2 == 1:
            xy = values[1:].reshape(-1, 2)
            lo, hi = xy.min(0), xy.max(0)
            rows.append(np.array([values[0], *(lo + hi) / 2, *(hi - lo)]))
            polygons.append(xy.astype(np.float32))
        else:
            bad_cols.append(len(values))
    return np.array(rows, np.float64).reshape(-1, 5), polygons, None, bad_cols, bad_num


def _parse_pose_rows(lines: list[str],
                     kpt_shape: tuple[int, int]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, list[int], int]:
    """Pose rows ``cls cx cy w h`` + nk x ndim keypoint values: (n, 5) float64 rows, (0, 2) polygons, (n, nk, 3)
    float64 keypoints [x, y, v] (v = 2 when ndim is 2), the column count of each row with another one and
    #non-numeric rows."""
    nk, ndim = kpt_shape
    numeric, bad_num = _numeric_rows(lines)
    good = [values for values in numeric if len(values) == 5 + nk * ndim]
    table = np.array(good, np.float64).reshape(-1, 5 + nk * ndim)
    points = table[:, 5:].reshape(-1, nk, ndim)
    if ndim == 2:
        points = np.concatenate((points, np.full((len(points), nk, 1), 2.0)), 2)
    polygons = [np.zeros((0, 2), np.float32) for _ in range(len(table))]
    return table[:, :5], polygons, points, [len(v) for v in numeric if len(v) != 5 + nk * ndim], bad_num


def validate_rows(rows: np.ndarray, nc: int | None,
                  extra: np.ndarray | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Drop invalid rows, clip boxes to the image and remove duplicates.

    Args:
        rows: (n, 5) float64 [cls, cx, cy, w, h] as read from the file.
        nc: number of classes; ``None`` skips the upper bound check on class ids.
        extra: (n, m) further values of each row (pose keypoints, flattened): a row with a non-finite one is
            dropped like a row with a non-finite box value.

    Returns:
        (m, 5) float32 clean rows, a list of notes describing what was changed, and the (m,) indices of the
        kept rows in ``rows`` (to keep what belongs to each row, such as its polygon, aligned).
    """
    notes = []
    finite = np.isfinite(rows).all(1)
    if extra is not None:
        finite &= np.isfinite(extra).all(1)
    cls = rows[:, 0]
    cls_ok = (cls >= 0) & (cls == np.round(cls)) & ((cls < nc) if nc is not None else True)
    size_ok = (rows[:, 3] > 0) & (rows[:, 4] > 0)
    for mask, what in ((~finite, "NaN/inf value"), (finite & ~cls_ok, "bad class id"),
                       (finite & cls_ok & ~size_ok, "non-positive width/height")):
        if mask.any():
            notes.append(f"{int(mask.sum())} row(s) with {what} dropped")
    index = np.flatnonzero(finite & cls_ok & size_ok)
    rows = rows[index]

    xy1 = rows[:, 1:3] - rows[:, 3:5] / 2
    xy2 = rows[:, 1:3] + rows[:, 3:5] / 2
    outside = ((xy1 < -CLIP_TOLERANCE) | (xy2 > 1 + CLIP_TOLERANCE)).any(1)
    xy1, xy2 = xy1.clip(0, 1), xy2.clip(0, 1)
    keep = ((xy2 - xy1) > MIN_SIDE).all(1)
    if (outside & keep).any():
        notes.append(f"{int((outside & keep).sum())} box(es) clipped to the image")
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} box(es) outside the image dropped")
    rows = np.concatenate((rows[:, :1], (xy1 + xy2) / 2, xy2 - xy1), 1)[keep].astype(np.float32)
    index = index[keep]

    _, first = np.unique(rows, axis=0, return_index=True)
    if len(first) < len(rows):
        notes.append(f"{len(rows) - len(first)} duplicate row(s) removed")
        rows, index = rows[np.sort(first)], index[np.sort(first)]
    return rows, notes, index


def decode_lines(raw: bytes) -> tuple[list[str], int]:
    """Text lines of a label file and the number of lines that are not text (dropped).

    UTF-8 (with or without BOM) is decoded line by line, so one corrupt line costs only that line;
    UTF-16 with a BOM (Windows "Unicode" text) is decoded as a whole.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16").splitlines(), 0
        except UnicodeDecodeError:
            return [], 1
    lines, bad = [], 0
    for line in raw.removeprefix(codecs.BOM_UTF8).splitlines():
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
            continue
        if "\x00" in text:
            bad += 1
        else:
            lines.append(text)
    return lines, bad


def _column_note(kpt_shape: tuple[int, int] | None, found: list[int]) -> str:
    """What rows with a wrong column count are dropped for: the counts ``found`` and, for pose rows, the count
    ``kpt_shape`` asks for (a data YAML whose ``kpt_shape`` disagrees with its labels shows here)."""
    counts = ", ".join(map(str, sorted(set(found))))
    if kpt_shape is None:
        return f"with a wrong column count ({counts} values)"
    nk, ndim = kpt_shape
    return (f"with a wrong column count ({counts} values; kpt_shape {list(kpt_shape)} needs 5 + {nk}x{ndim} = "
            f"{5 + nk * ndim})")


def read_label_file(path: Path, nc: int | None, kpt_shape: tuple[int, int] | None = None) -> LabelFile:
    """Read and validate one label file (which must exist).

    A file with undecodable lines and no decodable one is ``unreadable``: its image must be skipped
    rather than trained on as a background. With ``kpt_shape`` = (nk, ndim) rows are pose rows of exactly
    5 + nk * ndim values (box + keypoints, see the module docstring); others are dropped.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return LabelFile(_empty(), [f"label file unreadable ({exc.strerror})"], unreadable=True)
    lines, bad_text = decode_lines(raw)
    if bad_text and not any(ln.strip() for ln in lines):
        return LabelFile(_empty(), ["label file is not UTF-8 text"], unreadable=True)
    rows, polygons, points, bad_cols, bad_num = (_parse_rows(lines) if kpt_shape is None
                                                  else _parse_pose_rows(lines, kpt_shape))
    notes = []
    for count, what in ((bad_text, "that are not UTF-8 text"), (len(bad_cols), _column_note(kpt_shape, bad_cols)),
                        (bad_num, "with non-numeric values")):
        if count:
            notes.append(f"{count} row(s) {what} dropped")
    if not len(rows):
        return LabelFile(_empty(), notes)
    labels, more, kept = validate_rows(rows, nc, None if points is None else points.reshape(len(points), -1))
    keypoints = []
    if points is not None:
        points = points[kept].astype(np.float32)
        points[points[..., 2] == 0, :2] = 0  # a point that is not labelled has no position
        keypoints = list(points)
    return LabelFile(labels, notes + more, segments=[polygons[i] for i in kept], keypoints=keypoints)
