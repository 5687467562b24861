"""Background images (no label file, and no detection) in a validation split, for every task: the evaluation, its
pycocotools figures, ``predictions.json`` and the plots go through, from the API and from ``focalyolo val`` /
``focalyolo train``; a classifier's evaluation takes a class without validation images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from focalyolo import build_model
from focalyolo.cli import main
from focalyolo.data import generate_synthetic, load_data_config
from focalyolo.data.classify import load_classification_data
from focalyolo.engine.evaluation import evaluate
from focalyolo.metrics import build_coco_gt, detections_to_coco
from focalyolo.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_thread")

TESTS = Path(__file__).resolve().parents[1]
TASKS = {  # task -> (built-in set, tiny model)
    "detect": ("synthetic", TESTS / "engine" / "tiny-gelan-focal.yaml"),
    "segment": ("synthetic-seg", TESTS / "engine" / "tiny-gelan-seg-focal.yaml"),
    "pose": ("synthetic-pose", TESTS / "engine" / "tiny-gelan-pose-focal.yaml"),
}
BACKGROUNDS = 2


def data_with_backgrounds(root: Path, name: str) -> Path:
    """A tiny built-in set whose val split also holds two black images without label files."""
    data = generate_synthetic(root, n_train=2, n_val=3, imgsz=64, seed=3, name=name)
    for i in range(BACKGROUNDS):
        cv2.imwrite(str(root / "images" / "val" / f"background{i}.png"), np.zeros((64, 64, 3), np.uint8))
    return data


class SilentOnBackgrounds(torch.nn.Module):
    """A model's eval output with every class score zeroed for the images the feeding loader marks as background,
    so those images get no detection while the others get the model's many low-confidence ones."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.head, self.stride = model, model.head, model.stride
        self.nc = model.nc
        self.background: list[bool] = []

    def forward(self, images: torch.Tensor):
        out = self.model(images)
        preds = out[0] if isinstance(out, tuple) else out
        preds[torch.tensor(self.background), 4: 4 + self.nc] = 0.0
        return out


class FeedingLoader:
    """The loader, telling the model which images of each batch are background before yielding the batch."""

    def __init__(self, model: SilentOnBackgrounds, loader) -> None:
        self.model, self.loader, self.dataset = model, loader, loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.model.background = [Path(p).stem.startswith("background") for p in batch["paths"]]
            yield batch


@pytest.mark.parametrize("task_name", list(TASKS))
def test_background_images_without_detections_are_scored(task_name, tmp_path):
    name, model_yaml = TASKS[task_name]
    config = load_data_config(data_with_backgrounds(tmp_path / "data", name))
    task = get_task(task_name)
    model = build_model(str(model_yaml), nc=config.nc, **task.model_options(config)).eval()
    wrapped = SilentOnBackgrounds(model)
    loader = FeedingLoader(wrapped, task.build_val_loader(model, config.val, 64, 4, 0))
    results = evaluate(wrapped, loader, names=config.names, coco=True, save_json=True, plots=True,
                       save_dir=tmp_path / "val", verbose=False)
    assert np.isfinite(results["fitness"]) and "coco/AP50-95" in results
    rows = json.loads((tmp_path / "val" / "predictions.json").read_text())
    images = {r["image_id"] for r in rows}
    assert rows and not any(str(i).startswith("background") for i in images)
    assert len(images) == len(config.val) - BACKGROUNDS  # every labelled image has detections
    assert (tmp_path / "val" / "val_batch0_pred.jpg").is_file()


@pytest.mark.parametrize("task_name", list(TASKS))
def test_val_cli_saves_json_when_no_image_has_a_detection(task_name, tmp_path, capsys):
    """Random weights and conf 0.99: no detection anywhere, backgrounds in the ground truth."""
    name, model_yaml = TASKS[task_name]
    data = data_with_backgrounds(tmp_path / "data", name)
    code = main(["val", "--model", str(model_yaml), "--data", str(data), "--imgsz", "64", "--batch", "4",
                 "--device", "cpu", "--workers", "0", "--conf", "0.99", "--save-json", "--no-plots",
                 "--project", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "runs" / "exp" / "predictions.json").read_text()) == []


def test_pose_training_ends_with_its_final_validation(tmp_path, capsys):
    data = data_with_backgrounds(tmp_path / "data", "synthetic-pose")
    code = main(["train", "--model", str(TASKS["pose"][1]), "--data", str(data), "--imgsz", "64", "--batch", "4",
                 "--epochs", "1", "--device", "cpu", "--workers", "0", "--project", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "runs" / "exp" / "metrics.json").read_text())
    assert "coco/AP50-95(P)" in metrics


def test_coco_rows_and_ground_truth_of_an_image_without_objects():
    """The COCO conversions keep their (n, nk, 3) keypoint layout when n is 0."""
    none = torch.zeros((0, 5, 3))
    assert detections_to_coco(torch.zeros((0, 4)), torch.zeros(0), torch.zeros(0), 7, keypoints=none) == []
    gt = build_coco_gt([np.zeros((0, 4)), np.array([[0.0, 0.0, 10.0, 10.0]])], [np.zeros(0), np.zeros(1)],
                       keypoints=[none, np.array([[[1.0, 2.0, 2.0], [0.0, 0.0, 0.0], *[[3.0, 4.0, 1.0]] * 3]])])
    assert [a["image_id"] for a in gt["annotations"]] == [1] and gt["annotations"][0]["num_keypoints"] == 4
    with pytest.raises(ValueError, match="rows"):
        detections_to_coco(torch.zeros((2, 4)), torch.zeros(2), torch.zeros(2), 7, keypoints=torch.zeros(3, 5, 3))


def test_classifier_evaluation_with_a_class_without_validation_images(tmp_path):
    root = tmp_path / "folders"
    for split, classes in (("train", ("a", "b", "c")), ("val", ("a", "b"))):
        for k, cls in enumerate(classes):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                cv2.imwrite(str(folder / f"{i}.png"), np.full((32, 32, 3), 60 * k + i, np.uint8))
    (root / "val" / "c").mkdir()
    data = load_classification_data(root)
    task = get_task("classify")
    model = build_model("gelan-t-cls", nc=data.nc)
    loader = task.build_val_loader(model, data.val, 32, 4, 0)
    results = evaluate(model, loader, names=data.names, save_dir=tmp_path / "val", plots=True, verbose=False)
    assert [row["class"] for row in results["per_class"]] == ["a", "b"]
    assert np.isfinite(results["metrics/accuracy_top1"]) and sum(map(sum, results["confusion_matrix"])) == 4
    assert (tmp_path / "val" / "confusion_matrix_normalized.png").is_file()
