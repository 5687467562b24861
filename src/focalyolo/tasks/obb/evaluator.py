"""The OBB evaluator: what the evaluation loop does with a batch's outputs for oriented boxes.

Per batch: rotated NMS with every (box, class) pair above ``conf`` as a candidate
(:func:`~focalyolo.utils.rotated_nms.rotated_non_max_suppression`), detections and ground truth mapped back to
original-image pixels (:func:`unletterbox_rotated`), then :class:`~focalyolo.metrics.obb.OBBMetrics` (rotated mAP50
and mAP50-95 by the exact IoU, the ``metrics/*(B)`` columns). There are no reference figures (pycocotools scores no
rotated boxes): ``coco`` adds nothing. The plots draw each rotated box as its four corners joined, over the
axis-aligned box around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ...metrics.coco_json import coco_image_id
from ...metrics.obb import OBBMetrics
from ...utils.plotting import plot_images
from ...utils.rotated import rotated_box_affine, xywhr_to_corners
from ...utils.rotated_nms import rotated_non_max_suppression
from ..detect.evaluator import BatchDetections, DetectEvaluator
from ..detect.inputs import RatioPad
from ..evaluator import EvalSettings
from .results import obb_json_rows

__all__ = ["CORNER_SKELETON", "OBBEvaluator", "plot_rows", "unletterbox_rotated"]

CORNER_SKELETON = [[0, 1], [1, 2], [2, 3], [3, 0]]
"""The four sides of a rotated box, as pairs of its corners (drawn as a keypoint skeleton)."""


def unletterbox_rotated(boxes: torch.Tensor, ratio_pad: RatioPad) -> torch.Tensor:
    """(n, 5) xywhr in letterboxed-input pixels -> (n, 5) canonical xywhr in original-image pixels, the letterbox
    ``((gain_h, gain_w), (pad_w, pad_h))`` undone on the corners (exact; not clipped to the image)."""
    (gain_h, gain_w), (pad_w, pad_h) = ratio_pad
    matrix = torch.tensor([[1 / gain_w, 0, -pad_w / gain_w], [0, 1 / gain_h, -pad_h / gain_h]], dtype=torch.float64)
    return rotated_box_affine(boxes.double(), matrix).to(boxes.dtype).reshape(-1, 5)


def plot_rows(boxes: torch.Tensor, hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 5) xywhr pixels of an ``hw`` image -> (n, 4) xywh of the axis-aligned boxes around them and (n, 4, 3)
    corners [x, y, 1], both normalised to the image (what :func:`~focalyolo.utils.plotting.plot_images` draws as
    boxes and keypoints)."""
    h, w = hw
    corners = xywhr_to_corners(boxes.double().reshape(-1, 5)) / boxes.new_tensor([w, h], dtype=torch.float64)
    lo, hi = corners.amin(1), corners.amax(1)
    points = torch.cat((corners, corners.new_ones(len(corners), 4, 1)), 2)
    return torch.cat(((lo + hi) / 2, hi - lo), 1).float(), points.float()


class OBBEvaluator(DetectEvaluator):
    """Rotated NMS, rotated matching, rotated mAP (see the module docstring).

    The model's eval output is (B, 4 + nc + 1, A) predictions (``cx, cy, w, h`` in batch-image pixels, class
    scores, angle); batches carry ``targets`` (N, 6) and ``rboxes`` (N, 5) ``[cx, cy, w, h, angle]`` normalised
    (``cx``, ``w`` by the batch image's width, ``cy``, ``h`` by its height). Kept detections are (n, 7)
    ``[cx, cy, w, h, angle, score, cls]`` in original pixels.

    Args:
        settings: class names, NMS settings, ``save_json``.
    """

    postprocess_name = "NMS"

    def __init__(self, settings: EvalSettings) -> None:
        super().__init__(settings)
        self.coco_figures = False
        self.box_metrics = OBBMetrics(len(self.names), self.names)

    def nms(self, preds: torch.Tensor) -> list[torch.Tensor]:
        """Per-image (n, 7) detections; every (box, class) pair above ``conf`` is a candidate."""
        return rotated_non_max_suppression(preds, multi_label=True, **self.nms_args)

    def update(self, batch: Mapping[str, Any], predictions: BatchDetections) -> None:
        """Map the detections and ground truth of a batch to original pixels and add them to the metrics."""
        h, w = batch["img"].shape[2:]
        targets, rboxes = batch["targets"], batch["rboxes"]
        for i, det in enumerate(predictions.detections):
            det = det.cpu()
            mine = targets[:, 0] == i
            gt_cls = targets[mine, 1].long()
            ratio_pad = batch["ratio_pads"][i]
            gt = unletterbox_rotated(rboxes[mine].double() * rboxes.new_tensor([w, h, w, h, 1]).double(), ratio_pad)
            original = torch.cat((unletterbox_rotated(det[:, :5], ratio_pad), det[:, 5:7]), 1)
            self.box_metrics.update(original, gt.float(), gt_cls)
            self.images_per_class[gt_cls.unique()] += 1
            if self.keep:
                self.detections.append((batch["paths"][i], original))

    def plot_batch(self, batch: Mapping[str, Any], predictions: BatchDetections, save_dir: Path, index: int) -> None:
        """``val_batch{index}_labels.jpg`` and ``val_batch{index}_pred.jpg``: the rotated boxes drawn."""
        img, paths, targets = batch["img"], batch["paths"], batch["targets"]
        hw = tuple(img.shape[2:])
        h, w = hw
        labels, corners = plot_rows(batch["rboxes"] * batch["rboxes"].new_tensor([w, h, w, h, 1]), hw)
        plot_images(img, torch.cat((targets[:, :2], labels), 1), paths, self.names,
                    save_dir / f"val_batch{index}_labels.jpg", keypoints=corners, skeleton=CORNER_SKELETON)
        rows, points = [], []
        for i, det in enumerate(predictions.detections):
            det = det.cpu()
            xywh, quad = plot_rows(det[:, :5], hw)
            rows.append(torch.cat((torch.full_like(det[:, :1], i), det[:, 6:7], xywh, det[:, 5:6]), 1))
            points.append(quad)
        plot_images(img, torch.cat(rows) if rows else torch.zeros((0, 7)), paths, self.names,
                    save_dir / f"val_batch{index}_pred.jpg", keypoints=torch.cat(points) if points else None,
                    skeleton=CORNER_SKELETON)

    def predictions_json(self) -> list[dict]:
        """Rows of :func:`~focalyolo.tasks.obb.results.obb_json_rows` of the kept detections (file-stem image ids,
        class ids as category ids)."""
        return [row for path, det in self.detections for row in obb_json_rows(det, coco_image_id(Path(path).stem))]
