"""What a trained checkpoint tells inference (image size, data), and CLI and API giving the same answers."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from focalyolo import YOLO
from focalyolo.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_model_yaml, tiny_data_yaml) -> Path:
    """A 2-epoch run of the tiny PGI focal model at imgsz 64 (umask 022), through the command line."""
    root = tmp_path_factory.mktemp("trained")
    old = os.umask(0o022)
    try:
        code = main(["train", "--model", str(tiny_model_yaml), "--data", str(tiny_data_yaml), "--epochs", "2",
                     "--imgsz", "64", "--batch", "4", "--workers", "0", "--device", "cpu", "--threads", "1",
                     "--no-plots", "--project", str(root / "runs")])
    finally:
        os.umask(old)
    assert code == 0
    return root / "runs" / "exp"


def test_checkpoints_are_readable_by_the_team_and_best_is_small(trained_run):
    for name in ("last.pt", "best.pt"):
        mode = stat.S_IMODE((trained_run / "weights" / name).stat().st_mode)
        assert mode == 0o644, f"{name}: {oct(mode)}"
    last, best = ((trained_run / "weights" / n).stat().st_size for n in ("last.pt", "best.pt"))
    assert best < 0.6 * last  # no optimizer state, one set of weights


def test_training_output_has_a_header_and_epoch_times(tiny_model_yaml, tiny_data_yaml, tmp_path, capsys):
    assert main(["train", "--model", str(tiny_model_yaml), "--data", str(tiny_data_yaml), "--epochs", "1",
                 "--imgsz", "64", "--batch", "8", "--workers", "0", "--device", "cpu", "--no-plots",
                 "--project", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.split()[:1] == ["epoch"])
    assert header.split() == ["epoch", "RAM", "box", "cls", "dfl", "inst", "size"]
    assert "epoch 1/1: " in out and " s training, " in out and " s validation; P " in out
    assert re.search(r"device cpu, \d+ thread\(s\)", out)


def test_val_without_imgsz_or_data_uses_the_training_run(trained_run, tiny_data_yaml, tmp_path, capsys):
    best = trained_run / "weights" / "best.pt"
    assert main(["val", "--model", str(best), "--workers", "0", "--no-plots", "--project", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "val: imgsz 64 and data " in out and "from the model's training run" in out
    assert main(["val", "--model", str(best), "--data", str(tiny_data_yaml), "--imgsz", "64", "--workers", "0",
                 "--no-plots", "--project", str(tmp_path / "b")]) == 0
    implicit = json.loads((tmp_path / "a" / "exp" / "metrics.json").read_text())
    explicit = json.loads((tmp_path / "b" / "exp" / "metrics.json").read_text())
    assert implicit["coco/AP50-95"] == explicit["coco/AP50-95"]
    assert implicit["metrics/mAP50(B)"] == explicit["metrics/mAP50(B)"]


def test_cli_and_api_val_give_the_same_figures(trained_run, tmp_path):
    best = trained_run / "weights" / "best.pt"
    assert main(["val", "--model", str(best), "--workers", "0", "--no-plots", "--project", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "exp" / "metrics.json").read_text())
    api = YOLO(best).val(workers=0, plots=False, project=str(tmp_path / "api"))
    for key in ("metrics/mAP50(B)", "metrics/mAP50-95(B)", "coco/AP50-95", "coco/AP50", "metrics/precision(B)"):
        assert api[key] == cli[key], key


def test_cli_and_api_predict_give_the_same_boxes(trained_run, tiny_data_yaml, tmp_path, capsys):
    best = trained_run / "weights" / "best.pt"
    images = tiny_data_yaml.parent / "images" / "val"
    assert main(["predict", "--model", str(best), "--source", str(images), "--conf", "0.01", "--save-txt",
                 "--project", str(tmp_path / "cli")]) == 0
    assert "at imgsz 64" in capsys.readouterr().out  # the training size, not 640
    results = YOLO(best).predict(str(images), conf=0.01)
    assert len(results) == len(list(images.iterdir()))
    for result in results:
        label = tmp_path / "cli" / "exp" / "labels" / f"{Path(result.path).stem}.txt"
        rows = label.read_text().splitlines() if label.exists() else []
        assert rows == result.to_txt_rows(), result.path


def test_predict_with_a_config_warns_that_weights_are_random(tiny_data_yaml, tmp_path, capsys):
    images = tiny_data_yaml.parent / "images" / "val"
    assert main(["predict", "--model", "gelan-t", "--source", str(images), "--imgsz", "64", "--no-save",
                 "--project", str(tmp_path / "runs")]) == 0
    assert "gelan-t is a model config, not trained weights: the model has random weights" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing asked to be saved


@pytest.mark.parametrize("content,reason", [
    (b"hello, this is not a model\n", "it is a text file, not a PyTorch checkpoint (it starts with 'hello, this"),
    (None, "it is truncated or damaged: the zip archive ends early"),
    (b"", "the file is empty"),
])
def test_bad_checkpoint_files_are_one_full_sentence(content, reason, trained_run, tmp_path, capsys):
    path = tmp_path / "bad.pt"
    path.write_bytes(content if content is not None else (trained_run / "weights" / "best.pt").read_bytes()[:4096])
    assert main(["val", "--model", str(path), "--data", "synthetic", "--project", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and reason in err, err
    assert "convert --from-official" not in err and not (tmp_path / "runs").exists()


def test_val_of_best_pt_repeats_the_training_runs_final_figures(trained_run, tmp_path):
    """The run's final validation scores best.pt in deployment form, as ``focalyolo val`` does: same figures."""
    final = json.loads((trained_run / "metrics.json").read_text())
    assert main(["val", "--model", str(trained_run / "weights" / "best.pt"), "--workers", "0", "--no-plots",
                 "--project", str(tmp_path / "runs")]) == 0
    again = json.loads((tmp_path / "runs" / "exp" / "metrics.json").read_text())
    for key in ("coco/AP50-95", "coco/AP50", "metrics/mAP50(B)", "metrics/mAP50-95(B)"):
        assert again[key] == final[key], key
