"""Data a model cannot learn from, or be scored on, stops ``train`` and ``val`` with one line (exit status 2) before a
run folder is made: pose rows that disagree with the data YAML's ``kpt_shape``, an image-folder set given to a
detector, box rows given to a segmenter. And the label scan's summary counts what the dataset changed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from focalyolo import build_model
from focalyolo.cli import main
from focalyolo.data import Polygons, YOLODataset, generate_synthetic
from focalyolo.weights.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

ENGINE = Path(__file__).resolve().parents[1] / "engine"
POSE_MODEL = ENGINE / "tiny-gelan-pose-focal.yaml"  # kpt_shape [5, 3], as the synthetic pose rows


def wrong_kpt_shape(root: Path) -> Path:
    """The synthetic pose set (rows of 5 x 3 keypoint values) with ``kpt_shape: [4, 3]`` in its data YAML."""
    data = generate_synthetic(root, n_train=2, n_val=2, imgsz=64, seed=3, name="synthetic-pose")
    config = yaml.safe_load(data.read_text())
    config.update(kpt_shape=[4, 3], flip_idx=[1, 0, 2, 3], skeleton=[[0, 1], [1, 2], [2, 3]])
    data.write_text(yaml.safe_dump(config))
    return data


def image_folders(root: Path) -> Path:
    """A classification layout (``train/<class>/*.png``, ``val/...``) and a data YAML naming its splits."""
    for split in ("train", "val"):
        for k, name in enumerate(("cat", "dog")):
            folder = root / split / name
            folder.mkdir(parents=True)
            cv2.imwrite(str(folder / "0.png"), np.full((32, 32, 3), 90 * k, np.uint8))
    (root / "data.yaml").write_text("train: train\nval: val\nnames: [cat, dog]\n")
    return root / "data.yaml"


def box_rows(root: Path) -> Path:
    return generate_synthetic(root, n_train=2, n_val=2, imgsz=64, seed=3, name="synthetic")


CASES = {  # name -> (model, data writer, what the line says)
    "kpt_shape": (POSE_MODEL, wrong_kpt_shape, "20 values; kpt_shape [4, 3] needs 5 + 4x3 = 17"),
    "image folders": (ENGINE / "tiny-gelan-focal.yaml", image_folders, "none of 2 images has a label file"),
    "boxes to a segmenter": (ENGINE / "tiny-gelan-seg-focal.yaml", box_rows, "has an outline"),
}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("case", list(CASES))
def test_train_refuses_data_without_a_usable_label_in_one_line(case, tmp_path, capsys):
    model, write, says = CASES[case]
    data = write(tmp_path / "data")
    code = main(["train", "--model", str(model), "--data", str(data), "--imgsz", "64", "--epochs", "1",
                 "--device", "cpu", "--workers", "0", "--project", str(tmp_path / "runs")])
    assert code == 2 and says in one_line_error(capsys)
    assert not (tmp_path / "runs").exists()


def test_val_refuses_pose_rows_of_another_shape_in_one_line(tmp_path, capsys):
    data = wrong_kpt_shape(tmp_path / "data")
    model = build_model(str(POSE_MODEL), nc=2, kpt_shape=[4, 3])  # the YAML's four keypoints, as trained on it
    four = save_checkpoint({"model_yaml": model.copy_config(), "names": yaml.safe_load(data.read_text())["names"],
                            "model": model.state_dict(), "ema": None}, tmp_path / "four.pt")
    code = main(["val", "--model", str(four), "--data", str(data), "--imgsz", "64", "--device", "cpu",
                 "--workers", "0", "--project", str(tmp_path / "runs")])
    assert code == 2 and "kpt_shape [4, 3] needs 5 + 4x3 = 17" in one_line_error(capsys)
    assert not (tmp_path / "runs").exists()


def test_the_scan_summary_counts_the_box_rows_a_segmentation_set_drops(tmp_path):
    """Three label files change: a row of a wrong column count in one, a box row without a polygon in two more."""
    polygon = "0 0.1 0.1 0.4 0.1 0.4 0.4\n"
    texts = {"a": polygon + "0 0.5 0.5 0.2 0.2\n", "b": polygon + "0 0.6 0.6 0.2 0.2\n", "c": polygon + "1 0.5 0.5\n",
             "d": polygon}
    images = []
    for name, text in texts.items():
        images.append(tmp_path / "images" / f"{name}.png")
        images[-1].parent.mkdir(exist_ok=True)
        cv2.imwrite(str(images[-1]), np.zeros((64, 64, 3), np.uint8))
        (tmp_path / "labels").mkdir(exist_ok=True)
        (tmp_path / "labels" / f"{name}.txt").write_text(text)
    for _ in range(2):  # scanned, then read from the cache
        dataset = YOLODataset(images, 64, nc=2, kinds=[Polygons()], verbose=False)
        assert dataset.counts["fixed"] == 3 and dataset.counts["labelled"] == 1
        assert dataset.counts["instances"] == sum(len(lb) for lb in dataset.labels) == 4
        assert "4 boxes" in dataset.summary() and "3 label files fixed" in dataset.summary()
        reported = [path for path, _ in dataset.report]
        assert reported.count(str(tmp_path / "labels" / "a.txt")) == 1
    assert YOLODataset(images, 64, nc=2, verbose=False).counts["fixed"] == 1  # detection keeps the box rows
