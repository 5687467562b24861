"""The fast in-training detection metric: per-image matching, then per-class AP, P, R and a confusion matrix.

These are the numbers logged every epoch (``results.csv`` columns ``metrics/*(B)``, ``metrics/*(M)`` for
masks, matched by mask IoU, and ``metrics/*(P)`` for poses, matched by keypoint similarity, OKS) and used to pick
``best.pt``; the reported numbers come from pycocotools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from focalyolo.metrics.ap import CONF_POINTS, RECALL_POINTS, ClassAP, ap_per_class
from focalyolo.metrics.confusion import ConfusionMatrix
from focalyolo.metrics.matching import match_predictions
from focalyolo.metrics.plots import plot_confusion_matrix, plot_metric_curve, plot_pr_curve

__all__ = ["DetectionMetrics", "Names"]

Names = Mapping[int, str] | Sequence[str]
CURVE_PREFIX = {"B": "", "M": "Mask", "P": "Pose"}
"""Metric kind -> the prefix of its curve plots' file names."""


def _name_list(nc: int, names: Names | None) -> list[str]:
    """nc class names from a dict or list (missing entries -> the index as text)."""
    lookup = dict(enumerate(names)) if isinstance(names, Sequence) else dict(names or {})
    return [str(lookup.get(i, i)) for i in range(nc)]


class DetectionMetrics:
    """Accumulates detections and ground truth image by image, then scores them.

    Args:
        nc: number of classes.
        names: class names (dict index -> name, or a list); default: the indices.
        iou_thresholds: (T,) IoU thresholds; default ``linspace(0.5, 0.95, 10)``. The first one is AP50's.
        conf_matrix_conf: score threshold of the confusion matrix.
        conf_matrix_iou: IoU threshold of the confusion matrix.
        kind: ``"B"`` (boxes), ``"M"`` (masks) or ``"P"`` (poses): the suffix of the ``results_dict`` keys; mask and
            pose metrics draw their curves as ``Mask*_curve.png`` / ``Pose*_curve.png`` and no confusion matrix (the
            box metrics draw it).
    """

    def __init__(
        self,
        nc: int,
        names: Names | None = None,
        iou_thresholds: torch.Tensor | None = None,
        conf_matrix_conf: float = 0.25,
        conf_matrix_iou: float = 0.45,
        kind: str = "B",
    ) -> None:
        if kind not in CURVE_PREFIX:
            raise ValueError(f"kind must be one of {', '.join(CURVE_PREFIX)}, got {kind!r}")
        self.nc, self.kind = nc, kind
        self.names = _name_list(nc, names)
        self.iou_thresholds = torch.linspace(0.5, 0.95, 10) if iou_thresholds is None else iou_thresholds.float()
        self.conf_matrix_conf, self.conf_matrix_iou = conf_matrix_conf, conf_matrix_iou
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        self.confusion = ConfusionMatrix(self.nc, self.conf_matrix_conf, self.conf_matrix_iou)
        self._tp: list[torch.Tensor] = []
        self._conf: list[torch.Tensor] = []
        self._pred_cls: list[torch.Tensor] = []
        self._target_cls: list[torch.Tensor] = []
        self._result: ClassAP | None = None

    def update(self, pred: torch.Tensor, gt_boxes: torch.Tensor, gt_cls: torch.Tensor,
               overlaps: torch.Tensor | None = None) -> None:
        """Add one image.

        Args:
            pred: (n, 6) detections ``[x1, y1, x2, y2, score, cls]`` (e.g. one ``non_max_suppression`` output).
            gt_boxes: (m, 4) xyxy ground truth, same pixel frame as ``pred``.
            gt_cls: (m,) ground-truth classes.
            overlaps: (n, m) IoU to match by instead of the boxes' (mask IoU for mask metrics, OKS for poses, the
                exact rotated IoU for oriented boxes: box metrics pass it to the confusion matrix too).
        """
        pred, gt_boxes = pred.detach(), gt_boxes.detach().reshape(-1, 4)
        gt_cls = gt_cls.detach().reshape(-1).long()
        pred_cls = pred[:, 5].long()
        tp = match_predictions(pred[:, :4], pred[:, 4], pred_cls, gt_boxes, gt_cls, self.iou_thresholds.to(pred.device),
                               overlaps)
        self._tp.append(tp.cpu())
        self._conf.append(pred[:, 4].float().cpu())
        self._pred_cls.append(pred_cls.cpu())
        self._target_cls.append(gt_cls.cpu())
        if self.kind == "B":
            self.confusion.update(pred[:, :6], gt_boxes, gt_cls, overlaps)
        self._result = None

    def compute(self) -> ClassAP:
        """Per-class AP (C, T), P/R/F1 at the best-mean-F1 confidence, and the curves (see ``ClassAP``)."""
        if self._result is None:
            t = self.iou_thresholds.numel()
            self._result = ap_per_class(
                torch.cat(self._tp).numpy() if self._tp else np.zeros((0, t), bool),
                torch.cat(self._conf).numpy() if self._conf else np.zeros(0),
                torch.cat(self._pred_cls).numpy() if self._pred_cls else np.zeros(0, np.int64),
                torch.cat(self._target_cls).numpy() if self._target_cls else np.zeros(0, np.int64),
            )
        return self._result

    @staticmethod
    def _mean(x: np.ndarray) -> float:
        """Mean of an array, 0.0 when empty."""
        return float(x.mean()) if x.size else 0.0

    @property
    def precision(self) -> float:
        """Mean precision over classes at the best-mean-F1 confidence."""
        return self._mean(self.compute().precision)

    @property
    def recall(self) -> float:
        """Mean recall over classes at the best-mean-F1 confidence."""
        return self._mean(self.compute().recall)

    @property
    def map50(self) -> float:
        """Mean over classes of AP at the first IoU threshold (0.5)."""
        return self._mean(self.compute().ap[:, 0])

    @property
    def map(self) -> float:
        """Mean over classes and IoU thresholds of AP (mAP@[.5:.95] by default)."""
        return self._mean(self.compute().ap)

    @property
    def per_class_map(self) -> dict[int, float]:
        """Class index -> AP averaged over the IoU thresholds, for classes with ground truth."""
        res = self.compute()
        return dict(zip(res.classes.tolist(), res.ap.mean(1).tolist()))

    @property
    def fitness(self) -> float:
        """Model-selection score: 0.1 * mAP50 + 0.9 * mAP50-95."""
        return 0.1 * self.map50 + 0.9 * self.map

    def results_dict(self) -> dict[str, float]:
        """The ``results.csv`` metric columns (suffix ``kind``) plus ``fitness``."""
        k = self.kind
        return {
            f"metrics/precision({k})": self.precision,
            f"metrics/recall({k})": self.recall,
            f"metrics/mAP50({k})": self.map50,
            f"metrics/mAP50-95({k})": self.map,
            "fitness": self.fitness,
        }

    def plot(self, save_dir: str | Path, names: Names | None = None) -> list[Path]:
        """Write PR_curve.png, F1_curve.png, P_curve.png, R_curve.png, confusion_matrix.png and
        confusion_matrix_normalized.png into ``save_dir`` (mask and pose metrics: the four curves as
        ``Mask*_curve.png`` / ``Pose*_curve.png``); returns their paths."""
        save_dir = Path(save_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        all_names = _name_list(self.nc, names) if names is not None else self.names
        res = self.compute()
        curve_names = [all_names[c] for c in res.classes.tolist()]
        prefix = CURVE_PREFIX[self.kind]
        curves = [
            plot_pr_curve(RECALL_POINTS, res.pr_curve, res.ap[:, 0], curve_names, save_dir / f"{prefix}PR_curve.png"),
            plot_metric_curve(CONF_POINTS, res.f1_curve, curve_names, "F1", save_dir / f"{prefix}F1_curve.png"),
            plot_metric_curve(CONF_POINTS, res.p_curve, curve_names, "Precision", save_dir / f"{prefix}P_curve.png"),
            plot_metric_curve(CONF_POINTS, res.r_curve, curve_names, "Recall", save_dir / f"{prefix}R_curve.png"),
        ]
        if self.kind != "B":
            return curves
        return [
            *curves,
            plot_confusion_matrix(self.confusion.matrix, all_names, save_dir / "confusion_matrix.png", False),
            plot_confusion_matrix(
                self.confusion.normalized(), all_names, save_dir / "confusion_matrix_normalized.png", True
            ),
        ]
