"""The fast in-training metric: matching, AP, P/R, results_dict, confusion matrix, plots."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from focalyolo.metrics import ConfusionMatrix, DetectionMetrics, evaluate
from focalyolo.metrics.ap import compute_ap
from focalyolo.metrics.matching import greedy_pairs, match_predictions

THRESHOLDS = torch.linspace(0.5, 0.95, 10)


def _pred_rows(boxes, scores, labels) -> torch.Tensor:
    """(n, 6) [xyxy, score, cls] from array-likes."""
    return torch.cat(
        (torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
         torch.as_tensor(scores, dtype=torch.float32).reshape(-1, 1),
         torch.as_tensor(labels, dtype=torch.float32).reshape(-1, 1)), 1)


def _fill(metrics: DetectionMetrics, gt, preds) -> DetectionMetrics:
    for g, p in zip(gt, preds):
        metrics.update(_pred_rows(p.boxes, p.scores, p.labels), torch.tensor(g.boxes), torch.tensor(g.labels))
    return metrics


def test_greedy_pairs_is_one_to_one_by_iou() -> None:
    iou = torch.tensor([[0.9, 0.6], [0.8, 0.0], [0.55, 0.7]])
    t, d, g = greedy_pairs(iou, torch.tensor([0.5, 0.75]))
    at_50 = sorted(zip(d[t == 0].tolist(), g[t == 0].tolist()))
    assert at_50 == [(0, 0), (2, 1)]  # det 1 loses gt 0 to det 0 (higher IoU); det 2 takes gt 1
    assert sorted(zip(d[t == 1].tolist(), g[t == 1].tolist())) == [(0, 0)]


def test_match_predictions_needs_same_class_and_threshold() -> None:
    gt = torch.tensor([[0.0, 0.0, 100.0, 100.0]])
    pred = torch.tensor([[0.0, 0.0, 100.0, 80.0], [0.0, 0.0, 100.0, 100.0], [0.0, 0.0, 100.0, 100.0]])
    tp = match_predictions(pred, torch.tensor([0.5, 0.9, 0.9]), torch.tensor([0, 0, 1]), gt, torch.tensor([0]),
                           THRESHOLDS)
    assert tp[1].all() and not tp[0].any() and not tp[2].any()  # the exact box scores higher; class 1 never matches
    tp = match_predictions(pred[:1], torch.ones(1), torch.tensor([0]), gt, torch.tensor([0]), THRESHOLDS)
    assert tp[0].tolist() == [t <= 0.8 + 1e-6 for t in THRESHOLDS.tolist()]  # IoU 0.8
    assert match_predictions(pred, torch.ones(3), torch.tensor([0, 0, 1]), gt[:0], torch.zeros(0),
                             THRESHOLDS).shape == (3, 10)


def test_matching_follows_scores_as_coco_does() -> None:
    """A confident looser box keeps the gt it overlaps by 0.8; the tighter but less confident duplicate is a false
    positive at 0.5-0.8 and only matches where the first cannot (IoU thresholds above 0.8)."""
    gt = torch.tensor([[0.0, 0.0, 100.0, 100.0]])
    pred = torch.tensor([[0.0, 0.0, 100.0, 80.0], [0.0, 0.0, 100.0, 100.0]])
    tp = match_predictions(pred, torch.tensor([0.9, 0.3]), torch.tensor([0, 0]), gt, torch.tensor([0]), THRESHOLDS)
    above = THRESHOLDS > 0.8 + 1e-6
    assert tp[0].tolist() == (~above).tolist() and tp[1].tolist() == above.tolist()


def test_compute_ap_of_perfect_ranking() -> None:
    ap, curve = compute_ap(np.array([[0.5], [1.0]]), np.array([[1.0], [1.0]]))
    assert ap[0] == pytest.approx(0.995) and curve.shape == (1, 101)  # 101-point trapezoid convention


def test_perfect_predictions(synthetic_gt) -> None:
    m = DetectionMetrics(6)
    for g in synthetic_gt:
        m.update(_pred_rows(g.boxes, np.ones(len(g.labels)), g.labels), torch.tensor(g.boxes), torch.tensor(g.labels))
    r = m.results_dict()
    assert r["metrics/precision(B)"] == pytest.approx(1.0) and r["metrics/recall(B)"] == pytest.approx(1.0)
    assert r["metrics/mAP50(B)"] == pytest.approx(0.995) and r["metrics/mAP50-95(B)"] == pytest.approx(0.995)
    assert list(r) == ["metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
                       "fitness"]
    assert r["fitness"] == pytest.approx(0.1 * r["metrics/mAP50(B)"] + 0.9 * r["metrics/mAP50-95(B)"])


def test_no_predictions_and_no_data() -> None:
    m = DetectionMetrics(3)
    m.update(torch.zeros(0, 6), torch.tensor([[0.0, 0.0, 10.0, 10.0]]), torch.tensor([2]))
    assert m.map == 0.0 and m.map50 == 0.0 and m.recall == 0.0
    m.reset()
    assert m.results_dict()["fitness"] == 0.0 and m.compute().ap.shape == (0, 10)


def _fast_and_coco(gt, preds, nc: int) -> tuple[DetectionMetrics, dict]:
    """The fast metric and ``evaluate`` on the same detections."""
    coco = evaluate(
        [{"boxes": torch.tensor(p.boxes), "scores": torch.tensor(p.scores), "labels": torch.tensor(p.labels)}
         for p in preds],
        [{"boxes": torch.tensor(g.boxes), "labels": torch.tensor(g.labels)} for g in gt],
    )
    return _fill(DetectionMetrics(nc), gt, preds), coco


@pytest.mark.parametrize("source", ["synthetic_gt", "coco128_gt"])
def test_map_close_to_pycocotools(source, request, make_predictions) -> None:
    gt = request.getfixturevalue(source)
    nc = 80 if source == "coco128_gt" else 6
    fast, coco = _fast_and_coco(gt, make_predictions(gt, nc=nc, seed=1, jitter=0.02, drop=0.0), nc)
    assert fast.map == pytest.approx(float(coco["map"]), abs=0.02)
    assert fast.map50 == pytest.approx(float(coco["map_50"]), abs=0.02)
    assert 0.0 < fast.precision < 1.0 and 0.0 < fast.recall <= 1.0


def test_duplicates_are_ranked_by_score_as_in_pycocotools(synthetic_gt, make_predictions) -> None:
    """Every object detected twice: a confident loose box and a tight unconfident one. COCO gives the object to
    the confident box and counts the tight one as a false positive; matching by IoU instead would do the
    reverse and lose about half of the mAP50 here (0.49 against 0.99)."""
    loose = make_predictions(synthetic_gt, nc=6, seed=2, jitter=0.08, drop=0.0, false=0.0)
    tight = make_predictions(synthetic_gt, nc=6, seed=3, jitter=0.01, drop=0.0, false=0.0)
    merged = [type(a)(np.concatenate((a.boxes, b.boxes)), np.concatenate((0.5 + a.scores / 2, b.scores / 2)),
                      np.concatenate((a.labels, b.labels))) for a, b in zip(loose, tight)]
    fast, coco = _fast_and_coco(synthetic_gt, merged, 6)
    assert fast.map50 == pytest.approx(float(coco["map_50"]), abs=0.01)
    assert fast.map == pytest.approx(float(coco["map"]), abs=0.01)


def test_missed_objects_raise_fast_map_above_coco(synthetic_gt, make_predictions) -> None:
    """Known bias of the YOLO convention: the PR curve is extended linearly to (recall 1, precision 0), so a
    class whose recall stops short of 1 gains a triangle that COCO (precision 0 there) does not count."""
    fast, coco = _fast_and_coco(synthetic_gt, make_predictions(synthetic_gt, nc=6, seed=1), 6)
    assert 0.03 < fast.map - float(coco["map"]) < 0.15


def test_confusion_matrix_counts() -> None:
    cm = ConfusionMatrix(nc=3)
    gt_boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0], [50.0, 50.0, 60.0, 60.0]])
    pred = _pred_rows(
        [[0, 0, 10, 10], [20, 20, 30, 31], [80, 80, 90, 90], [0, 0, 10, 10]], [0.9, 0.8, 0.7, 0.1], [0, 2, 1, 1]
    )
    cm.update(pred, gt_boxes, torch.tensor([0, 1, 2]))
    expected = np.zeros((4, 4), np.int64)
    expected[0, 0] = 1  # correct
    expected[2, 1] = 1  # right place, wrong class
    expected[3, 2] = 1  # missed ground truth -> predicted background
    expected[1, 3] = 1  # false detection on background (the 0.1-score one is below conf)
    assert (cm.matrix == expected).all()
    cm.update(_pred_rows([[1, 1, 5, 5]], [0.9], [2]), torch.zeros(0, 4), torch.zeros(0))
    assert cm.matrix[2, 3] == 1
    assert cm.normalized()[:, :3].sum(0) == pytest.approx([1.0, 1.0, 1.0])


def test_plot_writes_the_figures(synthetic_gt, make_predictions, tmp_path) -> None:
    names = {i: f"class{i}" for i in range(6)}
    m = _fill(DetectionMetrics(6, names), synthetic_gt[:10], make_predictions(synthetic_gt[:10], nc=6))
    paths = m.plot(tmp_path / "plots")
    expected = {"PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png", "confusion_matrix.png",
                "confusion_matrix_normalized.png"}
    assert {p.name for p in paths} == expected
    assert all(p.stat().st_size > 10_000 and p.read_bytes()[:4] == b"\x89PNG" for p in paths)
