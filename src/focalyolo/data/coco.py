"""COCO ``instances_*.json`` (or ``person_keypoints_*.json``) -> a YOLO-layout view that :class:`YOLODataset` reads
like any other.

The conversion runs once per JSON (keyed by its path, size and mtime) into
``$FOCALYOLO_HOME/datasets/coco-<stem>-<hash>/``: ``images/<stem>/`` holds links to the original images
(symlinks, else hard links, else copies) and ``labels/<stem>/`` the converted boxes, so the usual
image -> label path rule applies. Category ids become contiguous 0..nc-1 in id order, boxes become
normalised (cx, cy, w, h), crowd annotations are skipped, images without annotations are backgrounds.

An annotation with an outline (``segmentation``: a polygon list or an RLE) is written as a polygon row
(``class x1 y1 x2 y2 ...``) instead, so the same JSON serves segmentation; detection then takes the polygon's
extent as the box (for COCO's own files that is its ``bbox``, up to rounding). An outline in several parts
becomes one polygon that visits every part over zero-width bridges; an RLE is traced into its outline first.

A keypoints JSON (annotations with ``keypoints`` [x, y, v] * nk) is written as pose rows instead
(``class cx cy w h x1 y1 v1 ...``, normalised, v an int: 0 not labelled, 1 hidden, 2 visible); an annotation without
keypoints (``num_keypoints`` 0) is still a row, with every v = 0. Its ``kpt_shape`` ([nk, 3]), ``skeleton`` (made
0-based) and ``flip_idx`` (from the keypoint names, "left" <-> "right") come from the first category listing
``keypoints``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .annotations import AnnotationKind
from .keypoints import Keypoints
from .paths import focalyolo_home, img2label_path
from .polygons import Polygons

LOGGER = logging.getLogger("focalyolo")

__all__ = [
    "CONVERT_VERSION", "CocoSplit", "coco_boxes", "coco_keypoint_meta", "convert_coco", "flip_idx_from_names",
]

CONVERT_VERSION = 3  # 3: keypoints JSONs become pose rows
_DONE = "conversion.json"


@dataclass
class CocoSplit:
    """A converted COCO annotation file: linked image paths (with YOLO labels beside) and class names; for a
    keypoints JSON its ``kpt_shape`` [nk, 3], ``flip_idx`` (None when the names do not pair up) and 0-based
    ``skeleton`` (None when not given), else all None."""

    images: list[Path]
    names: list[str]
    kpt_shape: list[int] | None = None
    flip_idx: list[int] | None = None
    skeleton: list[list[int]] | None = None


def _image_base(json_path: Path, file_names: list[str]) -> Path:
    """The folder the JSON's ``file_name`` entries are relative to (first candidate holding the images)."""
    here, split = json_path.parent, re.sub("^(instances|person_keypoints)_", "", json_path.stem)
    candidates = [here, here / "images", here / "images" / split, here.parent / "images" / split,
                  here.parent / split, here.parent / "images", here.parent]
    probe = file_names[: min(len(file_names), 10)]
    for base in candidates:
        if any((base / name).is_file() for name in probe):
            return base
    raise DataError(f"{json_path}: images not found (looked for {probe[0]} in {', '.join(map(str, candidates))})")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(src, dst)
    except OSError:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _read_json(json_path: Path) -> dict:
    try:
        coco = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{json_path}: not a readable COCO JSON ({exc})") from exc
    if not isinstance(coco, dict):
        raise DataError(f"{json_path}: not a COCO instances file (top level is not an object)")
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(coco.get(k), list)]
    if missing:
        raise DataError(f"{json_path}: not a COCO instances file (no {', '.join(missing)} list)")
    if not coco["categories"]:
        raise DataError(f"{json_path}: empty 'categories' list")
    return coco


def _usable_annotations(coco: dict) -> tuple[dict[int, int], dict[int, tuple], list[dict]]:
    """Category id -> class index, image id -> (width, height), and the annotations that become label rows
    (not crowd, of a known category and image, with a 4-number bbox), in file order."""
    cat_index = {c["id"]: i for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    sizes = {im["id"]: (im.get("width"), im.get("height")) for im in coco["images"]}
    anns = [a for a in coco["annotations"]
            if not a.get("iscrowd", 0) and a.get("category_id") in cat_index and a.get("image_id") in sizes
            and len(a.get("bbox", ())) == 4]
    return cat_index, sizes, anns


def coco_boxes(coco: dict) -> tuple[list[str], dict[int, np.ndarray]]:
    """Class names (id order) and per image id an (n, 5) [cls, cx, cy, w, h] normalised array."""
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    cat_index, sizes, anns = _usable_annotations(coco)
    if not anns:
        return [c["name"] for c in cats], {}
    img_ids = np.array([a["image_id"] for a in anns])
    cls = np.array([cat_index[a["category_id"]] for a in anns], np.float64)
    xywh = np.array([a["bbox"] for a in anns], np.float64)
    wh_img = np.array([sizes[i] for i in img_ids], np.float64)
    rows = np.stack((cls, (xywh[:, 0] + xywh[:, 2] / 2) / wh_img[:, 0], (xywh[:, 1] + xywh[:, 3] / 2) / wh_img[:, 1],
                     xywh[:, 2] / wh_img[:, 0], xywh[:, 3] / wh_img[:, 1]), 1)
    order = np.argsort(img_ids, kind="stable")
    ids, starts = np.unique(img_ids[order], return_index=True)
    groups = np.split(rows[order], starts[1:])
    return [c["name"] for c in cats], {int(i): g for i, g in zip(ids, groups)}


def flip_idx_from_names(names: list[str]) -> list[int] | None:
    """Where each keypoint goes in a mirror image: the index of its name with "left" and "right" swapped (a name
    with neither stays put), or None when a swapped name is missing or names repeat. For COCO's 17 person keypoints
    (nose, left_eye, right_eye, ...) this is the usual [0, 2, 1, 4, 3, ...]."""
    lowered = [str(n).lower() for n in names]
    index = {n: i for i, n in enumerate(lowered)}
    if len(index) != len(lowered):
        return None
    swapped = [re.sub("left|right", lambda m: "right" if m.group() == "left" else "left", n) for n in lowered]
    if not all(n in index for n in swapped):
        return None
    return [index[n] for n in swapped]


def coco_keypoint_meta(coco: dict) -> tuple[list[int] | None, list[int] | None, list[list[int]] | None]:
    """``(kpt_shape, flip_idx, skeleton)`` of a keypoints JSON, all None when no annotation has keypoints.

    nk is the length of the first category's ``keypoints`` names (else of the first annotation's keypoints / 3);
    the skeleton's 1-based pairs become 0-based.
    """
    annotated = next((a["keypoints"] for a in coco["annotations"]
                      if isinstance(a.get("keypoints"), list) and len(a["keypoints"]) >= 3), None)
    if annotated is None:
        return None, None, None
    category = next((c for c in sorted(coco["categories"], key=lambda c: c["id"])
                     if isinstance(c.get("keypoints"), list) and c["keypoints"]), None)
    if category is None:
        return [len(annotated) // 3, 3], None, None
    skeleton = category.get("skeleton")
    zero_based = [[int(a) - 1, int(b) - 1] for a, b in skeleton] if isinstance(skeleton, list) and skeleton else None
    return [len(category["keypoints"]), 3], flip_idx_from_names(category["keypoints"]), zero_based


def _label_rows(coco: dict, boxes: dict[int, np.ndarray], kind: AnnotationKind) -> dict[int, list[str]]:
    """Per image id its label lines, in the annotation order of :func:`coco_boxes`, as the annotation ``kind``
    writes them (:meth:`~focalyolo.data.annotations.AnnotationKind.coco_row`: pose rows for a JSON with keypoints,
    else a polygon row for each annotation with an outline and a box row for the others). Annotations whose
    keypoints or outline cannot be used are counted in one warning."""
    _, sizes, anns = _usable_annotations(coco)
    by_image: dict[int, list] = {}
    for a in anns:
        by_image.setdefault(int(a["image_id"]), []).append(a)
    lines: dict[int, list[str]] = {}
    unusable = []
    for image_id, rows in boxes.items():
        out = []
        for row, a in zip(rows, by_image[image_id]):
            size = sizes[a["image_id"]]
            text, usable = kind.coco_row(row, a, size)
            out.append(text)
            if not usable:
                unusable.append(a.get("id"))
        lines[image_id] = out
    if unusable:
        LOGGER.warning("%d annotation(s) with %s, e.g. annotation id %s", len(unusable), kind.coco_problem(),
                       unusable[0])
    return lines


def _convert(json_path: Path, out: Path) -> None:
    """Write the YOLO view of ``json_path`` into the new folder ``out``."""
    coco = _read_json(json_path)
    names, boxes = coco_boxes(coco)
    kpt_shape, flip_idx, skeleton = coco_keypoint_meta(coco)
    lines = _label_rows(coco, boxes, Polygons() if kpt_shape is None else Keypoints(kpt_shape))
    file_names = [im["file_name"] for im in coco["images"]]
    if not file_names:
        raise DataError(f"{json_path}: empty 'images' list")
    base = _image_base(json_path, file_names)
    missing = []
    for im in coco["images"]:
        src = base / im["file_name"]
        if not src.is_file():
            missing.append(str(src))
            continue
        dst = out / "images" / json_path.stem / im["file_name"]
        _link(src.resolve(), dst)
        rows = lines.get(int(im["id"]))
        if rows is not None:
            label = img2label_path(dst)
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(f"{r}\n" for r in rows))
    if missing:
        LOGGER.warning("%s: %d listed images not found, e.g. %s", json_path, len(missing), missing[0])
    (out / _DONE).write_text(json.dumps({"source": str(json_path), "names": names, "missing": missing,
                                         "kpt_shape": kpt_shape, "flip_idx": flip_idx, "skeleton": skeleton}))


def convert_coco(json_path: Path) -> CocoSplit:
    """Convert (once) a COCO instances (or keypoints) JSON and return the linked images, class names and, for
    keypoints, their shape, flip order and skeleton."""
    st = json_path.stat()
    key = hashlib.sha256(f"{CONVERT_VERSION}|{json_path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    out = focalyolo_home() / "datasets" / f"coco-{json_path.stem}-{key[:12]}"
    if not (out / _DONE).is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        try:
            _convert(json_path, tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private
            os.rename(tmp, out)
        except OSError:
            if not (out / _DONE).is_file():  # lost a race to another process: theirs is as good
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    done = json.loads((out / _DONE).read_text())
    images = sorted(p for p in (out / "images").rglob("*") if p.is_file() or p.is_symlink())
    return CocoSplit(images, done["names"], done["kpt_shape"], done["flip_idx"], done["skeleton"])
