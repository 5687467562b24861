"""``focalyolo val`` end to end, its one-line errors, and the run-folder numbering it shares with train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_val_validator import NAMES, write_dataset

from focalyolo.cli import main
from focalyolo.models import build_model
from focalyolo.utils.files import increment_path
from focalyolo.weights.checkpoint import save_checkpoint


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCALYOLO_HOME", str(tmp_path / "home"))


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A gelan-t checkpoint with random weights for the 3 test classes."""
    model = build_model("gelan-t", nc=len(NAMES))
    data = {"model_yaml": model.copy_config(), "names": NAMES, "model": model.state_dict(), "ema": None}
    return save_checkpoint(data, tmp_path / "w.pt")


@pytest.fixture
def data_yaml(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "data")
    path = tmp_path / "data" / "data.yaml"
    path.write_text("train: images/val\nval: images/val\nnames: [red, green, blue]\n")
    return path


def test_val_cli_writes_a_numbered_run(tmp_path: Path, checkpoint: Path, data_yaml: Path, capsys) -> None:
    args = ["val", "--model", str(checkpoint), "--data", str(data_yaml), "--imgsz", "64", "--batch", "4",
            "--device", "cpu", "--workers", "0", "--save-json", "--project", str(tmp_path / "runs"), "--no-plots"]
    assert main(args) == 0
    run = tmp_path / "runs" / "exp"
    metrics = json.loads((run / "metrics.json").read_text())
    assert "coco/AP50-95" in metrics and "metrics/mAP50-95(B)" in metrics
    assert (run / "predictions.json").is_file() and not (run / "PR_curve.png").exists()
    out = capsys.readouterr().out
    assert "mAP50-95" in out and "all" in out and f"results saved to {run}" in out
    assert main(args) == 0
    assert (tmp_path / "runs" / "exp2" / "metrics.json").is_file()


def test_val_cli_missing_data_is_one_line(tmp_path: Path, checkpoint: Path, capsys) -> None:
    code = main(["val", "--model", str(checkpoint), "--data", str(tmp_path / "nope.yaml"),
                 "--project", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "nope.yaml" in err and "not found" in err
    assert not (tmp_path / "runs").exists()


def test_val_cli_class_count_mismatch(tmp_path: Path, data_yaml: Path, capsys) -> None:
    model = build_model("gelan-t", nc=5)
    ckpt = save_checkpoint({"model_yaml": model.copy_config(), "names": list("abcde"), "model": model.state_dict()},
                           tmp_path / "five.pt")
    assert main(["val", "--model", str(ckpt), "--data", str(data_yaml), "--device", "cpu"]) == 2
    assert "5 classes" in capsys.readouterr().err


def test_increment_path(tmp_path: Path) -> None:
    base = tmp_path / "runs" / "exp"
    assert increment_path(base) == base and not base.exists()  # nothing created without mkdir
    assert increment_path(base, mkdir=True) == base and base.is_dir()
    assert increment_path(base, mkdir=True) == tmp_path / "runs" / "exp2"
    assert increment_path(base, mkdir=True) == tmp_path / "runs" / "exp3"
    assert increment_path(base, exist_ok=True) == base
    (tmp_path / "log.txt").write_text("")
    assert increment_path(tmp_path / "log.txt") == tmp_path / "log2.txt"
