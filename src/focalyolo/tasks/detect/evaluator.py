"""Detection's evaluator: what the evaluation loop (:func:`focalyolo.engine.evaluation.evaluate`) does with a
batch's outputs for detection, and the box table it prints.

Per batch: NMS with every (box, class) pair above ``conf`` as a candidate, detections and ground truth mapped back
to ORIGINAL image pixels, then :class:`DetectionMetrics` (the fast mAP logged each epoch). With ``coco`` the
reported numbers also come from pycocotools (:mod:`focalyolo.tasks.detect.coco`). Segmentation's and pose's
evaluators extend :class:`DetectEvaluator` with masks and keypoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ...metrics import DetectionMetrics
from ...utils.boxes import xywh2xyxy, xyxy2xywh
from ...utils.nms import non_max_suppression, scale_boxes
from ...utils.plotting import plot_images
from ..evaluator import EvalSettings, Evaluator
from .coco import coco_figures, predictions_json

__all__ = ["BatchDetections", "DetectEvaluator", "add_kind_columns", "detections_for_plot", "format_table"]


class BatchDetections(NamedTuple):
    """A batch's predictions as :meth:`DetectEvaluator.postprocess` returns them.

    Attributes:
        detections: per image (n, 6 + extra) [x1, y1, x2, y2, score, cls, extra columns] in batch-image pixels.
        extra: the rest of the model's output (segmentation: the (B, nm, h, w) prototypes; else None).
    """

    detections: list[torch.Tensor]
    extra: Any


def targets_to_original(
    targets: torch.Tensor,
    img_hw: tuple[int, int],
    ori_shapes: Sequence[tuple[int, int]],
    ratio_pads: Sequence[tuple[tuple[float, float], tuple[float, float]]],
) -> torch.Tensor:
    """Loader targets -> xyxy boxes in original-image pixels.

    Args:
        targets: (N, 6) [batch_idx, cls, cx, cy, w, h] normalised to the (letterboxed) batch images.
        img_hw: (H, W) of the batch images.
        ori_shapes: per image (h0, w0).
        ratio_pads: per image ((gain_h, gain_w), (pad_w, pad_h)) of its letterbox.

    Returns:
        (N, 4) xyxy in original pixels, clipped to the image, row order of ``targets``.
    """
    h, w = img_hw
    boxes = xywh2xyxy(targets[:, 2:6] * targets.new_tensor([w, h, w, h]))
    idx = targets[:, 0].long()
    gain = targets.new_tensor([[g[1], g[0]] for g, _ in ratio_pads])[idx].repeat(1, 2)  # (N, 4) gw, gh, gw, gh
    pad = targets.new_tensor([p for _, p in ratio_pads])[idx].repeat(1, 2)
    size = targets.new_tensor([[s[1], s[0]] for s in ori_shapes])[idx].repeat(1, 2)
    return torch.minimum(((boxes - pad) / gain).clamp(min=0), size)


def detections_for_plot(detections: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image (n, 6) [x1, y1, x2, y2, score, cls] -> (N, 7) [batch_idx, cls, cx, cy, w, h, score] for plot_images."""
    rows = [
        torch.cat((torch.full_like(d[:, :1], i), d[:, 5:6], xyxy2xywh(d[:, :4]), d[:, 4:5]), 1)
        for i, d in enumerate(detections)
    ]
    return torch.cat(rows).cpu() if rows else torch.zeros((0, 7))


def per_class_rows(metrics: DetectionMetrics, images_per_class: torch.Tensor, coco_ap: np.ndarray | None) -> list[dict]:
    """One dict per class with ground truth: class, name, images, instances, P, R, mAP50, mAP50-95
    (and ``coco/AP50-95`` when COCO figures were computed)."""
    res = metrics.compute()
    rows = []
    for k, c in enumerate(res.classes.tolist()):
        row = {
            "class": int(c), "name": metrics.names[c], "images": int(images_per_class[c]),
            "instances": int(res.n_labels[k]), "precision": float(res.precision[k]), "recall": float(res.recall[k]),
            "mAP50": float(res.ap[k, 0]), "mAP50-95": float(res.ap[k].mean()),
        }
        if coco_ap is not None:
            row["coco/AP50-95"] = float(coco_ap[c])
        rows.append(row)
    return rows


KIND_TITLES = {"B": "", "M": ", masks", "P": ", keypoints"}
"""Metric kind -> what its pycocotools line of the printed table says it scores."""


def add_kind_columns(rows: list[dict], metrics: DetectionMetrics, coco_ap: dict[str, np.ndarray] | None) -> None:
    """Add a second metric kind's per-class columns (``precision(M)`` ... ``mAP50-95(M)``, and ``coco/AP50-95(M)``
    when COCO figures were computed; the kind is ``metrics.kind``) to the box rows of :func:`per_class_rows`."""
    k = metrics.kind
    res = metrics.compute()
    by_class = {int(c): i for i, c in enumerate(res.classes.tolist())}
    for row in rows:
        i = by_class[row["class"]]
        row.update({f"precision({k})": float(res.precision[i]), f"recall({k})": float(res.recall[i]),
                    f"mAP50({k})": float(res.ap[i, 0]), f"mAP50-95({k})": float(res.ap[i].mean())})
        if coco_ap is not None:
            row[f"coco/AP50-95({k})"] = float(coco_ap[k][row["class"]])


def format_table(results: Mapping[str, Any], n_images: int, kinds: Sequence[str] = ("B",)) -> str:
    """The printed summary: an ``all`` row, one row per class (when several) and the COCO lines; one group of P, R,
    mAP50, mAP50-95 columns per metric kind (``B`` boxes, ``M`` masks, ``P`` poses), whose keys carry the suffix
    ``(kind)`` (none for boxes in the per-class rows and the COCO figures)."""
    per_class = results["per_class"]
    columns = ("P", "R", "mAP50", "mAP50-95")
    keys = ("precision", "recall", "mAP50", "mAP50-95")
    header = [c if len(kinds) == 1 else f"{c}({k})" for k in kinds for c in columns]
    width = max(11, 2 + max(map(len, header)))  # "mAP50-95(B)" is 11 characters: it would touch its neighbour
    fmt = "{:>20}{:>11}{:>11}" + f"{{:>{width}.3f}}" * len(header)
    lines = [("{:>20}{:>11}{:>11}" + f"{{:>{width}}}" * len(header)).format("class", "images", "instances", *header)]
    lines.append(fmt.format("all", n_images, sum(r["instances"] for r in per_class),
                            *(results[f"metrics/{key}({k})"] for k in kinds for key in keys)))
    if len(per_class) > 1:
        lines += [fmt.format(r["name"][:20], r["images"], r["instances"],
                             *(r[key if k == "B" else f"{key}({k})"] for k in kinds for key in keys))
                  for r in per_class]
    for k in kinds:
        suffix = "" if k == "B" else f"({k})"
        figures = [n for n in results if n.startswith("coco/") and (n.endswith(suffix) if suffix else "(" not in n)]
        if figures:
            lines.append(f"COCO (pycocotools){KIND_TITLES[k]}: "
                         + "  ".join(f"{n[5:len(n) - len(suffix)]} {results[n]:.3f}" for n in figures))
    return "\n".join(lines)


class DetectEvaluator(Evaluator):
    """Detection's evaluator: NMS, box matching, box metrics, COCO box figures, plots. Segmentation's and pose's
    evaluators extend each step.

    The model's eval output is (B, 4 + nc, A) predictions (xywh in batch-image pixels, class scores); batches
    carry ``img``, ``targets`` (N, 6) [image, class, cx, cy, w, h] normalised to the batch image, ``paths``,
    ``ori_shapes`` and ``ratio_pads``.

    Args:
        settings: class names, NMS settings; with ``coco`` or ``save_json`` every image's detections (in original
            pixels) are kept.
    """

    kinds: tuple[str, ...] = ("B",)
    postprocess_name = "NMS"

    def __init__(self, settings: EvalSettings) -> None:
        self.names = settings.names
        self.nms_args = {"conf": settings.conf, "iou": settings.iou, "max_det": settings.max_det}
        self.coco_figures = settings.coco
        self.keep = settings.coco or settings.save_json
        self.box_metrics = DetectionMetrics(len(self.names), self.names)
        self.images_per_class = torch.zeros(len(self.names), dtype=torch.int64)
        self.detections: list[tuple[str, torch.Tensor]] = []  # kept: per image (path, (n, 6) original pixels)
        self.extras: list[Any] = []  # kept: per image what else the evaluator keeps (segmentation: masks' RLEs)

    def split(self, output: Any) -> tuple[torch.Tensor, Any]:
        """The eval forward's output -> (predictions (B, 4 + nc [+ extra], A), what else it holds)."""
        return output, None

    def nms(self, preds: torch.Tensor) -> list[torch.Tensor]:
        """Per-image detections; every (box, class) pair above ``conf`` is a candidate."""
        return non_max_suppression(preds, multi_label=True, **self.nms_args)

    def postprocess(self, output: Any) -> BatchDetections:
        preds, extra = self.split(output)
        return BatchDetections(self.nms(preds), extra)

    def update(self, batch: Mapping[str, Any], predictions: BatchDetections) -> None:
        """Map detections and ground truth of a batch to original pixels and add them to the metrics."""
        detections, extra = predictions
        targets = batch["targets"].to(detections[0].device) if detections else batch["targets"]
        input_hw = tuple(batch["img"].shape[2:])
        gt_boxes = targets_to_original(targets, input_hw, batch["ori_shapes"], batch["ratio_pads"])
        for i, det in enumerate(detections):
            mine = targets[:, 0] == i
            gt_cls = targets[mine, 1].long()
            original = det[:, :6].clone()
            scale_boxes(input_hw, original[:, :4], batch["ori_shapes"][i], batch["ratio_pads"][i])
            self.box_metrics.update(original, gt_boxes[mine], gt_cls)
            self.score_image(batch, i, det, gt_cls, extra)
            self.images_per_class[gt_cls.unique().cpu()] += 1
            if self.keep:
                self.detections.append((batch["paths"][i], original.cpu()))

    def score_image(self, batch: Mapping[str, Any], i: int, det: torch.Tensor, gt_cls: torch.Tensor,
                    extra: Any) -> None:
        """Task-specific scoring of image ``i``: its detections ``det`` (batch-image pixels), its ground-truth
        classes in target-row order, the rest of the model's output; nothing for detection."""

    def metrics(self) -> dict[str, float]:
        """The box columns and ``fitness``."""
        return dict(self.box_metrics.results_dict())

    def summary(self, dataset: Any) -> dict[str, Any]:
        """The COCO figures (with ``coco``) and ``per_class`` (see :func:`per_class_rows`)."""
        figures, coco_ap = self.coco(dataset) if self.coco_figures else ({}, None)
        return {**figures, "per_class": self.per_class(coco_ap)}

    def coco(self, dataset: Any) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """pycocotools figures of the kept detections and the per-class AP50-95 of each kind."""
        figures, ap = coco_figures(dataset, self.detections, self.names)
        return figures, {"B": ap}

    def per_class(self, coco_ap: dict[str, np.ndarray] | None) -> list[dict]:
        """One row per class with ground truth (see :func:`per_class_rows`)."""
        return per_class_rows(self.box_metrics, self.images_per_class, None if coco_ap is None else coco_ap["B"])

    def table(self, results: Mapping[str, Any], n_images: int) -> str:
        """See :func:`format_table`."""
        return format_table(results, n_images, self.kinds)

    def plot_batch(self, batch: Mapping[str, Any], predictions: BatchDetections, save_dir: Path, index: int) -> None:
        """Write ``val_batch{index}_labels.jpg`` and ``val_batch{index}_pred.jpg`` (boxes in batch-image pixels)."""
        img, paths = batch["img"], batch["paths"]
        plot_images(img, batch["targets"], paths, self.names, save_dir / f"val_batch{index}_labels.jpg")
        plot_images(img, detections_for_plot(predictions.detections), paths, self.names,
                    save_dir / f"val_batch{index}_pred.jpg")

    def plot(self, save_dir: Path) -> None:
        """Curves and confusion matrices."""
        self.box_metrics.plot(save_dir)

    def predictions_json(self) -> list[dict]:
        """COCO results rows of the kept detections (see :func:`~focalyolo.tasks.detect.coco.predictions_json`)."""
        return predictions_json(self.detections, self.names)
