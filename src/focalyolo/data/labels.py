"""Parsing and validating one YOLO label file.

A row is ``class cx cy w h`` (normalised to the image) or a polygon ``class x1 y1 x2 y2 ...`` (at least
three points): detection uses its bounding box, segmentation the polygon too (kept beside the box row). Bad rows
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
    """

    labels: np.ndarray
    notes: list[str] = field(default_factory=list)
    unreadable: bool = False
    segments: list[np.ndarray] = field(default_factory=list)


def _empty() -> np.ndarray:
    return np.zeros((0, 5), np.float32)


def _parse_rows(lines: list[str]) -> tuple[list[np.ndarray], list[np.ndarray], int, int]:
    """Numeric box rows (5 values; polygons -> their boxes) and each row's polygon ((0, 2) for box rows);
    returns rows, polygons, #bad-column-count, #non-numeric."""
    rows, polygons, bad_cols, bad_num = [], [], 0, 0
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        try:
            values = np.array(fields, dtype=np.float64)
        except ValueError:
            bad_num += 1
            continue
        if len(values) == 5:
            rows.append(values)
            polygons.append(np.zeros((0, 2), np.float32))
        elif len(values) >= 7 and len(values) % 2 == 1:
            xy = values[1:].reshape(-1, 2)
            lo, hi = xy.min(0), xy.max(0)
            rows.append(np.array([values[0], *(lo + hi) / 2, *(hi - lo)]))
            polygons.append(xy.astype(np.float32))
        else:
            bad_cols += 1
    return rows, polygons, bad_cols, bad_num


def validate_rows(rows: np.ndarray, nc: int | None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Drop invalid rows, clip boxes to the image and remove duplicates.

    Args:
        rows: (n, 5) float64 [cls, cx, cy, w, h] as read from the file.
        nc: number of classes; ``None`` skips the upper bound check on class ids.

    Returns:
        (m, 5) float32 clean rows, a list of notes describing what was changed, and the (m,) indices of the
        kept rows in ``rows`` (to keep what belongs to each row, such as its polygon, aligned).
    """
    notes = []
    finite = np.isfinite(rows).all(1)
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


def read_label_file(path: Path, nc: int | None) -> LabelFile:
    """Read and validate one label file (which must exist).

    A file with undecodable lines and no decodable one is ``unreadable``: its image must be skipped
    rather than trained on as a background.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return LabelFile(_empty(), [f"label file unreadable ({exc.strerror})"], unreadable=True)
    lines, bad_text = decode_lines(raw)
    if bad_text and not any(ln.strip() for ln in lines):
        return LabelFile(_empty(), ["label file is not UTF-8 text"], unreadable=True)
    rows, polygons, bad_cols, bad_num = _parse_rows(lines)
    notes = []
    for count, what in ((bad_text, "that are not UTF-8 text"), (bad_cols, "with a wrong column count"),
                        (bad_num, "with non-numeric values")):
        if count:
            notes.append(f"{count} row(s) {what} dropped")
    if not rows:
        return LabelFile(_empty(), notes)
    labels, more, kept = validate_rows(np.stack(rows), nc)
    return LabelFile(labels, notes + more, segments=[polygons[i] for i in kept])
