"""Per-class average precision of the fast in-training metric (numpy).

AP at each IoU threshold is the area under the precision envelope, sampled at 101 recall points and
integrated with the trapezoid rule; it is close to, not equal to, COCO's mean of the 101 samples.
Precision / recall / F1 are also traced against confidence, and read at the confidence of best mean F1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CONF_POINTS", "ClassAP", "RECALL_POINTS", "ap_per_class", "compute_ap"]

RECALL_POINTS = np.linspace(0.0, 1.0, 101)
CONF_POINTS = np.linspace(0.0, 1.0, 1000)


@dataclass
class ClassAP:
    """Per-class results over C classes that have ground truth, T IoU thresholds.

    Attributes:
        classes: (C,) class indices.
        n_labels: (C,) ground-truth boxes per class.
        ap: (C, T) average precision per IoU threshold.
        precision: (C,) precision at the best-mean-F1 confidence ``conf``.
        recall: (C,) recall at ``conf``.
        f1: (C,) F1 at ``conf``.
        conf: the confidence threshold of best mean F1.
        p_curve: (C, 1000) precision vs confidence ``CONF_POINTS`` at the first IoU threshold.
        r_curve: (C, 1000) recall vs confidence.
        f1_curve: (C, 1000) F1 vs confidence.
        pr_curve: (C, 101) enveloped precision vs recall ``RECALL_POINTS`` at the first IoU threshold.
    """

    classes: np.ndarray
    n_labels: np.ndarray
    ap: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    conf: float
    p_curve: np.ndarray
    r_curve: np.ndarray
    f1_curve: np.ndarray
    pr_curve: np.ndarray


def _trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoid-rule integral of (..., P) samples ``y`` over (P,) points ``x`` -> (...)."""
    return ((y[..., 1:] + y[..., :-1]) * 0.5 * np.diff(x)).sum(-1)


def compute_ap(recall: np.ndarray, precision: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AP per column of cumulative recall / precision of score-sorted detections.

    Args:
        recall: (n, T) non-decreasing recall after each detection.
        precision: (n, T) precision after each detection.

    Returns:
        ap (T,) and the enveloped precision sampled at ``RECALL_POINTS``, (T, 101).
    """
    t = recall.shape[1]
    mrec = np.concatenate((np.zeros((1, t)), recall, np.ones((1, t))))
    mpre = np.concatenate((np.ones((1, t)), precision, np.zeros((1, t))))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre, 0), 0), 0)
    curve = np.stack([np.interp(RECALL_POINTS, mrec[:, j], mpre[:, j]) for j in range(t)])
    return _trapezoid(curve, RECALL_POINTS), curve


def _smooth(y: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """Box-filter (P,) ``y`` over ``fraction`` of its length (edges padded with end values)."""
    k = max(round(len(y) * fraction / 2), 1) * 2 + 1
    padded = np.pad(y, k // 2, mode="edge")
    return np.convolve(padded, np.ones(k) / k, mode="valid")


def ap_per_class(
    tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray, eps: float = 1e-16
) -> ClassAP:
    """Average precision and P/R/F1 curves of every class present in the ground truth.

    Args:
        tp: (N, T) bool, detection is a true positive at IoU threshold t (see ``match_predictions``).
        conf: (N,) detection scores.
        pred_cls: (N,) detection classes.
        target_cls: (M,) classes of all ground-truth boxes.
        eps: guards divisions.

    Returns:
        ``ClassAP``; classes only present in detections are left out, classes without detections get AP 0.
    """
    order = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
    classes, n_labels = np.unique(target_cls, return_counts=True)
    n_cls, n_thr = len(classes), tp.shape[1]
    ap = np.zeros((n_cls, n_thr))
    p_curve, r_curve = np.zeros((n_cls, CONF_POINTS.size)), np.zeros((n_cls, CONF_POINTS.size))
    pr_curve = np.zeros((n_cls, RECALL_POINTS.size))
    for ci, c in enumerate(classes):
        sel = pred_cls == c
        if not sel.any():
            continue
        tpc = tp[sel].cumsum(0)
        fpc = (~tp[sel]).cumsum(0)
        recall = tpc / (n_labels[ci] + eps)
        precision = tpc / (tpc + fpc)
        r_curve[ci] = np.interp(-CONF_POINTS, -conf[sel], recall[:, 0], left=0)
        p_curve[ci] = np.interp(-CONF_POINTS, -conf[sel], precision[:, 0], left=1)
        ap[ci], curves = compute_ap(recall, precision)
        pr_curve[ci] = curves[0]
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + eps)
    best = int(_smooth(f1_curve.mean(0)).argmax()) if n_cls else 0
    return ClassAP(
        classes=classes,
        n_labels=n_labels,
        ap=ap,
        precision=p_curve[:, best],
        recall=r_curve[:, best],
        f1=f1_curve[:, best],
        conf=float(CONF_POINTS[best]),
        p_curve=p_curve,
        r_curve=r_curve,
        f1_curve=f1_curve,
        pr_curve=pr_curve,
    )
