"""The reported numbers: pycocotools' COCOeval over in-memory COCO objects.

``evaluate`` takes the inputs of ``torchmetrics.detection.MeanAveragePrecision`` (one dict per image) and
returns its keys; the numbers are COCOeval's own (``stats`` and the accumulated precision / recall arrays).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from focalyolo.metrics.coco_json import build_coco_gt, coco_from_dict, coco_results, detections_to_coco

__all__ = ["STAT_KEYS", "evaluate", "per_class_stats", "run_cocoeval"]

# Names of COCOeval.stats, in its order (AP over IoU .50:.95 unless named, maxDets 100 unless named).
STAT_KEYS: tuple[str, ...] = (
    "map", "map_50", "map_75", "map_small", "map_medium", "map_large",
    "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large",
)


def run_cocoeval(
    gt: COCO | dict,
    results: list[dict],
    img_ids: list | None = None,
    verbose: bool = False,
    iou_type: str = "bbox",
    kpt_sigmas: Sequence[float] | None = None,
) -> COCOeval:
    """Evaluate, accumulate and summarize detections with COCOeval.

    Args:
        gt: ground truth as a ``COCO`` object or a dataset dict (see ``build_coco_gt``).
        results: COCO results rows (see ``detections_to_coco``); may be empty.
        img_ids: restrict the evaluation to these image ids (default: every ground-truth image).
        verbose: let pycocotools print its progress and the 12-line summary.
        iou_type: ``"bbox"``, ``"segm"`` (rows and ground truth carry ``segmentation``) or ``"keypoints"`` (they
            carry ``keypoints``; scored by OKS with ``kpt_sigmas``, pycocotools' own being COCO's 17).
        kpt_sigmas: (nk,) per-keypoint OKS sigmas of a keypoint evaluation.

    Returns:
        The ``COCOeval`` after ``summarize()``: ``stats`` (12,; 10 for keypoints: AP, AP50, AP75, APm, APl, AR,
        AR50, AR75, ARm, ARl, with up to 20 detections per image), ``eval["precision"]`` (T, R, K, A, M) and
        ``eval["recall"]`` (T, K, A, M), with -1 where a figure is undefined (no ground truth).
    """
    coco_gt = gt if isinstance(gt, COCO) else coco_from_dict(gt)
    evaluator = COCOeval(coco_gt, coco_results(coco_gt, results), iouType=iou_type)
    if img_ids is not None:
        evaluator.params.imgIds = list(img_ids)
    if kpt_sigmas is not None:
        evaluator.params.kpt_oks_sigmas = np.asarray(kpt_sigmas, np.float64)
    out = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with out:
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _masked_mean(x: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    """Mean over ``axis`` of the entries > -1 (COCO's 'defined' marker); -1 where none is defined."""
    valid = x > -1
    count = valid.sum(axis=axis)
    total = np.where(valid, x, 0.0).sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), -1.0)


def per_class_stats(evaluator: COCOeval) -> tuple[np.ndarray, np.ndarray]:
    """Per-category AP@[.5:.95] and AR@100 (area 'all'), each (K,) in ``params.catIds`` order, -1 if undefined."""
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    recall = evaluator.eval["recall"][:, :, 0, -1]
    return _masked_mean(precision, (0, 1)), _masked_mean(recall, (0,))


def _labels(item: dict) -> torch.Tensor:
    """(n,) int64 labels of a pred / target dict."""
    return torch.as_tensor(item["labels"]).reshape(-1).long().cpu()


def evaluate(preds: list[dict], targets: list[dict], verbose: bool = False) -> dict[str, torch.Tensor]:
    """COCO mAP / mAR of box detections, with torchmetrics' ``MeanAveragePrecision`` conventions.

    Image ``i`` is ``preds[i]`` against ``targets[i]``; category ids are the labels; the classes are those
    seen in predictions or targets; ground-truth ``area`` is the box w * h; ``iscrowd`` is 0 unless a
    target has an ``"iscrowd"`` entry.

    Args:
        preds: per image ``{"boxes": (n, 4) xyxy pixels, "scores": (n,), "labels": (n,) int}``.
        targets: per image ``{"boxes": (m, 4) xyxy pixels, "labels": (m,) int}``.
        verbose: print pycocotools' output.

    Returns:
        Scalar float32 tensors under ``STAT_KEYS`` (-1 where undefined, e.g. no ground truth), plus
        ``map_per_class`` and ``mar_100_per_class`` (K,) float32 and ``classes`` (K,) int32.
    """
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} prediction dicts but {len(targets)} target dicts")
    classes = torch.cat([_labels(d) for d in [*preds, *targets]] or [torch.zeros(0, dtype=torch.long)]).unique()
    has_crowd = bool(targets) and all("iscrowd" in t for t in targets)
    gt = build_coco_gt(
        [t["boxes"] for t in targets],
        [t["labels"] for t in targets],
        categories=classes.tolist(),
        iscrowd=[t["iscrowd"] for t in targets] if has_crowd else None,
    )
    results = [
        row
        for i, p in enumerate(preds)
        for row in detections_to_coco(p["boxes"], p["scores"], p["labels"], image_id=i, rounded=False)
    ]
    evaluator = run_cocoeval(gt, results, verbose=verbose)
    out = {k: torch.tensor(v, dtype=torch.float32) for k, v in zip(STAT_KEYS, evaluator.stats)}
    ap_k, ar_k = per_class_stats(evaluator)
    out["map_per_class"] = torch.as_tensor(ap_k, dtype=torch.float32)
    out["mar_100_per_class"] = torch.as_tensor(ar_k, dtype=torch.float32)
    out["classes"] = classes.int()
    return out
