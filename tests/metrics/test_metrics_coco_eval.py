"""``evaluate`` against a direct pycocotools run, edge cases, and the COCO json helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from focalyolo.metrics import (
    COCO80_TO_COCO91,
    STAT_KEYS,
    build_coco_gt,
    coco_from_dict,
    coco_results,
    detections_to_coco,
    evaluate,
    save_json,
)


def _as_dicts(gt, preds) -> tuple[list[dict], list[dict]]:
    """Test-side images -> the torchmetrics-style inputs of ``evaluate``."""
    p = [
        {"boxes": torch.tensor(x.boxes), "scores": torch.tensor(x.scores), "labels": torch.tensor(x.labels)}
        for x in preds
    ]
    t = [{"boxes": torch.tensor(x.boxes), "labels": torch.tensor(x.labels)} for x in gt]
    return p, t


def _reference_cocoeval(gt, preds, tmp_path) -> COCOeval:
    """COCOeval on json files written from plain dicts (80 categories, loadRes for the detections)."""
    images, annotations, results = [], [], []
    for i, (g, p) in enumerate(zip(gt, preds)):
        images.append({"id": i, "height": g.size[0], "width": g.size[1], "file_name": f"{i}.jpg"})
        for (x1, y1, x2, y2), c in zip(g.boxes.tolist(), g.labels.tolist()):
            annotations.append({
                "id": len(annotations) + 1, "image_id": i, "category_id": c,
                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0,
            })
        for (x1, y1, x2, y2), s, c in zip(p.boxes.tolist(), p.scores.tolist(), p.labels.tolist()):
            results.append({"image_id": i, "category_id": c, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s})
    gt_file, dt_file = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_file.write_text(json.dumps({
        "images": images, "annotations": annotations, "categories": [{"id": c, "name": str(c)} for c in range(80)],
    }))
    dt_file.write_text(json.dumps(results))
    coco_gt = COCO(str(gt_file))
    ev = COCOeval(coco_gt, coco_gt.loadRes(str(dt_file)), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev


def test_evaluate_matches_pycocotools_on_coco128(coco128_gt, make_predictions, tmp_path) -> None:
    preds = make_predictions(coco128_gt, nc=80, seed=0)
    ref = _reference_cocoeval(coco128_gt, preds, tmp_path)
    out = evaluate(*_as_dicts(coco128_gt, preds))
    for key, expected in zip(STAT_KEYS, ref.stats):
        assert float(out[key]) == pytest.approx(expected, abs=1e-3), key
    assert 0.2 < float(out["map"]) < 0.9 and float(out["map_50"]) > float(out["map_75"]) > float(out["map"])
    ref_prec = ref.eval["precision"][:, :, :, 0, -1]
    for cls, ap in zip(out["classes"].tolist(), out["map_per_class"].tolist()):
        p = ref_prec[:, :, cls]
        assert ap == pytest.approx(p[p > -1].mean() if (p > -1).any() else -1.0, abs=1e-3), cls


def test_perfect_predictions_give_map_one(synthetic_gt) -> None:
    preds = [{"boxes": torch.tensor(g.boxes), "scores": torch.ones(len(g.labels)), "labels": torch.tensor(g.labels)}
             for g in synthetic_gt]
    out = evaluate(preds, _as_dicts(synthetic_gt, [])[1])
    for key in ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_10", "mar_100"):
        assert float(out[key]) == pytest.approx(1.0), key
    assert torch.allclose(out["map_per_class"], torch.ones(6))


def test_no_predictions_give_zero(synthetic_gt) -> None:
    empty = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
    out = evaluate([empty] * len(synthetic_gt), _as_dicts(synthetic_gt, [])[1])
    assert float(out["map"]) == 0.0 and float(out["mar_100"]) == 0.0
    assert out["classes"].tolist() == list(range(6))


def test_nothing_to_score_is_undefined() -> None:
    out = evaluate([], [])
    assert all(float(out[k]) == -1.0 for k in STAT_KEYS)
    assert out["classes"].numel() == 0 and out["map_per_class"].numel() == 0


def test_false_positives_on_empty_image_and_pred_only_class() -> None:
    gt_box = torch.tensor([[10.0, 10.0, 110.0, 110.0]])
    targets = [{"boxes": gt_box, "labels": torch.tensor([0])}, {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)}]
    hit = {"boxes": gt_box, "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}
    fp = {"boxes": gt_box, "scores": torch.tensor([0.9]), "labels": torch.tensor([0])}
    assert float(evaluate([hit, fp], targets)["map"]) < 1.0  # a better-scored false positive on image 1
    other = {"boxes": gt_box, "scores": torch.tensor([0.9]), "labels": torch.tensor([3])}
    out = evaluate([hit, other], targets)  # class 3 has no ground truth: listed, undefined, not averaged
    assert out["classes"].tolist() == [0, 3]
    assert out["map_per_class"].tolist() == [1.0, -1.0] and float(out["map"]) == 1.0


def test_iscrowd_targets_are_ignored() -> None:
    boxes = torch.tensor([[0.0, 0.0, 50.0, 50.0], [100.0, 100.0, 200.0, 200.0]])
    targets = [{"boxes": boxes, "labels": torch.tensor([0, 0]), "iscrowd": torch.tensor([0, 1])}]
    preds = [{"boxes": boxes[:1], "scores": torch.tensor([0.8]), "labels": torch.tensor([0])}]
    assert float(evaluate(preds, targets)["map"]) == pytest.approx(1.0)


def test_detections_to_coco_rows() -> None:
    rows = detections_to_coco(
        torch.tensor([[1.23456, 2.0, 11.0, 22.5]]), torch.tensor([0.1234567]), torch.tensor([0]), image_id="a",
        label_to_category=COCO80_TO_COCO91,
    )
    assert rows == [{"image_id": "a", "category_id": 1, "bbox": [1.235, 2.0, 9.765, 20.5], "score": 0.12346}]
    assert detections_to_coco(np.zeros((0, 4)), [], [], image_id=0) == []
    assert len(COCO80_TO_COCO91) == 80 and COCO80_TO_COCO91[-1] == 90 and 12 not in COCO80_TO_COCO91


def test_build_coco_gt_and_results_objects(tmp_path) -> None:
    gt = build_coco_gt(
        [np.array([[0.0, 0.0, 10.0, 20.0]]), np.zeros((0, 4))], [np.array([2]), np.zeros(0)],
        image_sizes=[(480, 640), (100, 200)], image_ids=[5, 9], file_names=["a.jpg", "b.jpg"],
        categories={2: "car", 7: "truck"},
    )
    assert gt["images"][0] == {"id": 5, "height": 480, "width": 640, "file_name": "a.jpg"}
    assert gt["annotations"] == [
        {"id": 1, "image_id": 5, "category_id": 2, "bbox": [0.0, 0.0, 10.0, 20.0], "area": 200.0, "iscrowd": 0}
    ]
    assert gt["categories"] == [{"id": 2, "name": "car"}, {"id": 7, "name": "truck"}]
    coco_gt = coco_from_dict(json.loads(save_json(tmp_path / "sub" / "gt.json", gt).read_text()))
    dt = coco_results(coco_gt, [{"image_id": 9, "category_id": 7, "bbox": [1, 2, 3, 4], "score": 0.5}])
    assert dt.anns[1]["area"] == 12 and dt.getImgIds() == [5, 9]
    with pytest.raises(ValueError, match="missing from the ground truth"):
        coco_results(coco_gt, [{"image_id": 3, "category_id": 7, "bbox": [1, 2, 3, 4], "score": 0.5}])


def test_evaluate_is_quiet_unless_verbose(synthetic_gt, make_predictions, capsys) -> None:
    preds, targets = _as_dicts(synthetic_gt, make_predictions(synthetic_gt, nc=6))
    evaluate(preds, targets)
    assert capsys.readouterr().out == ""
    evaluate(preds, targets, verbose=True)
    assert "Average Precision" in capsys.readouterr().out
