"""One validating pass over a dataset's images and label files, cached so the next run starts at once.

The cache is an ``.npz`` (read with ``allow_pickle=False``: arrays and UTF-8 bytes only) named
``<labels dir>.focalyolo.cache`` beside the labels folder of the first image. It is keyed by a hash of
every image and label path with its size and mtime, plus the class count and the form of the rows (the
:meth:`~focalyolo.data.annotations.AnnotationKind.row_format` of the kind that reads them: box and polygon rows,
or pose rows of one keypoint shape), so any change rescans. Beside the boxes it holds that kind's values (its
:meth:`~focalyolo.data.annotations.AnnotationKind.pack`). A read-only dataset folder (no write bit) gets its cache
under ``$FOCALYOLO_HOME/cache`` instead. The Ultralytics ``<labels dir>.cache`` pickle that may sit beside it is
neither read nor overwritten.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import DataError
from ..utils.files import write_atomically
from .annotations import AnnotationKind
from .image_io import ImageReadError, inspect_image
from .labels import LabelFile, empty_label_file, read_label_file
from .paths import focalyolo_home, img2label_path
from .polygons import Polygons

__all__ = [
    "BACKGROUND", "CACHE_VERSION", "COUNT_KEYS", "ScanResult", "cache_path_for", "dataset_hash", "load_cache",
    "require_labels", "save_cache", "scan_dataset", "summarize",
]

CACHE_VERSION = 4  # 2: polygons cached beside the boxes; 3: keypoints too; 4: only the values of the row kind
_SEP = "\0"
_SUMMARY_LINES = 20

# report reasons that are not problems with the data (kept out of the "problems" listing)
BACKGROUND = "no label file: kept as a background image"
COUNT_KEYS = ("images", "kept", "labelled", "fixed", "empty", "background", "corrupt", "bad_label_file",
              "orphan_labels", "instances")


@dataclass
class ScanResult:
    """The kept images with their validated labels, and every problem met on the way.

    Attributes:
        im_files: kept image paths (corrupt images and images with unreadable label files removed).
        shapes: (n, 2) int32 original (height, width) of each kept image, EXIF orientation applied.
        labels: per kept image an (k, 5) float32 array [cls, cx, cy, w, h] normalised.
        row_kind: the annotation kind that read the label rows.
        extras: its name -> per kept image its value of the label rows, as
            :class:`~focalyolo.data.labels.LabelFile` gives them (``polygons``: per row a (p, 2) float32 normalised
            polygon, (0, 2) for a box row; ``keypoints``: a (k, nk, 3) float32 array [x, y, v] normalised).
        report: (path, reason) for every skipped file, fixed label file, background image and orphan.
        counts: totals for each of :data:`COUNT_KEYS` (images given, kept, with clean labels, with fixed
            labels, with an empty label file, without one, corrupt, with an unreadable label file,
            label files without an image, boxes).
        cache_path: the cache file used or written (``None`` when it could not be written).
        from_cache: whether the result came from the cache.
    """

    im_files: list[str]
    shapes: np.ndarray
    labels: list[np.ndarray]
    row_kind: AnnotationKind
    extras: dict[str, list[Any]] = field(default_factory=dict)
    report: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    cache_path: Path | None = None
    from_cache: bool = False

    def drop_rows(self, index: int, keep: np.ndarray, reason: str) -> None:
        """Drop the label rows of kept image ``index`` where the (k,) bool ``keep`` is False, for a task that cannot
        use them (segmentation: box rows without a polygon), keeping the report and the counts true: the label
        file is reported with ``reason`` and counted as fixed (once), the boxes leave ``instances``."""
        dropped = int((~keep).sum())
        if not dropped:
            return
        label_file = str(img2label_path(self.im_files[index]))
        if not any(path == label_file for path, _ in self.report):  # a file with notes is already counted fixed
            self.counts["fixed"] += 1
            self.counts["labelled"] -= 1
        self.report.append((label_file, f"{dropped} {reason}"))
        self.counts["instances"] -= dropped
        self.labels[index] = self.labels[index][keep]
        for values in self.extras.values():
            values[index] = self.row_kind.select(values[index], keep)


def _stat_token(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}|-"
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


def dataset_hash(im_files: list[str], label_files: list[str], nc: int | None, row_format: str | None = None) -> str:
    """Hash of the paths, sizes and mtimes of all images and label files, and of ``nc`` and the rows' form."""
    h = hashlib.sha256(f"v{CACHE_VERSION}|nc={nc}|rows={row_format}".encode())
    for token in map(_stat_token, im_files + label_files):
        h.update(token.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def cache_path_for(label_dir: Path, suffix: str = ".focalyolo.cache") -> Path:
    """Cache file for a labels folder (or another folder a scan covers, with its own ``suffix``); under
    ``$FOCALYOLO_HOME/cache`` if the dataset folder is read-only."""
    local = label_dir.parent / f"{label_dir.name}{suffix}"
    try:
        writable = bool(os.stat(label_dir.parent).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    except OSError:
        writable = False
    if writable and os.access(label_dir.parent, os.W_OK):
        return local
    key = hashlib.sha256(str(label_dir.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return focalyolo_home() / "cache" / f"{label_dir.name}-{key}{suffix}"


def _join(strings: list[str]) -> np.ndarray:
    return np.frombuffer(_SEP.join(strings).encode("utf-8", "surrogateescape"), np.uint8)


def _split(blob: np.ndarray) -> list[str]:
    text = blob.tobytes().decode("utf-8", "surrogateescape")
    return text.split(_SEP) if text else []


def save_cache(path: Path, key: str, result: ScanResult) -> bool:
    """Write the scan atomically (temp file + rename); False if the location is not writable."""
    lengths = np.array([len(lb) for lb in result.labels], np.int64)
    arrays = {
        "version": np.array(CACHE_VERSION),
        "key": _join([key]),
        "files": _join(result.im_files),
        "shapes": result.shapes.astype(np.int32),
        "lengths": lengths,
        "labels": np.concatenate(result.labels) if result.labels else np.zeros((0, 5), np.float32),
        **result.row_kind.pack(result.extras[result.row_kind.name]),
        "report_paths": _join([p for p, _ in result.report]),
        "report_reasons": _join([r for _, r in result.report]),
        "count_keys": _join(list(result.counts)),
        "count_values": np.array(list(result.counts.values()), np.int64),
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    try:
        write_atomically(path, buf.getvalue())
    except OSError:
        return False
    return True


def load_cache(path: Path, key: str, row_kind: AnnotationKind) -> ScanResult | None:
    """The cached scan if ``path`` holds one for exactly this ``key`` (whose rows ``row_kind`` read); ``None``
    otherwise."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != CACHE_VERSION or _split(z["key"]) != [key]:
                return None
            lengths = z["lengths"]
            labels = np.split(z["labels"], np.cumsum(lengths)[:-1]) if len(lengths) else []
            starts = np.concatenate(([0], np.cumsum(lengths))).tolist()
            return ScanResult(
                im_files=_split(z["files"]),
                shapes=z["shapes"].astype(np.int32),
                labels=[lb.copy() for lb in labels],
                row_kind=row_kind,
                extras={row_kind.name: row_kind.unpack(z, starts)},
                report=list(zip(_split(z["report_paths"]), _split(z["report_reasons"]))),
                counts=dict(zip(_split(z["count_keys"]), z["count_values"].tolist())),
                cache_path=path,
                from_cache=True,
            )
    except (OSError, ValueError, KeyError, EOFError):
        return None


_Checked = tuple[tuple[int, int] | None, LabelFile | None, list[tuple[str, str]], str]


def _scan_one(im_file: str, label_file: str, nc: int | None, row_kind: AnnotationKind) -> _Checked:
    """Check one image and its label file: (shape or None if skipped, its labels, report notes, status)."""
    try:
        shape = inspect_image(im_file)
    except ImageReadError as exc:
        return None, None, [(im_file, f"corrupt image skipped: {exc}")], "corrupt"
    if not os.path.isfile(label_file):
        return shape, empty_label_file(row_kind), [(im_file, BACKGROUND)], "background"
    parsed = read_label_file(Path(label_file), nc, row_kind)
    if parsed.unreadable:
        return None, None, [(label_file, f"{n}; image skipped") for n in parsed.notes], "bad_label_file"
    notes = [(label_file, note) for note in parsed.notes]
    status = "fixed" if notes else ("labelled" if len(parsed.labels) else "empty")
    return shape, parsed, notes, status


def _orphans(label_files: list[str]) -> list[str]:
    """Label files in the scanned labels folders whose image is not in the dataset."""
    wanted = set(label_files)
    found = []
    for folder in sorted({os.path.dirname(p) for p in label_files}):
        try:
            names = sorted(e.name for e in os.scandir(folder) if e.is_file() and e.name.endswith(".txt"))
        except OSError:
            continue
        found += [p for p in (os.path.join(folder, n) for n in names) if p not in wanted]
    return found


def scan_dataset(im_files: list[str], nc: int | None = None, verbose: bool = True, prefix: str = "",
                 rows: AnnotationKind | None = None) -> ScanResult:
    """Validate every image/label pair once, or reuse the cache if nothing changed.

    Args:
        im_files: image paths (strings).
        nc: number of classes, for the class-id check (``None``: only negative/fractional ids dropped).
        verbose: show a progress bar for large scans.
        prefix: text in front of progress messages.
        rows: the annotation kind that reads the label rows (pose: a
            :class:`~focalyolo.data.keypoints.Keypoints`, rows ``cls cx cy w h`` + nk x ndim keypoint values);
            ``None`` reads box and polygon rows (:class:`~focalyolo.data.polygons.Polygons`).
    """
    row_kind = rows or Polygons()
    label_files = [str(img2label_path(f)) for f in im_files]
    key = dataset_hash(im_files, label_files, nc, row_kind.row_format())
    cache = cache_path_for(Path(label_files[0]).parent) if label_files else None
    cached = load_cache(cache, key, row_kind) if cache else None
    orphans = [(p, "label file without an image") for p in _orphans(label_files)]
    if cached is not None:
        cached.report += orphans
        cached.counts["orphan_labels"] = len(orphans)
        return cached

    counts: Counter[str] = Counter(dict.fromkeys(COUNT_KEYS, 0))
    kept_files, shapes, labels, values, report = [], [], [], [], []
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = pool.map(_scan_one, im_files, label_files, [nc] * len(im_files), [row_kind] * len(im_files))
        bar = tqdm(results, total=len(im_files), desc=f"{prefix}scanning", disable=not verbose or len(im_files) < 2000)
        for im_file, (hw, parsed, notes, status) in zip(im_files, bar):
            counts[status] += 1
            report += notes
            if hw is not None:
                kept_files.append(im_file)
                shapes.append(hw)
                labels.append(parsed.labels)
                values.append(parsed.extras[row_kind.name])
    counts["images"] = len(im_files)
    counts["kept"] = len(kept_files)
    counts["instances"] = int(sum(len(lb) for lb in labels))
    result = ScanResult(kept_files, np.array(shapes, np.int32).reshape(-1, 2), labels, row_kind,
                        {row_kind.name: values}, report, dict(counts))
    if cache is not None and kept_files and save_cache(cache, key, result):
        result.cache_path = cache
    result.report += orphans
    result.counts["orphan_labels"] = len(orphans)
    return result


def require_labels(result: ScanResult, prefix: str = "") -> None:
    """Raise a one-line :class:`DataError` when no kept image of a scan has a usable label row: nothing to learn
    from or to score against. The line names why: the first note of a label file whose rows were all dropped
    (such as a ``kpt_shape`` the rows do not have), the missing label files (an image-folder set), or empty ones."""
    if result.counts.get("instances", 0) or not result.im_files:
        return
    kept = {str(img2label_path(f)) for f in result.im_files}
    dropped = next((f"{path}: {reason}" for path, reason in result.report if path in kept), None)
    n, first = len(result.im_files), result.im_files[0]
    if dropped:
        raise DataError(f"{prefix}no usable label row in {n} images, every row was dropped ({dropped})")
    if result.counts.get("background", 0) == n:
        raise DataError(f"{prefix}none of {n} images has a label file (such as {img2label_path(first)}): nothing "
                        f"to learn from; an image-folder set is for classifiers (-cls models)")
    raise DataError(f"{prefix}the label files of {n} images hold no rows (such as {img2label_path(first)})")


def summarize(result: ScanResult, prefix: str = "") -> str:
    """A short multi-line summary: totals, then the first problems with their paths."""
    c = Counter(result.counts)
    with_labels = c["labelled"] + c["fixed"]
    head = (
        f"{prefix}{c['images']} images, {c['kept']} kept ({with_labels} with labels, {c['instances']} boxes, "
        f"{c['background']} without a label file, {c['empty']} with an empty one); "
        f"{c['corrupt']} corrupt images and {c['bad_label_file']} unreadable label files skipped; "
        f"{c['fixed']} label files fixed; {c['orphan_labels']} label files without an image"
    )
    where = "no cache written"
    if result.cache_path:
        where = f"cache {'reused' if result.from_cache else 'written'}: {result.cache_path}"
    lines = [f"{head}; {where}"]
    problems_first = sorted(result.report, key=lambda item: item[1] == BACKGROUND)
    lines += [f"{prefix}  {path}: {reason}" for path, reason in problems_first[:_SUMMARY_LINES]]
    if len(result.report) > _SUMMARY_LINES:
        lines.append(f"{prefix}  ... and {len(result.report) - _SUMMARY_LINES} more (see dataset.report)")
    return "\n".join(lines)
