"""COCO json conventions: detection results rows, a ground-truth dict from per-image boxes, COCO objects.

Results rows are ``{"image_id", "category_id", "bbox": [x, y, w, h] top-left, "score"}`` as pycocotools'
``loadRes`` and the COCO evaluation server read them (segmentation rows add ``"segmentation"``, an RLE; pose rows
``"keypoints"``, ``[x1, y1, score1, ...]``). Ground
truth built here uses ``area = w * h`` of the box (the mask's area when outlines are given) and ``iscrowd = 0``
unless given, so YOLO-txt datasets can be scored by COCOeval like COCO itself.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

__all__ = [
    "ArrayLike", "COCO80_TO_COCO91", "build_coco_gt", "coco_category_map", "coco_from_dict", "coco_image_id",
    "coco_results", "detections_to_coco", "save_json", "xyxy_to_coco_bbox",
]

ArrayLike = torch.Tensor | np.ndarray | Sequence

# COCO category id of each of the 80 contiguous class indices (the 2017 detection categories skip 11 ids).
COCO80_TO_COCO91: tuple[int, ...] = tuple(
    i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
)


def _as_numpy(x: ArrayLike, dtype: type, width: int | None = None) -> np.ndarray:
    """Tensor / array / list -> numpy array of ``dtype``; ``width`` reshapes to (-1, width) (empty-safe)."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    arr = arr.astype(dtype, copy=False)
    return arr.reshape(-1, width) if width else arr.reshape(-1)


def _per_row(x: ArrayLike, n: int) -> np.ndarray:
    """(n, ...) tensor / array / list -> (n, k) float64, the k values of each row flattened.

    Unlike ``reshape(n, -1)`` it accepts no rows: numpy cannot infer ``-1`` from an empty array, and an image
    without objects or detections has none.

    Raises:
        ValueError: the values do not split into ``n`` equal rows.
    """
    arr = _as_numpy(x, np.float64)
    if (arr.size % n if n else arr.size):
        raise ValueError(f"{arr.size} values do not split into {n} rows")
    return arr.reshape(n, arr.size // n if n else 0)


def _category_ids(labels: np.ndarray, label_to_category: Sequence[int] | None) -> np.ndarray:
    """(n,) class indices -> (n,) COCO category ids (identity when no map is given)."""
    if label_to_category is None:
        return labels
    return np.asarray(label_to_category, dtype=np.int64)[labels]


def xyxy_to_coco_bbox(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) xyxy -> (n, 4) top-left xywh, the COCO ``bbox`` layout."""
    return np.concatenate((boxes[:, :2], boxes[:, 2:] - boxes[:, :2]), axis=1)


def detections_to_coco(
    boxes: ArrayLike,
    scores: ArrayLike,
    labels: ArrayLike,
    image_id: int | str,
    label_to_category: Sequence[int] | None = None,
    rounded: bool = True,
    segmentations: Sequence[dict] | None = None,
    keypoints: ArrayLike | None = None,
) -> list[dict]:
    """Detections of one image as COCO results rows.

    Args:
        boxes: (n, 4) xyxy in original-image pixels.
        scores: (n,) confidences.
        labels: (n,) class indices.
        image_id: id of the image in the ground truth.
        label_to_category: class index -> category id (e.g. ``COCO80_TO_COCO91``); None keeps the index.
        rounded: round ``bbox`` to 3 and ``score`` to 5 decimals (the saved-json convention).
        segmentations: (n,) RLE dicts of the detections' masks (see ``focalyolo.utils.masks.masks_to_rle``).
        keypoints: (n, nk, 3) the detections' keypoints x, y (original pixels) and visibility scores.

    Returns:
        n dicts ``{"image_id", "category_id", "bbox", "score"}`` (+ ``"segmentation"``, ``"keypoints"``).
    """
    bbox = xyxy_to_coco_bbox(_as_numpy(boxes, np.float64, 4))
    score = _as_numpy(scores, np.float64)
    cats = _category_ids(_as_numpy(labels, np.int64), label_to_category)
    if rounded:
        bbox, score = bbox.round(3), score.round(5)
    rows = [
        {"image_id": image_id, "category_id": c, "bbox": b, "score": s}
        for c, b, s in zip(cats.tolist(), bbox.tolist(), score.tolist())
    ]
    if segmentations is not None:
        if len(segmentations) != len(rows):
            raise ValueError(f"{len(rows)} detections but {len(segmentations)} segmentations")
        for row, segmentation in zip(rows, segmentations):
            row["segmentation"] = segmentation
    if keypoints is not None:
        points = _per_row(keypoints, len(rows))
        for row, flat in zip(rows, (points.round(3) if rounded else points).tolist()):
            row["keypoints"] = flat
    return rows


def _annotations(
    image_id: int | str,
    boxes: ArrayLike,
    labels: ArrayLike,
    iscrowd: ArrayLike | None,
    label_to_category: Sequence[int] | None,
    first_id: int,
    outlines: Sequence[list[list[float]]] | None = None,
    size: tuple[int, int] | None = None,
    keypoints: ArrayLike | None = None,
) -> list[dict]:
    """Ground-truth annotation dicts of one image: (m, 4) xyxy boxes, (m,) labels -> m dicts, ids from ``first_id``;
    with ``outlines`` (per box a COCO polygon list) and the image ``size`` (h, w) each gets its ``segmentation``
    and the mask's area; with ``keypoints`` ((m, nk, 3) x, y, v) its ``keypoints`` and ``num_keypoints`` (v > 0)."""
    bbox = xyxy_to_coco_bbox(_as_numpy(boxes, np.float64, 4))
    cats = _category_ids(_as_numpy(labels, np.int64), label_to_category)
    crowd = np.zeros(len(cats), np.int64) if iscrowd is None else _as_numpy(iscrowd, np.int64)
    area = bbox[:, 2] * bbox[:, 3]
    annotations = [
        {"id": first_id + k, "image_id": image_id, "category_id": c, "bbox": b, "area": a, "iscrowd": z}
        for k, (c, b, a, z) in enumerate(zip(cats.tolist(), bbox.tolist(), area.tolist(), crowd.tolist()))
    ]
    if outlines is not None:
        if size is None:
            raise ValueError("ground-truth outlines need the image sizes")
        for annotation, polygons in zip(annotations, outlines):
            rle = mask_utils.merge(mask_utils.frPyObjects(polygons, *size))
            annotation["segmentation"] = polygons
            annotation["area"] = float(mask_utils.area(rle))
    if keypoints is not None:
        for annotation, pose in zip(annotations, _per_row(keypoints, len(annotations))):
            annotation["keypoints"] = pose.tolist()
            annotation["num_keypoints"] = int((pose[2::3] > 0).sum())
    return annotations


def build_coco_gt(
    boxes: Sequence[ArrayLike],
    labels: Sequence[ArrayLike],
    image_sizes: Sequence[tuple[int, int]] | None = None,
    image_ids: Sequence[int | str] | None = None,
    file_names: Sequence[str] | None = None,
    categories: Mapping[int, str] | Iterable[int] | None = None,
    label_to_category: Sequence[int] | None = None,
    iscrowd: Sequence[ArrayLike] | None = None,
    outlines: Sequence[Sequence[list[list[float]]]] | None = None,
    keypoints: Sequence[ArrayLike] | None = None,
) -> dict:
    """A COCO ground-truth dataset dict from per-image boxes and labels (and outlines for segmentation, keypoints for
    pose).

    Args:
        boxes: per image (m_i, 4) xyxy in original-image pixels.
        labels: per image (m_i,) class indices.
        image_sizes: per image (h, w), written as ``height`` / ``width`` when given.
        image_ids: per image id; default is the list index.
        file_names: per image file name, written as ``file_name`` when given.
        categories: category id -> name, or just ids (name = str(id)); default: the ids found in the labels.
        label_to_category: class index -> category id (e.g. ``COCO80_TO_COCO91``); None keeps the index.
        iscrowd: per image (m_i,) crowd flags; default all 0.
        outlines: per image, per box a COCO polygon list ``[[x1, y1, x2, y2, ...], ...]`` in pixels; needs
            ``image_sizes``.
        keypoints: per image (m_i, nk, 3) keypoints x, y (pixels), v (COCO's: 0 not labelled, 1 hidden, 2 visible).

    Returns:
        ``{"images": [...], "annotations": [...], "categories": [...]}``; annotation ids start at 1 and
        ``area`` is the box width * height, or the outline's mask area.
    """
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} box arrays but {len(labels)} label arrays")
    ids = list(range(len(boxes))) if image_ids is None else list(image_ids)
    images, annotations = [], []
    for i, image_id in enumerate(ids):
        image = {"id": image_id}
        if image_sizes is not None:
            image["height"], image["width"] = (int(v) for v in image_sizes[i][:2])
        if file_names is not None:
            image["file_name"] = file_names[i]
        images.append(image)
        crowd = None if iscrowd is None else iscrowd[i]
        annotations += _annotations(image_id, boxes[i], labels[i], crowd, label_to_category, len(annotations) + 1,
                                    None if outlines is None else outlines[i],
                                    None if image_sizes is None else tuple(image_sizes[i][:2]),
                                    None if keypoints is None else keypoints[i])
    if categories is None:
        categories = sorted({a["category_id"] for a in annotations})
    names = categories if isinstance(categories, Mapping) else {int(c): str(c) for c in categories}
    cats_list = [{"id": int(c), "name": str(n)} for c, n in sorted(names.items())]
    return {"images": images, "annotations": annotations, "categories": cats_list}


def coco_from_dict(dataset: dict) -> COCO:
    """A pycocotools ``COCO`` over an in-memory dataset dict, indexed without printing."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_results(gt: COCO, results: list[dict]) -> COCO:
    """Detection results rows as a ``COCO`` object next to ``gt`` (what ``gt.loadRes`` makes).

    Unlike ``loadRes`` it accepts an empty list and prints nothing. ``area`` is the bbox w * h, or the mask's
    area for rows with a ``segmentation`` (RLE).

    Raises:
        ValueError: a row refers to an image that ``gt`` does not have.
    """
    unknown = {r["image_id"] for r in results} - set(gt.getImgIds())
    if unknown:
        raise ValueError(f"results refer to {len(unknown)} image ids missing from the ground truth")
    annotations = [
        {**r, "id": k + 1, "iscrowd": 0,
         "area": float(mask_utils.area(r["segmentation"])) if "segmentation" in r else r["bbox"][2] * r["bbox"][3]}
        for k, r in enumerate(results)
    ]
    dataset = {
        "images": list(gt.dataset["images"]),
        "categories": list(gt.dataset["categories"]),
        "annotations": annotations,
    }
    return coco_from_dict(dataset)


def save_json(path: str | Path, data: list | dict) -> Path:
    """Write COCO results rows or a ground-truth dict to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def coco_image_id(stem: str) -> int | str:
    """COCO image id of a file stem: an int when numeric (``000000000139`` -> 139, COCO's own ids), else the stem."""
    return int(stem) if stem.isnumeric() else stem


def coco_category_map(names: Sequence[str]) -> tuple[int, ...] | None:
    """``COCO80_TO_COCO91`` when ``names`` are COCO's 80 classes (person ... toothbrush), else None (keep the index)."""
    if len(names) == 80 and (names[0], names[-1]) == ("person", "toothbrush"):
        return COCO80_TO_COCO91
    return None
