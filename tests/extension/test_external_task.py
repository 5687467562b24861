"""A task added from outside the package: an annotation kind, a head, a loss, an evaluator and a task, registered
here, trained and validated one epoch through the public API with no file of ``src/`` written for it.

The task, "object size", detects boxes and predicts one scalar per object (here 10 x the box's area, read from a
sixth label column): a stand-in for any per-object value (a count, a grade, a depth). It is the recipe of
``docs/architecture.md`` ("How to add a task") followed step by step.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from focalyolo import YOLO
from focalyolo.data import AnnotationKind, generate_synthetic, register_annotation_kind
from focalyolo.data.annotations import LabelRows
from focalyolo.loss import DetectionLoss
from focalyolo.nn.head import DDetect
from focalyolo.nn.registry import register_module
from focalyolo.tasks import EvalSettings, Evaluator, register_task
from focalyolo.tasks.detect import DetectTask

TASK = "object_size_test"
SRC = Path(__file__).resolve().parents[2] / "src" / "focalyolo"


# 1. The annotation kind: one value per object, read from a sixth label column; every other step by default.
@register_annotation_kind
class ObjectSize(AnnotationKind):
    name = "object_size"

    def row_format(self) -> str:
        return "class cx cy w h size"

    def parse_rows(self, rows: list[np.ndarray]) -> LabelRows:
        good = np.array([r for r in rows if len(r) == 6], np.float64).reshape(-1, 6)
        return LabelRows(good[:, :5], good[:, 5].astype(np.float32), good[:, 5:], [len(r) for r in rows if len(r) != 6])


# 2. The head: the detection head plus one scalar map per level.
@register_module(channels="head")
class SizeDetect(DDetect):
    task = TASK

    def __init__(self, nc: int = 80, ch: list[int] | tuple[int, ...] = ()):
        super().__init__(nc, ch)
        self.cv4 = torch.nn.ModuleList(torch.nn.Conv2d(c, 1, 1) for c in ch)

    def forward_raw(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per level (B, 4 * reg_max + nc + 1, H, W): the detection maps, then the size."""
        return [torch.cat((det, size(x)), 1) for det, x, size in zip(super().forward_raw(xs), xs, self.cv4)]

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """(B, 4 + nc + 1, A): the detection predictions, then each anchor's size."""
        boxes = super().decode([f[:, :-1] for f in feats])
        return torch.cat((boxes, torch.cat([f[:, -1:].flatten(2) for f in feats], 2)), 1)


def size_at_centres(maps: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The (B, 1, H, W) finest-level size map read at each (N, 6) [image, class, cx, cy, w, h] target's cell."""
    h, w = maps.shape[-2:]
    ix = (targets[:, 2] * w).long().clamp(0, w - 1)
    iy = (targets[:, 3] * h).long().clamp(0, h - 1)
    return maps[targets[:, 0].long(), 0, iy, ix]


# 3. The loss: detection's, plus the L1 error of the size at each object's centre cell.
class SizeLoss:
    def __init__(self, head: SizeDetect, hyp: Mapping[str, Any]):
        self.detection = DetectionLoss(head, hyp)

    def __call__(self, raw: list[torch.Tensor], targets: tuple[torch.Tensor, torch.Tensor]):
        boxes, sizes = targets
        loss, items = self.detection([f[:, :-1] for f in raw], boxes)
        size = (size_at_centres(raw[0][:, -1:], boxes) - sizes).abs().mean() if len(sizes) else raw[0].sum() * 0
        return loss + size * len(raw[0]), torch.cat((items, size.detach()[None]))


# 4. The evaluator: the mean absolute error of the size at each object's centre cell.
class SizeEvaluator(Evaluator):
    def __init__(self, stride: int):
        self.stride, self.errors = stride, []

    def update(self, batch: Mapping[str, Any], predictions: torch.Tensor) -> None:
        h, w = (s // self.stride for s in batch["img"].shape[-2:])
        maps = predictions[:, -1, : h * w].reshape(-1, 1, h, w).cpu()
        self.errors.append((size_at_centres(maps, batch["targets"]) - batch["object_size"]).abs())

    def metrics(self) -> dict[str, float]:
        mae = float(torch.cat(self.errors).mean())
        return {"metrics/size_mae": mae, "fitness": -mae}


# 5. The task: detection's data, dataset and prediction, with the size everywhere it matters.
@register_task
class ObjectSizeTask(DetectTask):
    name = TASK
    loss_names = ("box", "cls", "dfl", "size")
    metric_keys = {"MAE": "metrics/size_mae"}

    def dataset_options(self, data: Any) -> dict[str, Any]:
        return {"kinds": [ObjectSize()]}

    def val_dataset_options(self, model: torch.nn.Module) -> dict[str, Any]:
        return {"kinds": [ObjectSize()]}

    def build_loss(self, model: torch.nn.Module, hyp: Mapping[str, Any]) -> SizeLoss:
        return SizeLoss(model.head, hyp)

    def targets(self, batch: Mapping[str, Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        return batch["targets"].to(device), batch["object_size"].to(device)

    def build_evaluator(self, model: torch.nn.Module, settings: EvalSettings) -> SizeEvaluator:
        return SizeEvaluator(int(model.stride.min()))


def sized_set(root: Path) -> Path:
    """A tiny built-in shapes set whose label rows carry a sixth column: 10 x the box's normalised area."""
    data = generate_synthetic(root, n_train=16, n_val=8, imgsz=64, seed=0)
    for label in (root / "labels").rglob("*.txt"):
        rows = [line.split() for line in label.read_text().splitlines() if line.strip()]
        label.write_text("".join(f"{' '.join(r)} {10 * float(r[3]) * float(r[4]):.6f}\n" for r in rows))
    return data


def model_yaml(path: Path) -> Path:
    cfg = {"nc": 5, "backbone": [[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "Conv", [32, 3, 2]], [-1, 1, "Conv", [32, 3, 2]],
                                 [-1, 1, "Conv", [32, 3, 2]], [-1, 1, "Conv", [32, 3, 2]]],
           "head": [[[2, 3, 4], 1, "SizeDetect", ["nc"]]]}
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_task_registered_outside_the_package_trains_and_validates(tmp_path):
    data = sized_set(tmp_path / "data")
    model = YOLO(str(model_yaml(tmp_path / "size-model.yaml")))
    run = model.train(data=str(data), epochs=1, imgsz=64, batch=8, workers=0, device="cpu", plots=False,
                      project=str(tmp_path / "runs"), name="size", verbose=False)
    header, row = (run / "results.csv").read_text().splitlines()[:2]
    results = dict(zip(header.split(","), map(float, row.split(","))))
    assert {"train/size_loss", "metrics/size_mae", "val/size_loss"} <= set(results)
    assert all(np.isfinite(v) for v in results.values()) and results["metrics/size_mae"] > 0

    metrics = YOLO(str(run / "weights" / "best.pt")).val(data=str(data), batch=8, workers=0, device="cpu",
                                                          plots=False, project=str(tmp_path / "val"), verbose=False)
    assert np.isfinite(metrics["metrics/size_mae"]) and metrics["fitness"] == -metrics["metrics/size_mae"]
    assert "val/size_loss" not in metrics  # validation losses are computed inside training only

    # nothing in the package names this task: it lives in this file alone
    assert not [p for p in SRC.rglob("*.py") if TASK in p.read_text() or "SizeDetect" in p.read_text()]
