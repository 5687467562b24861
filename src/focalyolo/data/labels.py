"""Parsing and validating one YOLO label file.

A row is ``class cx cy w h`` (normalised to the image) or a polygon ``class x1 y1 x2 y2 ...`` (at least three
points): detection uses its bounding box, segmentation the polygon too (kept beside the box row). A dataset with an
annotation kind that reads rows of another form reads those instead (pose: ``class cx cy w h`` followed by nk
keypoints of ndim values each; see :meth:`~focalyolo.data.annotations.AnnotationKind.parse_rows`). Bad rows are
dropped and described, never raised: the scan collects the notes into the dataset report.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .annotations import AnnotationKind, LabelRows
from .polygons import Polygons

__all__ = [
    "CLIP_TOLERANCE", "LabelFile", "MIN_SIDE", "decode_lines", "empty_label_file", "read_label_file", "validate_rows",
]

MIN_SIDE = 1e-4  # a box narrower than this fraction of the image (after clipping) is dropped
CLIP_TOLERANCE = 1e-3  # overshoots up to this (rounding in label writers) are clipped without a note


@dataclass
class LabelFile:
    """What one label file yielded.

    Attributes:
        labels: (n, 5) float32 rows [cls, cx, cy, w, h], normalised, valid, clipped, de-duplicated.
        notes: one short description per kind of problem found (empty when the file is clean).
        unreadable: the whole file could not be read/decoded (the image must then be skipped).
        extras: the value of the kind that read the rows, by its name, rows aligned with ``labels`` (box and
            polygon rows: ``polygons``, per row a (k, 2) float32 normalised polygon, (0, 2) for a box row; pose rows:
            ``keypoints``, an (n, nk, 3) float32 array [x, y, v] normalised, ``x = y = 0`` where ``v == 0``); empty
            for an unreadable file.
    """

    labels: np.ndarray
    notes: list[str] = field(default_factory=list)
    unreadable: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


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


def _kept(kind: AnnotationKind, parsed: LabelRows, index: np.ndarray) -> dict[str, Any]:
    """``extras`` of a label file: the kind's value of the parsed rows at ``index``."""
    return {kind.name: kind.kept_rows(parsed.value, index)}


def empty_label_file(rows: AnnotationKind | None = None) -> LabelFile:
    """A label file without rows (a background image), its extras empty values of the kind that reads ``rows``
    (None: box and polygon rows)."""
    kind = rows or Polygons()
    return LabelFile(_empty(), extras=_kept(kind, kind.parse_rows([]), np.zeros(0, np.int64)))


def read_label_file(path: Path, nc: int | None, rows: AnnotationKind | None = None) -> LabelFile:
    """Read and validate one label file (which must exist).

    A file with undecodable lines and no decodable one is ``unreadable``: its image must be skipped
    rather than trained on as a background. ``rows`` is the annotation kind that reads the rows (pose:
    :class:`~focalyolo.data.keypoints.Keypoints`, rows of exactly 5 + nk * ndim values); None reads box and polygon
    rows (:class:`~focalyolo.data.polygons.Polygons`). Rows of another form are dropped.
    """
    kind = rows or Polygons()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return LabelFile(_empty(), [f"label file unreadable ({exc.strerror})"], unreadable=True)
    lines, bad_text = decode_lines(raw)
    if bad_text and not any(ln.strip() for ln in lines):
        return LabelFile(_empty(), ["label file is not UTF-8 text"], unreadable=True)
    numeric, bad_num = _numeric_rows(lines)
    parsed = kind.parse_rows(numeric)
    notes = []
    bad_cols = parsed.bad_columns
    for count, what in ((bad_text, "that are not UTF-8 text"), (len(bad_cols), kind.column_note(bad_cols)),
                        (bad_num, "with non-numeric values")):
        if count:
            notes.append(f"{count} row(s) {what} dropped")
    if not len(parsed.rows):
        return LabelFile(_empty(), notes, extras=_kept(kind, parsed, np.zeros(0, np.int64)))
    labels, more, kept = validate_rows(parsed.rows, nc, parsed.finite)
    return LabelFile(labels, notes + more, extras=_kept(kind, parsed, kept))
