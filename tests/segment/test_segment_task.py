"""The segmentation task end to end on tiny data: perfect predictions score perfectly (fast and pycocotools), a
PGI segmentation model with a focal block trains (results.csv has the mask columns), predicts overlays and polygon
labels, and its ONNX export gives PyTorch's outputs and metrics."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from focalyolo.cfg import PredictConfig, TrainConfig
from focalyolo.data import Polygons, YOLODataset, build_dataloader, generate_synthetic, load_data_config
from focalyolo.deploy.export import export_onnx
from focalyolo.deploy.inference import load_inference_model
from focalyolo.deploy.onnx_model import OnnxModel
from focalyolo.engine.evaluation import evaluate
from focalyolo.engine.predictor import PredictRun
from focalyolo.engine.trainer import Trainer
from focalyolo.tasks import get_task
from focalyolo.weights.convert import deployment_form

NC, NM = 5, 8
TINY_DUAL_SEG = {  # PGI segmentation with a focal block: DualDSegment, prototypes from the stride-4 layer 1
    "nc": NC, "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "ADown", [16]],
                 [-1, 1, "ADown", [16]], [-1, 1, "FocalModulationBlock", [16]], [-1, 1, "ADown", [16]]],
    "head": [[2, 1, "Conv", [16, 3, 1]], [[2, 4, 5, 6, 4, 5, 1, 1], 1, "DualDSegment", ["nc", NM, 16]]],
}
SEG_COLUMNS = [
    "epoch", "train/box_loss", "train/seg_loss", "train/cls_loss", "train/dfl_loss",
    "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
    "metrics/precision(M)", "metrics/recall(M)", "metrics/mAP50(M)", "metrics/mAP50-95(M)",
    "val/box_loss", "val/seg_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2",
]


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("seg"), n_train=16, n_val=6, imgsz=64, seed=3,
                              name="synthetic-seg")


class Oracle(torch.nn.Module):
    """Answers each batch of a known loader with its own ground truth, as a segmentation model's eval output:
    one anchor per instance slot, class score 0.9, coefficient j picks prototype j = instance j's mask."""

    task = "segment"

    def __init__(self, batches: list[dict], names: list[str]):
        super().__init__()
        self.outputs = [self._answer(b) for b in batches]
        self.names = names
        self.register_buffer("stride", torch.tensor([8.0, 16.0, 32.0]))

    @staticmethod
    def _answer(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        targets, masks = batch["targets"], batch["masks"]
        b, (h, w) = len(batch["img"]), batch["img"].shape[2:]
        slots = int(max(masks.amax(), 1))
        preds = torch.zeros(b, 4 + NC + slots, slots)
        protos = torch.full((b, slots, *masks.shape[1:]), -10.0)
        for i in range(b):
            rows = targets[targets[:, 0] == i]
            for j, row in enumerate(rows):
                preds[i, :4, j] = row[2:6] * torch.tensor([w, h, w, h])
                preds[i, 4 + int(row[1]), j] = 0.9
                preds[i, 4 + NC + j, j] = 1.0
                protos[i, j][masks[i] == j + 1] = 10.0
        return preds, protos

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.outputs.pop(0)


def test_perfect_predictions_score_one_fast_and_with_pycocotools(seg_data, tmp_path):
    config = load_data_config(seg_data)
    dataset = YOLODataset(config.val, 64, rect=True, batch_size=4, nc=NC, verbose=False, kinds=[Polygons()])
    loader = build_dataloader(dataset, 4, 0, shuffle=False)
    oracle = Oracle(list(loader), config.names)
    results = evaluate(oracle, loader, names=config.names, coco=True, save_json=True, plots=True, save_dir=tmp_path,
                       verbose=False)
    for kind in ("B", "M"):
        assert results[f"metrics/mAP50({kind})"] > 0.99 and results[f"metrics/mAP50-95({kind})"] > 0.9
    assert results["fitness"] == pytest.approx(2 * 0.1 * 1 + 0.9 * (results["metrics/mAP50-95(B)"]
                                                                     + results["metrics/mAP50-95(M)"]), abs=0.01)
    # pycocotools scores the same masks resampled from the stride-4 grid to the original 64x64 pixels against the
    # exact label polygons: shapes a few cells wide lose to the grid's quantisation (measured 0.93 / 0.50)
    assert results["coco/AP50(M)"] > 0.85 and results["coco/AP50-95(M)"] > 0.4
    assert results["coco/AP50"] > 0.95
    rows = yaml.safe_load((tmp_path / "predictions.json").read_text())
    assert len(rows) == sum(len(lb) for lb in dataset.labels) and all("counts" in r["segmentation"] for r in rows)
    assert all((tmp_path / f"Mask{c}_curve.png").is_file() for c in ("PR", "F1", "P", "R"))
    assert (tmp_path / "val_batch0_pred.jpg").is_file()


@pytest.fixture(scope="module")
def trained(seg_data, tmp_path_factory) -> Trainer:
    root = tmp_path_factory.mktemp("train")
    model = root / "tiny-dual-seg-focal.yaml"
    model.write_text(yaml.safe_dump(TINY_DUAL_SEG))
    trainer = Trainer(TrainConfig(model=str(model), data=str(seg_data), epochs=2, imgsz=64, batch=8, workers=0,
                                  project=str(root / "runs"), plots=True, verbose=False, close_mosaic=1, nbs=16,
                                  warmup_epochs=0.5))
    trainer.train()
    return trainer


def test_pgi_segmentation_model_trains_with_the_mask_columns(trained):
    with (trained.save_dir / "results.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == SEG_COLUMNS and get_task("segment").csv_columns() == SEG_COLUMNS
    assert len(rows) == 3 and all(float(v) >= 0 for v in rows[-1][1:])
    final = trained.final_metrics
    assert {"coco/AP50-95(M)", "coco/AP50-95", "metrics/mAP50(M)"} <= set(final)
    assert all(k in final["per_class"][0] for k in ("mAP50(M)", "mAP50-95(M)"))
    assert (trained.save_dir / "MaskPR_curve.png").is_file() and (trained.save_dir / "train_batch0.jpg").is_file()


def test_predict_saves_overlays_polygons_and_returns_masks(trained, seg_data, tmp_path):
    best = trained.weights_dir / "best.pt"
    folder = seg_data.parent / "images" / "val"
    images = sorted(folder.glob("*.jpg"))
    cfg = PredictConfig(model=str(best), source=str(folder), conf=0.0, max_det=5, save_txt=True,  # barely trained
                        project=str(tmp_path), name="pred", verbose=False)
    run = PredictRun(cfg)
    results = list(run)
    assert len(results) == len(images) and sum(len(r) for r in results) > 0
    for r in results:
        assert r.masks.shape == (len(r), *r.orig_shape) and r.masks.data.dtype == torch.bool
        assert r.plot().shape == (*r.orig_shape, 3)
    assert all((run.save_dir / p.name).is_file() for p in images)
    lines = [line.split() for f in (run.save_dir / "labels").glob("*.txt") for line in f.read_text().splitlines()]
    assert lines and all(len(t) % 2 == 0 and len(t) >= 8 for t in lines)  # cls, >= 3 points, conf
    assert all(0 <= float(v) <= 1 for t in lines for v in t[1:-1])


def test_onnx_export_has_two_outputs_equal_to_pytorch_and_scores_the_same(trained, seg_data, tmp_path):
    best = trained.weights_dir / "best.pt"
    model = load_inference_model(best)
    path = export_onnx(model, tmp_path / "seg.onnx", imgsz=64, dynamic=True)
    onnx_model = OnnxModel(path)
    assert (onnx_model.nc, onnx_model.nm, onnx_model.task) == (NC, NM, "segment")
    net = deployment_form(model)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        want = net(x)
    got = onnx_model(x)
    anchors = 8 * 12 + 4 * 6 + 2 * 3  # strides 8, 16, 32 over 64x96
    assert [g.shape for g in got] == [w.shape for w in want] == [(2, 4 + NC + NM, anchors), (2, NM, 16, 24)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-3, atol=1e-3)
    loader = get_task("segment").build_val_loader(net, load_data_config(seg_data).val, 64, 4, 0)
    names = trained.data.names
    from_torch = evaluate(net, loader, names=names, verbose=False)
    from_onnx = evaluate(onnx_model, loader, names=names, verbose=False)
    for key in ("metrics/mAP50(B)", "metrics/mAP50(M)", "metrics/mAP50-95(M)"):
        assert from_onnx[key] == pytest.approx(from_torch[key], abs=0.02)


@pytest.mark.parametrize("name", ["gelan-t-seg-focal", "gelan-t-dseg-focal", "yolov9-t-dseg-focal"])
def test_packaged_focal_segmentation_models_take_a_training_step(name, seg_data):
    """Each head (Segment, DSegment, DualDSegment) with the focal block: loss on a real batch, finite, and a
    gradient reaches the prototypes and the coefficient branches."""
    from focalyolo import build_model
    from focalyolo.cfg import TrainConfig

    model = build_model(name, nc=NC).train()
    task = get_task("segment")
    hyp = TrainConfig()
    loss_fn = task.build_loss(model, {**hyp.group("loss"), **hyp.group("assigner")})
    dataset = task.build_dataset(load_data_config(seg_data).train[:4], 64, nc=NC, verbose=False)
    batch = next(iter(build_dataloader(dataset, 4, 0, shuffle=False)))
    loss, items = loss_fn(model(batch["img"].float() / 255), task.targets(batch, torch.device("cpu")))
    loss.backward()
    assert torch.isfinite(loss) and items.shape == (4,) and items[1] > 0  # the seg term
    head = model.head
    proto = head.proto2 if hasattr(head, "proto2") else head.proto
    coefficients = head.cv7 if hasattr(head, "cv7") else head.cv4
    for module in (proto, coefficients):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
