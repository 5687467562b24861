"""The pose task end to end on tiny data: the keypoint arithmetic (decoding, OKS, the loss terms), perfect predictions
score perfectly (fast and pycocotools), a PGI pose model with a focal block trains (results.csv has the pose columns),
predicts skeletons and pose labels, and its ONNX export gives PyTorch's outputs and metrics."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from focalyolo import YOLO, build_model
from focalyolo.cfg import PredictConfig, TrainConfig
from focalyolo.cli import main
from focalyolo.data import Keypoints, YOLODataset, build_dataloader, generate_synthetic, load_data_config
from focalyolo.deploy.export import export_onnx
from focalyolo.deploy.inference import load_inference_model
from focalyolo.deploy.onnx_model import OnnxModel
from focalyolo.engine.evaluation import evaluate
from focalyolo.engine.predictor import PredictRun
from focalyolo.engine.trainer import Trainer
from focalyolo.errors import DataError
from focalyolo.loss import keypoint_terms
from focalyolo.tasks import get_task
from focalyolo.utils.boxes import make_anchors
from focalyolo.utils.keypoints import COCO_KEYPOINT_SIGMAS, decode_keypoints, keypoint_oks, keypoint_sigmas
from focalyolo.weights.convert import deployment_form

NC, KPT = 2, [5, 3]
TINY_DUAL_POSE = {  # PGI pose with a focal block
    "nc": NC, "kpt_shape": [17, 3], "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "ADown", [16]],
                 [-1, 1, "ADown", [16]], [-1, 1, "FocalModulationBlock", [16]], [-1, 1, "ADown", [16]]],
    "head": [[2, 1, "Conv", [16, 3, 1]], [[2, 4, 5, 6, 4, 5], 1, "DualDPose", ["nc", "kpt_shape"]]],
}
POSE_COLUMNS = [
    "epoch", "train/box_loss", "train/pose_loss", "train/kobj_loss", "train/cls_loss", "train/dfl_loss",
    "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
    "metrics/precision(P)", "metrics/recall(P)", "metrics/mAP50(P)", "metrics/mAP50-95(P)",
    "val/box_loss", "val/pose_loss", "val/kobj_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2",
]


@pytest.fixture(scope="module")
def pose_data(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("pose"), n_train=16, n_val=6, imgsz=64, seed=3,
                              name="synthetic-pose")


def test_keypoints_decode_as_anchor_plus_offset_in_strides():
    feats = [torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 1)]
    anchors, strides = make_anchors(feats, torch.tensor([8.0, 16.0]), 0.5)
    raw = torch.zeros(1, 2 * 3, 5)
    raw[0, 0, 4], raw[0, 1, 4], raw[0, 2, 4] = 1.0, -0.5, 0.0  # keypoint 0 of the stride-16 anchor at (8, 8)
    out = decode_keypoints(raw, anchors, strides, ndim=3)
    assert out[0, :3, 4].tolist() == [24.0, 0.0, 0.5]
    assert out[0, 3:5, 0].tolist() == [4.0, 4.0]  # zero offsets sit on the anchor point
    logits = decode_keypoints(raw, anchors, strides, ndim=3, visibility_logits=True)
    assert logits[0, 2, 4] == 0.0
    assert decode_keypoints(raw[:, :4], anchors, strides, ndim=2)[0, :2, 4].tolist() == [24.0, 0.0]


def test_oks_follows_the_coco_formula_and_ignores_unlabelled_keypoints():
    assert keypoint_sigmas(17).tolist() == list(COCO_KEYPOINT_SIGMAS)
    assert keypoint_sigmas(5).tolist() == [0.2] * 5
    gt = torch.tensor([[[10.0, 10.0, 2.0], [20.0, 20.0, 2.0], [0.0, 0.0, 0.0]]])
    pred = gt.clone()
    pred[0, 1, 0] += 3.0
    pred[0, 2, :2] = 500.0  # far off, but not labelled
    sigmas = torch.tensor([0.1, 0.1, 0.1])
    area = torch.tensor([400.0])
    expected = (1 + np.exp(-9 / (2 * 400 * 0.2 ** 2))) / 2
    assert keypoint_oks(pred, gt, area, sigmas).item() == pytest.approx(expected, rel=1e-6)
    pairwise = keypoint_oks(torch.cat((pred, gt)), gt, area, sigmas, pairwise=True)
    assert pairwise.shape == (2, 1) and pairwise[1, 0].item() == pytest.approx(1.0)
    assert keypoint_oks(pred, torch.zeros(1, 3, 3), area, sigmas).item() == 0.0


def test_keypoint_terms_vanish_for_perfect_keypoints_and_score_visibility():
    target = torch.tensor([[[10.0, 10.0, 2.0], [30.0, 30.0, 0.0]]])
    boxes = torch.tensor([[0.0, 0.0, 40.0, 40.0]])
    sigmas = torch.tensor([0.1, 0.1])
    sure = torch.tensor([[[10.0, 10.0, 20.0], [99.0, 99.0, -20.0]]])
    pose, kobj = keypoint_terms(sure, target, boxes, sigmas)
    assert pose.item() == pytest.approx(0.0, abs=1e-6) and kobj.item() < 1e-6
    wrong = torch.tensor([[[30.0, 10.0, -20.0], [30.0, 30.0, 20.0]]])
    pose, kobj = keypoint_terms(wrong, target, boxes, sigmas)
    assert pose.item() > 0.5 and kobj.item() > 10


@pytest.mark.parametrize("name", ["gelan-t-pose-focal", "yolov9-t-pose-focal"])
def test_packaged_pose_models_take_a_training_step(name, pose_data):
    """DPose and DualDPose with the focal block: loss on a real batch, finite, every term positive, and a gradient
    reaches the inference branch's keypoint convolutions."""
    config = load_data_config(pose_data)
    model = build_model(name, nc=NC, kpt_shape=config.kpt_shape).train()
    assert model.kpt_shape == KPT and model.head.task == "pose"
    task = get_task("pose")
    hyp = TrainConfig()
    loss_fn = task.build_loss(model, {**hyp.group("loss"), **hyp.group("assigner")})
    dataset = task.build_dataset(config.train[:4], 64, nc=NC, verbose=False, **task.dataset_options(config))
    batch = next(iter(build_dataloader(dataset, 4, 0, shuffle=False)))
    loss, items = loss_fn(model(batch["img"].float() / 255), task.targets(batch, torch.device("cpu")))
    loss.backward()
    assert torch.isfinite(loss) and items.shape == (5,) and (items > 0).all()
    branch = model.head.cv7 if model.is_dual else model.head.cv4
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in branch.parameters())


def test_a_pose_task_needs_kpt_shape(tmp_path):
    data = generate_synthetic(tmp_path, n_train=2, n_val=1, imgsz=64, name="synthetic")
    with pytest.raises(DataError, match="kpt_shape"):
        get_task("pose").load_data(data)


class Oracle(torch.nn.Module):
    """Answers each batch of a known loader with its own ground truth, as a pose model's eval output: one anchor per
    object, class score 0.9, the true keypoints with visibility 1 where labelled."""

    task = "pose"

    def __init__(self, batches: list[dict], names: list[str]):
        super().__init__()
        self.outputs = [self._answer(b) for b in batches]
        self.names, self.kpt_shape = names, KPT
        self.register_buffer("stride", torch.tensor([8.0, 16.0, 32.0]))

    @staticmethod
    def _answer(batch: dict) -> torch.Tensor:
        targets, keypoints = batch["targets"], batch["keypoints"]
        b, (h, w) = len(batch["img"]), batch["img"].shape[2:]
        slots = max(int(torch.bincount(targets[:, 0].long()).max()), 1)
        preds = torch.zeros(b, 4 + NC + KPT[0] * 3, slots)
        for i in range(b):
            mine = targets[:, 0] == i
            for j, (row, pose) in enumerate(zip(targets[mine], keypoints[mine])):
                preds[i, :4, j] = row[2:6] * torch.tensor([w, h, w, h])
                preds[i, 4 + int(row[1]), j] = 0.9
                answer = pose * torch.tensor([w, h, 1.0])
                answer[:, 2] = (pose[:, 2] > 0).float()
                preds[i, 4 + NC:, j] = answer.reshape(-1)
        return preds

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.outputs.pop(0)


def test_perfect_predictions_score_one_fast_and_with_pycocotools(pose_data, tmp_path):
    config = load_data_config(pose_data)
    dataset = YOLODataset(config.val, 64, rect=True, batch_size=4, nc=NC, verbose=False, kinds=[Keypoints(KPT)])
    loader = build_dataloader(dataset, 4, 0, shuffle=False)
    oracle = Oracle(list(loader), config.names)
    results = evaluate(oracle, loader, names=config.names, coco=True, save_json=True, plots=True, save_dir=tmp_path,
                       verbose=False)
    for kind in ("B", "P"):
        assert results[f"metrics/mAP50({kind})"] > 0.99 and results[f"metrics/mAP50-95({kind})"] > 0.95
    assert results["coco/AP50(P)"] > 0.99 and results["coco/AP50-95(P)"] > 0.95
    assert results["coco/AP50"] > 0.95
    rows = json.loads((tmp_path / "predictions.json").read_text())
    assert len(rows) == sum(len(lb) for lb in dataset.labels) and all(len(r["keypoints"]) == 15 for r in rows)
    assert all((tmp_path / f"Pose{c}_curve.png").is_file() for c in ("PR", "F1", "P", "R"))
    assert (tmp_path / "val_batch0_pred.jpg").is_file()


def test_a_wrong_keypoint_lowers_pose_map_but_not_box_map(pose_data):
    config = load_data_config(pose_data)
    dataset = YOLODataset(config.val, 64, rect=True, batch_size=4, nc=NC, verbose=False, kinds=[Keypoints(KPT)])
    loader = build_dataloader(dataset, 4, 0, shuffle=False)
    oracle = Oracle(list(loader), config.names)
    for out in oracle.outputs:
        out[:, 4 + NC: 4 + NC + 2] += 20.0  # keypoint 0 of every pose 20 px off (objects are 16-32 px)
    results = evaluate(oracle, loader, names=config.names, verbose=False)
    assert results["metrics/mAP50(B)"] > 0.99
    assert results["metrics/mAP50-95(P)"] < 0.9


@pytest.fixture(scope="module")
def trained(pose_data, tmp_path_factory) -> Trainer:
    root = tmp_path_factory.mktemp("train")
    model = root / "tiny-dual-pose-focal.yaml"
    model.write_text(yaml.safe_dump(TINY_DUAL_POSE))
    trainer = Trainer(TrainConfig(model=str(model), data=str(pose_data), epochs=2, imgsz=64, batch=8, workers=0,
                                  project=str(root / "runs"), plots=True, verbose=False, close_mosaic=1, nbs=16,
                                  warmup_epochs=0.5))
    trainer.train()
    return trainer


def test_pgi_pose_model_trains_with_the_pose_columns(trained):
    with (trained.save_dir / "results.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == POSE_COLUMNS and get_task("pose").csv_columns() == POSE_COLUMNS
    assert len(rows) == 3 and all(float(v) >= 0 for v in rows[-1][1:])
    final = trained.final_metrics
    assert {"coco/AP50-95(P)", "coco/AP50-95", "metrics/mAP50(P)"} <= set(final)
    assert all(k in final["per_class"][0] for k in ("mAP50(P)", "mAP50-95(P)"))
    assert trained.model.kpt_shape == KPT  # the data's, not the config's 17 points
    assert trained.model.skeleton == load_data_config(trained.cfg.data).skeleton
    assert (trained.save_dir / "PosePR_curve.png").is_file() and (trained.save_dir / "train_batch0.jpg").is_file()


def test_predict_draws_poses_and_writes_pose_labels(trained, pose_data, tmp_path):
    best = trained.weights_dir / "best.pt"
    folder = pose_data.parent / "images" / "val"
    images = sorted(folder.glob("*.jpg"))
    cfg = PredictConfig(model=str(best), source=str(folder), conf=0.0, max_det=5, save_txt=True,  # barely trained
                        project=str(tmp_path), name="pred", verbose=False)
    run = PredictRun(cfg)
    results = list(run)
    assert len(results) == len(images) and sum(len(r) for r in results) > 0
    for r in results:
        assert r.keypoints.shape == (len(r), *KPT) and r.skeleton == trained.model.skeleton
        h, w = r.orig_shape
        assert (r.keypoints.xy[..., 0] <= w).all() and (r.keypoints.xy[..., 1] <= h).all()
        assert r.plot().shape == (*r.orig_shape, 3)
    assert all((run.save_dir / p.name).is_file() for p in images)
    lines = [line.split() for f in (run.save_dir / "labels").glob("*.txt") for line in f.read_text().splitlines()]
    assert lines and all(len(t) == 5 + 15 + 1 for t in lines)  # cls box, 5 x (x y v), conf
    assert all(0 <= float(v) <= 1 for t in lines for v in t[1:])


def test_onnx_export_carries_the_keypoints_and_scores_the_same(trained, pose_data, tmp_path):
    model = load_inference_model(trained.weights_dir / "best.pt")
    path = export_onnx(model, tmp_path / "pose.onnx", imgsz=64, dynamic=True)
    onnx_model = OnnxModel(path)
    assert (onnx_model.nc, onnx_model.kpt_shape, onnx_model.task) == (NC, KPT, "pose")
    assert onnx_model.skeleton == trained.model.skeleton
    net = deployment_form(model)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        want = net(x)
    got = onnx_model(x)
    anchors = 8 * 12 + 4 * 6 + 2 * 3
    assert got.shape == want.shape == (2, 4 + NC + 15, anchors)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-3)
    task = get_task("pose")
    loader = task.build_val_loader(onnx_model, load_data_config(pose_data).val, 64, 4, 0)
    names = trained.data.names
    from_torch = evaluate(net, loader, names=names, verbose=False)
    from_onnx = evaluate(onnx_model, loader, names=names, verbose=False)
    for key in ("metrics/mAP50(B)", "metrics/mAP50(P)", "metrics/mAP50-95(P)"):
        assert from_onnx[key] == pytest.approx(from_torch[key], abs=0.02)


def test_cli_trains_validates_exports_and_predicts_a_pose_model(pose_data, tmp_path, capsys):
    model = tmp_path / "tiny-dual-pose-focal.yaml"
    model.write_text(yaml.safe_dump(TINY_DUAL_POSE))
    assert main(["train", "--model", str(model), "--data", str(pose_data), "--epochs", "1", "--imgsz", "64", "--batch",
                 "8", "--workers", "0", "--project", str(tmp_path), "--name", "cli", "--no-plots"]) == 0
    with (tmp_path / "cli" / "results.csv").open() as handle:
        assert next(csv.reader(handle)) == POSE_COLUMNS
    best = str(tmp_path / "cli" / "weights" / "best.pt")
    capsys.readouterr()
    assert main(["val", "--model", best, "--project", str(tmp_path), "--name", "v"]) == 0  # data from the run
    printed = capsys.readouterr()
    assert "COCO (pycocotools), keypoints: AP50-95" in printed.out + printed.err
    assert "mAP50(P)" in json.loads((tmp_path / "v" / "metrics.json").read_text())["per_class"][0]
    assert main(["export", "--model", best, "--imgsz", "64", "--output", str(tmp_path / "pose")]) == 0
    folder = pose_data.parent / "images" / "val"
    assert main(["predict", "--model", str(tmp_path / "pose.onnx"), "--source", str(folder), "--conf", "0",
                 "--max-det", "3", "--save-txt", "--project", str(tmp_path), "--name", "p"]) == 0
    rows = [line.split() for f in (tmp_path / "p" / "labels").glob("*.txt") for line in f.read_text().splitlines()]
    assert rows and all(len(r) == 5 + 15 + 1 for r in rows)
    api = YOLO(best)
    results = api.predict(str(folder), conf=0.0, max_det=3)
    assert all(r.keypoints.shape == (len(r), *KPT) for r in results)
    scores = api.val(project=str(tmp_path), name="api", verbose=False)
    assert scores["metrics/mAP50(P)"] == pytest.approx(json.loads((tmp_path / "v" / "metrics.json").read_text())[
        "metrics/mAP50(P)"], abs=1e-6)
    exported = api.export(imgsz=64, output=str(tmp_path / "api"))
    assert OnnxModel(exported[0]).kpt_shape == KPT


def test_compare_tabulates_pose_figures(pose_data, tmp_path):
    model = tmp_path / "tiny-dual-pose-focal.yaml"
    model.write_text(yaml.safe_dump(TINY_DUAL_POSE))
    assert main(["compare", "--models", str(model), "--data", str(pose_data), "--epochs", "1", "--imgsz", "64",
                 "--seeds", "0", "--batch", "8", "--workers", "0", "--device", "cpu", "--latency-runs", "1",
                 "--project", str(tmp_path), "--name", "abl"]) == 0
    assert "| pose mAP50 | pose mAP50-95 |" in (tmp_path / "abl" / "ablation.md").read_text()


def test_detection_reads_the_boxes_of_pose_labels(pose_data):
    config = load_data_config(pose_data)
    detect = get_task("detect")
    boxes = detect.build_dataset(config.val, 64, nc=NC, verbose=False, **detect.dataset_options(config))
    poses = get_task("pose").build_dataset(config.val, 64, nc=NC, verbose=False, kinds=[Keypoints(KPT)])
    assert boxes.counts["instances"] == poses.counts["instances"] > 0 and boxes.counts["fixed"] == 0
    assert all(np.array_equal(a, b) for a, b in zip(boxes.labels, poses.labels))
