"""Segmentation's evaluator: detection's (:class:`~focalyolo.tasks.detect.evaluator.DetectEvaluator`), also scoring
masks.

Per image, each detection's mask is assembled on the prototype grid (stride 4 of the batch image) and matched to
the loader's ground-truth masks, rasterised on the same grid, by mask IoU: the fast ``metrics/*(M)`` figures
logged each epoch. With ``coco=True`` (and for ``predictions.json``) masks are assembled at the input resolution,
mapped to the original image and RLE-encoded; pycocotools then scores them (``iouType='segm'``) against the
dataset's own polygons, normalised to the original image. Fitness is the box fitness plus the mask fitness.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...metrics import DetectionMetrics, build_coco_gt, detections_to_coco, per_class_stats, run_cocoeval
from ...metrics.coco_json import coco_category_map, coco_image_id
from ...utils.masks import instance_masks, mask_iou, masks_in_original, masks_to_rle, overlap_to_instances
from ...utils.nms import non_max_suppression
from ...utils.plotting import plot_images
from ..detect.coco import COCO_STATS, dataset_ground_truth
from ..detect.evaluator import BatchDetections, DetectEvaluator, add_kind_columns, detections_for_plot
from ..evaluator import EvalSettings

__all__ = ["SegmentEvaluator", "target_masks"]


def target_masks(masks: torch.Tensor, targets: torch.Tensor, n_images: int) -> torch.Tensor:
    """Index-coded (B, h, w) batch masks -> (N, h, w) bool, one per row of the batch's (N, 6) ``targets``
    (sorted by image; row j of image b is value j + 1 of ``masks[b]``)."""
    image = targets[:, 0].long()
    first = torch.searchsorted(image, torch.arange(n_images, device=image.device))
    slot = torch.arange(len(image), device=image.device) - first[image]
    return masks[image] == (slot + 1).view(-1, 1, 1).to(masks.dtype)


class SegmentEvaluator(DetectEvaluator):
    """Boxes as :class:`DetectEvaluator`, plus mask metrics, COCO ``segm`` figures and mask plots.

    The model's eval output is ``(predictions (B, 4 + nc + nm, A), protos (B, nm, h, w))``; batches carry
    index-coded ``masks`` (B, h, w) on the prototype grid.
    """

    kinds = ("B", "M")

    def __init__(self, settings: EvalSettings) -> None:
        super().__init__(settings)
        self.mask_metrics = DetectionMetrics(len(self.names), self.names, kind="M")
        self.nm = 0

    def split(self, out: Any) -> tuple[torch.Tensor, torch.Tensor]:
        preds, protos = out
        self.nm = protos.shape[1]
        return preds, protos

    def nms(self, preds: torch.Tensor) -> list[torch.Tensor]:
        return non_max_suppression(preds, multi_label=True, nm=self.nm, **self.nms_args)

    def score_image(self, batch: Mapping[str, Any], i: int, det: torch.Tensor, gt_cls: torch.Tensor,
                    protos: torch.Tensor) -> None:
        """Mask IoU of the image's detections with its ground-truth masks -> the mask metrics; with ``keep``
        the masks over the original image, RLE-encoded."""
        input_hw = tuple(batch["img"].shape[2:])
        gt = overlap_to_instances(batch["masks"][i].to(protos.device), len(gt_cls))
        if gt.shape[-2:] != protos.shape[-2:]:
            gt = F.interpolate(gt[None].float(), protos.shape[-2:], mode="nearest")[0] > 0.5
        predicted = instance_masks(protos[i], det[:, 6:], det[:, :4], input_hw)
        self.mask_metrics.update(det[:, :6], det.new_zeros(len(gt_cls), 4), gt_cls, overlaps=mask_iou(predicted, gt))
        if self.keep:
            original = masks_in_original(protos[i], det[:, 6:], det[:, :4], input_hw, batch["ori_shapes"][i],
                                         batch["ratio_pads"][i])
            self.extras.append(masks_to_rle(original))

    def metrics(self) -> dict[str, float]:
        """Box and mask columns; fitness = box fitness + mask fitness."""
        results = {**self.box_metrics.results_dict(), **self.mask_metrics.results_dict()}
        results["fitness"] = self.box_metrics.fitness + self.mask_metrics.fitness
        return results

    def coco(self, dataset: Any) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Box figures as detection's, mask figures (``coco/*(M)``) from ``iouType='segm'`` against the dataset's
        polygons."""
        figures, ap = super().coco(dataset)
        detections = self.detections
        paths = [p for p, _ in detections]
        boxes, classes, sizes = dataset_ground_truth(dataset, paths)
        index = {p: k for k, p in enumerate(dataset.im_files)}
        outlines = [
            [[(polygon * (w, h)).reshape(-1).tolist()] for polygon in dataset.extras["polygons"][index[p]]]
            for p, (h, w) in zip(paths, sizes)
        ]
        gt = build_coco_gt(boxes, classes, image_sizes=sizes, file_names=[Path(p).name for p in paths],
                           categories=dict(enumerate(self.names)), outlines=outlines)
        rows = [
            row
            for k, ((_, det), rles) in enumerate(zip(detections, self.extras))
            for row in detections_to_coco(det[:, :4], det[:, 4], det[:, 5].long(), image_id=k, rounded=False,
                                          segmentations=rles)
        ]
        evaluator = run_cocoeval(gt, rows, iou_type="segm")
        figures.update({f"{k}(M)": float(evaluator.stats[i]) for k, i in COCO_STATS.items()})
        return figures, {**ap, "M": per_class_stats(evaluator)[0]}

    def per_class(self, coco_ap: dict[str, np.ndarray] | None) -> list[dict]:
        rows = super().per_class(coco_ap)
        add_kind_columns(rows, self.mask_metrics, coco_ap)
        return rows

    def plot_batch(self, batch: Mapping[str, Any], predictions: BatchDetections, save_dir: Path, index: int) -> None:
        """``val_batch{index}_labels.jpg`` and ``val_batch{index}_pred.jpg`` with masks under the boxes."""
        detections, protos = predictions
        img, paths, targets = batch["img"], batch["paths"], batch["targets"]
        input_hw = tuple(img.shape[2:])
        plot_images(img, targets, paths, self.names, save_dir / f"val_batch{index}_labels.jpg",
                    masks=target_masks(batch["masks"], targets, len(img)))
        predicted = [instance_masks(protos[k], d[:, 6:], d[:, :4], input_hw) for k, d in enumerate(detections)]
        plot_images(img, detections_for_plot(detections), paths, self.names, save_dir / f"val_batch{index}_pred.jpg",
                    masks=torch.cat(predicted).cpu() if predicted else None)

    def plot(self, save_dir: Path) -> None:
        super().plot(save_dir)
        self.mask_metrics.plot(save_dir)

    def predictions_json(self) -> list[dict]:
        """COCO results rows with the masks' RLE (file-stem image ids, COCO category ids for COCO's classes)."""
        mapping = coco_category_map(self.names)
        return [
            row
            for (path, det), rles in zip(self.detections, self.extras)
            for row in detections_to_coco(det[:, :4], det[:, 4], det[:, 5].long(), coco_image_id(Path(path).stem),
                                          mapping, segmentations=rles)
        ]

