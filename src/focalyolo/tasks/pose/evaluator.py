"""Pose's evaluator: detection's (:class:`~focalyolo.tasks.detect.evaluator.DetectEvaluator`), also scoring
keypoints.

Per image, each detection's keypoints are matched to the ground-truth poses of its class by object keypoint
similarity (OKS, :func:`focalyolo.utils.keypoints.keypoint_oks`: the true box's area, the sigmas of
:func:`~focalyolo.utils.keypoints.keypoint_sigmas`) in the batch image's pixels: the fast ``metrics/*(P)`` figures
logged each epoch. With ``coco=True`` (and for ``predictions.json``) the keypoints are mapped to the original image
and pycocotools scores them (``iouType='keypoints'``, ``kpt_oks_sigmas`` the same sigmas) against the dataset's own
keypoints, normalised to the original image; a ground-truth object's ``area`` is its box's (COCO's own files use
the segment's area, about half of it, so figures on COCO are stricter there). Fitness is the box fitness plus the
pose fitness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...metrics import DetectionMetrics, build_coco_gt, detections_to_coco, per_class_stats, run_cocoeval
from ...metrics.coco_json import coco_category_map, coco_image_id
from ...utils.boxes import xywh2xyxy
from ...utils.keypoints import keypoint_oks, keypoint_sigmas
from ...utils.nms import non_max_suppression, scale_boxes
from ...utils.plotting import plot_images
from ..detect.coco import dataset_ground_truth
from ..detect.evaluator import BatchDetections, DetectEvaluator, add_kind_columns, detections_for_plot
from ..evaluator import EvalSettings

__all__ = ["POSE_COCO_STATS", "PoseEvaluator", "full_keypoints"]

POSE_COCO_STATS: dict[str, int] = {
    "coco/AP50-95": 0, "coco/AP50": 1, "coco/AP75": 2, "coco/APm": 3, "coco/APl": 4, "coco/AR20": 5,
}
"""COCO keypoint figure name -> index in ``COCOeval.stats`` (keypoint evaluation: no small-area range, up to 20
detections per image)."""


def full_keypoints(flat: torch.Tensor, kpt_shape: Sequence[int]) -> torch.Tensor:
    """(n, nk * ndim) predicted keypoint columns -> (n, nk, 3) x, y, visibility (1 for 2-value keypoints)."""
    nk, ndim = kpt_shape
    points = flat.reshape(len(flat), nk, ndim)
    if ndim == 3:
        return points
    return torch.cat((points, points.new_ones(len(flat), nk, 1)), 2)


class PoseEvaluator(DetectEvaluator):
    """Boxes as :class:`DetectEvaluator`, plus pose metrics, COCO ``keypoints`` figures and keypoint plots.

    The model's eval output is (B, 4 + nc + nk * ndim, A) predictions; batches carry ``keypoints`` (N, nk, 3)
    normalised to the batch image, one per row of ``targets``.

    Args:
        settings: as :class:`DetectEvaluator`'s.
        kpt_shape: the model's ``[nk, ndim]``.
        skeleton: keypoint pairs joined in the plots.
    """

    kinds = ("B", "P")

    def __init__(self, settings: EvalSettings, kpt_shape: Sequence[int],
                 skeleton: Sequence[Sequence[int]] | None = None) -> None:
        super().__init__(settings)
        self.kpt_shape = list(kpt_shape)
        self.skeleton = skeleton
        self.sigmas = keypoint_sigmas(self.kpt_shape[0])
        self.pose_metrics = DetectionMetrics(len(self.names), self.names, kind="P")

    def nms(self, preds: torch.Tensor) -> list[torch.Tensor]:
        return non_max_suppression(preds, multi_label=True, nm=self.kpt_shape[0] * self.kpt_shape[1], **self.nms_args)

    def score_image(self, batch: Mapping[str, Any], i: int, det: torch.Tensor, gt_cls: torch.Tensor,
                    extra: Any) -> None:
        """OKS of the image's detections with its ground-truth poses -> the pose metrics; with ``keep`` the keypoints
        in original pixels."""
        h, w = batch["img"].shape[2:]
        targets = batch["targets"].to(det.device)
        mine = targets[:, 0] == i
        gt_boxes = xywh2xyxy(targets[mine, 2:6] * targets.new_tensor([w, h, w, h]))
        gt_points = batch["keypoints"].to(det.device)[mine] * targets.new_tensor([w, h, 1])
        predicted = full_keypoints(det[:, 6:], self.kpt_shape)
        areas = (gt_boxes[:, 2] - gt_boxes[:, 0]) * (gt_boxes[:, 3] - gt_boxes[:, 1])
        oks = keypoint_oks(predicted.float(), gt_points.float(), areas.float(),
                           torch.from_numpy(self.sigmas).float().to(det.device), pairwise=True)
        self.pose_metrics.update(det[:, :6], det.new_zeros(len(gt_cls), 4), gt_cls, overlaps=oks)
        if self.keep:
            original = predicted.clone()
            scale_boxes((h, w), original[..., :2], batch["ori_shapes"][i], batch["ratio_pads"][i])
            self.extras.append(original.cpu())

    def metrics(self) -> dict[str, float]:
        """Box and pose columns; fitness = box fitness + pose fitness."""
        results = {**self.box_metrics.results_dict(), **self.pose_metrics.results_dict()}
        results["fitness"] = self.box_metrics.fitness + self.pose_metrics.fitness
        return results

    def coco(self, dataset: Any) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Box figures as detection's, keypoint figures (``coco/*(P)``) from ``iouType='keypoints'`` against the
        dataset's keypoints."""
        figures, ap = super().coco(dataset)
        detections = self.detections
        paths = [p for p, _ in detections]
        boxes, classes, sizes = dataset_ground_truth(dataset, paths)
        index = {p: k for k, p in enumerate(dataset.im_files)}
        stored = dataset.extras["keypoints"]
        poses = [np.asarray(stored[index[p]], np.float64).reshape(-1, self.kpt_shape[0], 3) * (w, h, 1)
                 for p, (h, w) in zip(paths, sizes)]
        gt = build_coco_gt(boxes, classes, image_sizes=sizes, file_names=[Path(p).name for p in paths],
                           categories=dict(enumerate(self.names)), keypoints=poses)
        rows = [
            row
            for k, ((_, det), points) in enumerate(zip(detections, self.extras))
            for row in detections_to_coco(det[:, :4], det[:, 4], det[:, 5].long(), image_id=k, rounded=False,
                                          keypoints=points)
        ]
        evaluator = run_cocoeval(gt, rows, iou_type="keypoints", kpt_sigmas=self.sigmas)
        figures.update({f"{k}(P)": float(evaluator.stats[i]) for k, i in POSE_COCO_STATS.items()})
        return figures, {**ap, "P": per_class_stats(evaluator)[0]}

    def per_class(self, coco_ap: dict[str, np.ndarray] | None) -> list[dict]:
        rows = super().per_class(coco_ap)
        add_kind_columns(rows, self.pose_metrics, coco_ap)
        return rows

    def plot_batch(self, batch: Mapping[str, Any], predictions: BatchDetections, save_dir: Path, index: int) -> None:
        """``val_batch{index}_labels.jpg`` and ``val_batch{index}_pred.jpg`` with the keypoints (and skeleton)."""
        detections = predictions.detections
        img, paths, targets = batch["img"], batch["paths"], batch["targets"]
        plot_images(img, targets, paths, self.names, save_dir / f"val_batch{index}_labels.jpg",
                    keypoints=batch["keypoints"], skeleton=self.skeleton)
        predicted = [full_keypoints(d[:, 6:], self.kpt_shape) for d in detections]
        plot_images(img, detections_for_plot(detections), paths, self.names, save_dir / f"val_batch{index}_pred.jpg",
                    keypoints=torch.cat(predicted).cpu() if predicted else None, skeleton=self.skeleton)

    def plot(self, save_dir: Path) -> None:
        super().plot(save_dir)
        self.pose_metrics.plot(save_dir)

    def predictions_json(self) -> list[dict]:
        """COCO results rows with the keypoints (file-stem image ids, COCO category ids for COCO's classes)."""
        mapping = coco_category_map(self.names)
        return [
            row
            for (path, det), points in zip(self.detections, self.extras)
            for row in detections_to_coco(det[:, :4], det[:, 4], det[:, 5].long(), coco_image_id(Path(path).stem),
                                          mapping, keypoints=points)
        ]
