"""evaluate(): outputs and keys on a tiny dataset, and a perfect predictor scoring 1.0 through the letterbox."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from focalyolo.cfg import default_hyperparameters
from focalyolo.data import YOLODataset, build_dataloader
from focalyolo.engine.evaluation import evaluate
from focalyolo.loss import DetectionLoss
from focalyolo.models import build_model
from focalyolo.tasks.detect.coco import COCO_STATS

HYP = default_hyperparameters()

NAMES = ["red", "green", "blue"]
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]  # BGR of each class
# (h, w) of the images: wide, tall and square, some above and some below imgsz, so rect batches differ in
# shape, letterbox padding is on both axes, and val both shrinks and keeps native size
SHAPES = [(60, 100), (100, 60), (80, 80), (50, 130), (140, 70), (64, 96)]
IMGSZ = 96


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Label-scan caches go to tmp_path, not the user's cache."""
    monkeypatch.setenv("FOCALYOLO_HOME", str(tmp_path / "home"))


def write_dataset(root: Path) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Images with 1-3 filled rectangles and YOLO labels under ``root``; returns the image paths and, per
    file name, the (m, 5) [cls, x1, y1, x2, y2] boxes in original pixels."""
    rng = np.random.default_rng(0)
    files, truth = [], {}
    for i, (h, w) in enumerate(SHAPES):
        img = np.zeros((h, w, 3), np.uint8)
        rows = []
        for k in range(1 + i % 3):  # side by side, so boxes never overlap
            x1, x2 = sorted(rng.integers(k * w // 3, (k + 1) * w // 3, 2) + (0, 6))
            y1 = int(rng.integers(0, h // 2))
            y2 = int(rng.integers(y1 + 6, h))
            cls = int(rng.integers(0, 3))
            img[y1:y2, x1:x2] = COLOURS[cls]
            rows.append((cls, x1, y1, x2, y2))
        path = root / "images" / "val" / f"{i:012d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), img)
        b = np.array(rows, np.float64)
        label = root / "labels" / "val" / f"{i:012d}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(
            f"{int(c)} {(x1 + x2) / 2 / w:.8f} {(y1 + y2) / 2 / h:.8f} {(x2 - x1) / w:.8f} {(y2 - y1) / h:.8f}\n"
            for c, x1, y1, x2, y2 in b
        ))
        files.append(path)
        truth[path.name] = b
    return files, truth


def make_loader(files: list[Path], batch: int = 4):
    dataset = YOLODataset(files, IMGSZ, rect=True, batch_size=batch, stride=32, nc=len(NAMES), verbose=False)
    return build_dataloader(dataset, batch, workers=0, shuffle=False)


class FeedingLoader:
    """A loader (same ``dataset`` and length) that stores each batch's targets on the oracle before yielding it."""

    def __init__(self, oracle: "OracleModel", loader) -> None:
        self.oracle, self.loader, self.dataset = oracle, loader, loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.oracle.targets = batch["targets"]
            yield batch


class OracleModel(nn.Module):
    """Predicts the current batch's ground truth exactly: (B, 4 + nc, A) xywh in input pixels + one-hot scores.

    ``feed(loader)`` wraps a loader so that each batch's targets reach the model before the batch does.
    """

    task = "detect"  # a detector in all but its layers: it says its task, as exported models do

    def __init__(self, nc: int) -> None:
        super().__init__()
        self.nc, self.names = nc, [str(i) for i in range(nc)]
        self.stride = torch.tensor([8.0, 16.0, 32.0])
        self.dummy = nn.Parameter(torch.zeros(1))
        self.targets = torch.zeros((0, 6))

    def feed(self, loader) -> "FeedingLoader":
        return FeedingLoader(self, loader)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        t = self.targets
        counts = torch.bincount(t[:, 0].long(), minlength=b)
        out = torch.zeros(b, 4 + self.nc, max(int(counts.max()) if len(t) else 0, 1))
        for i in range(b):
            rows = t[t[:, 0] == i]
            n = len(rows)
            out[i, :4, :n] = (rows[:, 2:6] * torch.tensor([w, h, w, h])).T
            out[i, 4 + rows[:, 1].long(), torch.arange(n)] = 0.9
        return out


def test_validate_random_model_writes_everything(tmp_path: Path) -> None:
    files, _ = write_dataset(tmp_path / "data")
    model = build_model("gelan-t", nc=len(NAMES))
    model.train()
    save_dir = tmp_path / "val"
    out = evaluate(model, make_loader(files), names=NAMES, loss_fn=DetectionLoss(model.head, HYP), save_dir=save_dir,
                   plots=True, coco=True, save_json=True, verbose=True)
    assert model.training  # flag restored
    keys = ["metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "fitness",
            "val/box_loss", "val/cls_loss", "val/dfl_loss", *COCO_STATS]
    for k in keys:
        assert isinstance(out[k], float), k
    assert out["val/box_loss"] > 0 and np.isfinite(out["val/cls_loss"])
    assert set(out["speed"]) == {"preprocess", "inference", "postprocess"}
    assert sum(r["instances"] for r in out["per_class"]) == sum(1 + i % 3 for i in range(len(SHAPES)))
    for name in ("PR_curve.png", "F1_curve.png", "confusion_matrix.png", "val_batch0_labels.jpg",
                 "val_batch0_pred.jpg", "val_batch1_labels.jpg", "metrics.json", "predictions.json"):
        assert (save_dir / name).is_file(), name
    saved = json.loads((save_dir / "metrics.json").read_text())
    assert saved["metrics/mAP50(B)"] == out["metrics/mAP50(B)"] and saved["per_class"] == out["per_class"]


def test_validate_in_training_mode_keys_only(tmp_path: Path) -> None:
    """What the trainer calls each epoch: no COCO figures, no files."""
    files, _ = write_dataset(tmp_path / "data")
    model = build_model("gelan-t", nc=len(NAMES))
    out = evaluate(model, make_loader(files), names=NAMES, loss_fn=DetectionLoss(model.head, HYP), verbose=False)
    assert "val/dfl_loss" in out and "coco/AP50-95" not in out
    assert {p.name for p in tmp_path.iterdir()} <= {"data", "home"}


def test_perfect_predictor_scores_one(tmp_path: Path) -> None:
    files, truth = write_dataset(tmp_path / "data")
    oracle = OracleModel(len(NAMES))
    loader = make_loader(files, batch=2)
    shapes = {tuple(b["img"].shape[2:]) for b in loader}
    assert len(shapes) > 1  # rect batches of different shapes
    out = evaluate(oracle, oracle.feed(loader), names=NAMES, coco=True, save_dir=tmp_path / "val", save_json=True,
                   verbose=False)
    # fast metric: 101-point trapezoid over the enveloped PR curve gives 1.0 up to the last sample
    assert out["metrics/mAP50-95(B)"] > 0.99 and out["metrics/precision(B)"] > 0.99
    # pycocotools, against ground truth read straight from the label files in original pixels
    assert out["coco/AP50-95"] == pytest.approx(1.0) and out["coco/AR100"] == pytest.approx(1.0)
    # and the saved boxes are the drawn rectangles, in original pixels
    rows = json.loads((tmp_path / "val" / "predictions.json").read_text())
    assert len(rows) == sum(len(b) for b in truth.values())
    for path in files:
        mine = [r for r in rows if r["image_id"] == int(path.stem)]
        got = sorted((r["category_id"], *r["bbox"]) for r in mine)
        want = sorted((c, x1, y1, x2 - x1, y2 - y1) for c, x1, y1, x2, y2 in truth[path.name])
        np.testing.assert_allclose(np.array(got), np.array(want), atol=0.01)
