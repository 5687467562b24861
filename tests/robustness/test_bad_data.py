"""Torture suite for bad input: each case is skipped and reported, fixed and reported, read correctly, or one
clear error; never a crash, never a silent loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from bad_data import (
    CASE_NAMES,
    NC,
    Case,
    checkpoint_other_nc,
    data_yaml_missing_val,
    make_bad_dataset,
    model_yaml_bad_from,
)

from focalyolo import YOLO, load_model
from focalyolo.cfg import TrainConfig
from focalyolo.cli import main
from focalyolo.data import YOLODataset, load_data_config
from focalyolo.engine.trainer import Trainer
from focalyolo.errors import CheckpointError, FocalYoloError
from focalyolo.weights.checkpoint import read_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> tuple[Path, dict[str, Case], YOLODataset]:
    """The bad dataset's YAML, its cases by name, and its train split scanned into a dataset."""
    data_yaml, cases = make_bad_dataset(tmp_path_factory.mktemp("bad"))
    dataset = YOLODataset(load_data_config(data_yaml).train, imgsz=64, nc=NC, verbose=False)
    return data_yaml, {c.name: c for c in cases}, dataset


def _reasons(dataset: YOLODataset, path: Path) -> list[str]:
    return [reason for p, reason in dataset.report if p == str(path)]


def _rgb(dataset: YOLODataset, image: Path) -> np.ndarray:
    """The loaded (letterboxed, 64 x 64) sample of ``image`` as (H, W, 3) int RGB."""
    return dataset[dataset.im_files.index(str(image))]["img"].permute(1, 2, 0).numpy().astype(int)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_case_has_its_documented_outcome(bad, name):
    _, cases, dataset = bad
    assert set(cases) == set(CASE_NAMES)
    case = cases[name]
    labels = dict(zip(dataset.im_files, dataset.labels))
    assert (str(case.image) in labels) == case.kept
    if case.reported is None:  # read as it is: nothing to report about this image or its label file
        label_file = case.image.parents[2] / "labels" / "train" / f"{case.image.stem}.txt"
        assert not _reasons(dataset, case.image) and not _reasons(dataset, label_file)
    else:
        reasons = " | ".join(_reasons(dataset, case.reported))
        assert all(phrase in reasons for phrase in case.reasons), reasons
    if case.boxes is not None:
        assert len(labels[str(case.image)]) == case.boxes


def test_odd_images_decode_upright_in_colour(bad):
    _, cases, dataset = bad
    shapes = {Path(f).stem: tuple(shape) for f, shape in zip(dataset.im_files, dataset.shapes)}
    for name in ("png_named_jpg", "cmyk_jpeg", "non_ascii_path", "png_16bit", "grayscale"):
        assert shapes[cases[name].image.stem] == (48, 64), name
    for name in ("png_named_jpg", "cmyk_jpeg", "non_ascii_path"):  # left half red, right half blue (RGB)
        img = _rgb(dataset, cases[name].image)
        assert img[32, 10, 0] > 180 and img[32, 10, 2] < 80 and img[32, 54, 2] > 180, name
    gray = _rgb(dataset, cases["grayscale"].image)
    assert (gray[..., 0] == gray[..., 1]).all() and gray[32, 10, 0] > gray[32, 54, 0]
    deep = _rgb(dataset, cases["png_16bit"].image)[8:56]  # 16-bit 0..65535 scaled to 8 bits (padding rows cut)
    assert deep.max() >= 250 and deep.min() <= 5
    assert shapes["exif_rotated"] == (64, 48)  # EXIF orientation 6: shown rotated 90 degrees clockwise
    img = _rgb(dataset, cases["exif_rotated"].image)
    assert img[10, 32, 0] > 180 and img[54, 32, 2] > 180  # the stored left (red) half is now on top


def test_training_on_all_bad_cases_completes_and_reports_each_bad_path(bad, tiny_model_yaml, tmp_path, focalyolo_log):
    data_yaml, cases, _ = bad
    code = main(["train", "--model", str(tiny_model_yaml), "--data", str(data_yaml), "--epochs", "1", "--imgsz", "64",
                 "--batch", "4", "--workers", "0", "--device", "cpu", "--no-val", "--project", str(tmp_path / "runs")])
    assert code == 0
    log = "\n".join(record.getMessage() for record in focalyolo_log)
    for case in cases.values():
        if case.reported is not None:
            assert str(case.reported) in log, case.name
    assert "24 images, 21 kept" in log and "2 corrupt images and 1 unreadable label files skipped" in log
    last = read_checkpoint(tmp_path / "runs" / "exp" / "weights" / "last.pt")
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())
    assert (tmp_path / "runs" / "exp" / "train_batch0.jpg").is_file()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_data_yaml_with_a_missing_val_path_is_one_clear_error(bad, tiny_model_yaml, tmp_path, capsys):
    data_yaml = data_yaml_missing_val(bad[0])
    code = main(["train", "--model", str(tiny_model_yaml), "--data", str(data_yaml), "--device", "cpu",
                 "--project", str(tmp_path / "runs")])
    assert code == 2
    err = _one_line_error(capsys)
    assert "'val' path not found" in err and "no_such_split" in err and str(data_yaml) in err
    assert not (tmp_path / "runs").exists()


def test_model_yaml_with_a_bad_from_index_is_one_clear_error(tiny_model_yaml, tiny_data_yaml, tmp_path, capsys):
    model_yaml = model_yaml_bad_from(yaml.safe_load(tiny_model_yaml.read_text()), tmp_path / "bad-from.yaml")
    code = main(["train", "--model", str(model_yaml), "--data", str(tiny_data_yaml), "--device", "cpu",
                 "--project", str(tmp_path / "runs")])
    assert code == 2
    err = _one_line_error(capsys)
    assert "bad-from.yaml" in err and "bad 'from' index 99" in err


def test_weights_of_another_class_count_transfer_all_but_the_class_outputs(tiny_model_yaml, tiny_data_yaml, tmp_path,
                                                                           focalyolo_log):
    weights = checkpoint_other_nc(tiny_model_yaml, 3, tmp_path / "nc3.pt")
    source = read_checkpoint(weights)["model"]
    args = TrainConfig(model=str(tiny_model_yaml), data=str(tiny_data_yaml), weights=str(weights), imgsz=64, batch=4,
                     workers=0, device="cpu", project=str(tmp_path / "runs"), plots=False, val=False)
    model = Trainer(args).model.state_dict()
    differ = sorted(k for k, v in source.items() if model[k].shape != v.shape)
    # only the last conv of the class branches depends on nc: cv3 (auxiliary head) and cv5 (main head)
    assert len(differ) == 12 and all(k.split(".")[2] in ("cv3", "cv5") and ".2." in k for k in differ)
    for key, value in source.items():
        if key not in differ:
            assert torch.equal(model[key], value), key
    line = next(r.getMessage() for r in focalyolo_log if r.getMessage().startswith("weights:"))
    assert f"transferred {len(source) - len(differ)}/{len(model)} tensors from {weights}" in line
    assert f"{len(differ)} skipped (shape differs" in line and differ[0] in line


def test_val_and_load_of_another_class_count_are_one_clear_error(tiny_model_yaml, tiny_data_yaml, tmp_path, capsys):
    weights = checkpoint_other_nc(tiny_model_yaml, 3, tmp_path / "nc3.pt")
    code = main(["val", "--model", str(weights), "--data", str(tiny_data_yaml), "--device", "cpu",
                 "--project", str(tmp_path / "runs")])
    assert code == 2
    assert "predicts 3 classes but" in _one_line_error(capsys)
    with pytest.raises(FocalYoloError, match="predicts 3 classes but .* has 5"):
        YOLO(str(weights)).val(data=str(tiny_data_yaml), imgsz=64, workers=0)
    relabelled = save_checkpoint({**read_checkpoint(weights), "names": list("abcde")}, tmp_path / "relabelled.pt")
    with pytest.raises(CheckpointError, match=r"relabelled.pt: checkpoint weights do not fit its model config \(5 cl"):
        load_model(relabelled)
    assert load_model(weights).nc == 3
