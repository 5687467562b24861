"""The OBB task end to end on tiny data: perfect predictions score perfectly through the evaluator, the CLI trains,
validates, exports and predicts an OBB model (results.csv has the box columns, ``--save-txt`` writes OBB rows), the
API does the same, the ONNX export gives PyTorch's outputs and metrics, and ``compare`` tabulates rotated mAP."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from focalyolo import YOLO
from focalyolo.cli import main
from focalyolo.data import generate_synthetic, load_data_config
from focalyolo.deploy.export import export_onnx
from focalyolo.deploy.inference import load_inference_model
from focalyolo.deploy.onnx_model import OnnxModel
from focalyolo.engine.evaluation import evaluate
from focalyolo.tasks import EvalSettings, get_task
from focalyolo.tasks.obb import OBBResult
from focalyolo.tasks.obb.evaluator import OBBEvaluator, unletterbox_rotated
from focalyolo.weights.convert import deployment_form

NC = 3
TINY_OBB = {  # DOBB with a focal block
    "nc": NC, "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "ADown", [16]],
                 [-1, 1, "ADown", [16]], [-1, 1, "FocalModulationBlock", [16]], [-1, 1, "ADown", [16]]],
    "head": [[[2, 4, 5], 1, "DOBB", ["nc"]]],
}
OBB_COLUMNS = [
    "epoch", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)",
    "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1",
    "lr/pg2",
]


@pytest.fixture(scope="module")
def obb_data(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("obb"), n_train=16, n_val=6, imgsz=64, seed=3,
                              name="synthetic-obb")


@pytest.fixture(scope="module")
def trained(obb_data, tmp_path_factory) -> Path:
    """best.pt of one CLI epoch of the tiny OBB model."""
    root = tmp_path_factory.mktemp("run")
    model = root / "tiny-obb-focal.yaml"
    model.write_text(yaml.safe_dump(TINY_OBB))
    assert main(["train", "--model", str(model), "--data", str(obb_data), "--epochs", "1", "--imgsz", "64", "--batch",
                 "8", "--workers", "0", "--project", str(root), "--name", "cli"]) == 0
    with (root / "cli" / "results.csv").open() as handle:
        assert next(csv.reader(handle)) == OBB_COLUMNS
    assert (root / "cli" / "val_batch0_pred.jpg").is_file()
    return root / "cli" / "weights" / "best.pt"


def test_the_letterbox_is_undone_on_the_corners():
    boxes = torch.tensor([[50.0, 40.0, 20.0, 10.0, 0.3]])
    back = unletterbox_rotated(boxes, ((0.5, 0.5), (4.0, 8.0)))
    assert back.numpy() == pytest.approx(np.array([[92.0, 64.0, 40.0, 20.0, 0.3]]), abs=1e-4)


def test_perfect_predictions_score_one(obb_data):
    """The evaluator fed the labels themselves as (B, 4 + nc + 1, A) predictions scores mAP50 0.995."""
    task = get_task("obb")
    config = load_data_config(obb_data)
    dataset = task.build_dataset(config.val, 64, rect=True, batch_size=6, stride=32, nc=NC, verbose=False,
                                 **task.dataset_options(config))
    batch = dataset.collate_fn([dataset[i] for i in range(len(dataset))])
    h, w = batch["img"].shape[2:]
    evaluator = OBBEvaluator(EvalSettings(names=config.names))
    columns = torch.zeros(len(batch["img"]), 4 + NC + 1, 20)
    for i in range(len(batch["img"])):
        mine = batch["targets"][:, 0] == i
        boxes = batch["rboxes"][mine] * torch.tensor([w, h, w, h, 1.0])
        k = len(boxes)
        columns[i, :4, :k] = boxes[:, :4].T
        columns[i, 4 + batch["targets"][mine, 1].long(), torch.arange(k)] = 1.0
        columns[i, -1, :k] = boxes[:, 4] + math.pi / 2  # another row of the same rectangles (w, h swapped below)
        columns[i, 2:4, :k] = boxes[:, [3, 2]].T
    evaluator.update(batch, evaluator.postprocess(columns))
    assert evaluator.metrics()["metrics/mAP50-95(B)"] == pytest.approx(0.995, abs=1e-3)


def test_cli_validates_exports_and_predicts_an_obb_model(trained, obb_data, tmp_path, capsys):
    best = str(trained)
    assert main(["val", "--model", best, "--project", str(tmp_path), "--name", "v", "--save-json"]) == 0
    metrics = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert {"metrics/mAP50(B)", "metrics/mAP50-95(B)"} <= set(metrics)
    rows = json.loads((tmp_path / "v" / "predictions.json").read_text())
    assert rows and {"rbox", "poly", "score", "category_id"} <= set(rows[0])
    assert main(["export", "--model", best, "--imgsz", "64", "--output", str(tmp_path / "obb")]) == 0
    folder = obb_data.parent / "images" / "val"
    for model, name in ((best, "p"), (str(tmp_path / "obb.onnx"), "po")):
        assert main(["predict", "--model", model, "--source", str(folder), "--conf", "0", "--max-det", "3",
                     "--save-txt", "--project", str(tmp_path), "--name", name]) == 0
        rows = [line.split() for f in (tmp_path / name / "labels").glob("*.txt") for line in f.read_text().splitlines()]
        assert rows and all(len(r) == 1 + 8 + 1 for r in rows)
    assert main(["val", "--model", str(tmp_path / "obb.onnx"), "--data", str(obb_data), "--project", str(tmp_path),
                 "--name", "vo"]) == 0


def test_the_api_predicts_rotated_boxes(trained, obb_data, tmp_path):
    api = YOLO(str(trained))
    results = api.predict(str(obb_data.parent / "images" / "val"), conf=0.0, max_det=3)
    assert results and all(isinstance(r, OBBResult) and len(r) <= 3 for r in results)
    result = results[0]
    assert result.obb.xywhr.shape == (len(result), 5) and result.obb.xyxyxyxy.shape == (len(result), 4, 2)
    angles = result.obb.xywhr[:, 4]
    assert ((angles >= 0) & (angles < math.pi / 2)).all()
    assert torch.allclose(result.boxes.xyxy, result.obb.xyxy)  # boxes: the axis-aligned boxes around them
    assert len(result.to_dota_rows()) == len(result) and len(result.summary()[0]["box"]) == 8
    assert result.save(tmp_path / "drawn.jpg").is_file()
    scores = api.val(data=str(obb_data), project=str(tmp_path), name="api", verbose=False)
    assert 0 <= scores["metrics/mAP50(B)"] <= 1


def test_onnx_export_carries_the_angle_and_scores_the_same(trained, obb_data, tmp_path):
    model = load_inference_model(trained)
    path = export_onnx(model, tmp_path / "obb.onnx", imgsz=64, dynamic=True)
    onnx_model = OnnxModel(path)
    assert (onnx_model.nc, onnx_model.task) == (NC, "obb")
    net = deployment_form(model)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        want = net(x)
    got = onnx_model(x)
    assert got.shape == want.shape == (2, 4 + NC + 1, 8 * 12 + 4 * 6 + 2 * 3)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-3)
    loader = get_task("obb").build_val_loader(onnx_model, load_data_config(obb_data).val, 64, 4, 0)
    names = load_data_config(obb_data).names
    from_torch = evaluate(net, loader, names=names, verbose=False)
    from_onnx = evaluate(onnx_model, loader, names=names, verbose=False)
    for key in ("metrics/mAP50(B)", "metrics/mAP50-95(B)"):
        assert from_onnx[key] == pytest.approx(from_torch[key], abs=0.02)


def test_an_nms_export_of_an_obb_model_is_refused(trained, tmp_path):
    assert main(["export", "--model", str(trained), "--imgsz", "64", "--nms", "--output", str(tmp_path / "m")]) != 0
    assert not (tmp_path / "m.onnx").exists()


def test_compare_tabulates_rotated_map(obb_data, tmp_path):
    model = tmp_path / "tiny-obb-focal.yaml"
    model.write_text(yaml.safe_dump(TINY_OBB))
    assert main(["compare", "--models", str(model), "--data", str(obb_data), "--epochs", "1", "--imgsz", "64",
                 "--seeds", "0", "--batch", "8", "--workers", "0", "--device", "cpu", "--latency-runs", "1",
                 "--project", str(tmp_path), "--name", "abl"]) == 0
    table = (tmp_path / "abl" / "ablation.md").read_text()
    assert "| mAP50 | mAP50-95 | P | R |" in table
    assert "metrics: rotated-box figures (exact IoU" in table and "COCO" not in table
