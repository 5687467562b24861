"""Ctrl-C and SIGTERM during training: one line saying what is left (the resume command, or that no weights were
saved yet), exit status 130 or 143, no traceback."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from focalyolo.cli import main
from focalyolo.engine import trainer as trainer_module

pytestmark = pytest.mark.usefixtures("one_thread")


def _train_command(model_yaml: Path, data_yaml: Path, project: Path, epochs: int) -> list[str]:
    """2 steps per epoch (16 images, batch 8), no validation."""
    return ["train", "--model", str(model_yaml), "--data", str(data_yaml), "--epochs", str(epochs), "--imgsz", "64",
            "--batch", "8", "--workers", "0", "--device", "cpu", "--no-val", "--no-plots",
            "--project", str(project), "--name", "cut"]


def _interrupt_at(step: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI's trainer raise KeyboardInterrupt (what Ctrl-C raises) after training step ``step``."""

    def on_step(trainer: trainer_module.Trainer, ni: int) -> None:
        if ni == step:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "Trainer", functools.partial(trainer_module.Trainer, on_step=on_step))


def _interrupt_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "interrupted" in line or "Traceback" in line]


def test_ctrl_c_in_the_first_epoch_says_no_weights_were_saved(tiny_model_yaml, tiny_data_yaml, tmp_path, monkeypatch,
                                                              capsys):
    _interrupt_at(0, monkeypatch)
    assert main(_train_command(tiny_model_yaml, tiny_data_yaml, tmp_path, epochs=2)) == 130
    run = tmp_path / "cut"
    assert _interrupt_lines(capsys.readouterr().err) == [
        f"focalyolo train: interrupted: no weights were saved yet ({run})"]
    assert not (run / "weights" / "last.pt").exists()


def test_ctrl_c_after_an_epoch_gives_the_resume_command(tiny_model_yaml, tiny_data_yaml, tmp_path, monkeypatch,
                                                        capsys):
    _interrupt_at(2, monkeypatch)  # the first step of the second epoch: the first one's last.pt is there
    assert main(_train_command(tiny_model_yaml, tiny_data_yaml, tmp_path, epochs=2)) == 130
    last = tmp_path / "cut" / "weights" / "last.pt"
    assert _interrupt_lines(capsys.readouterr().err) == [
        f"focalyolo train: interrupted: resume with focalyolo train --resume {last}"]
    assert last.is_file()


def test_sigterm_takes_the_same_path_with_status_143(tiny_model_yaml, tiny_data_yaml, tmp_path):
    last = tmp_path / "cut" / "weights" / "last.pt"
    process = subprocess.Popen([sys.executable, "-m", "focalyolo",
                                *_train_command(tiny_model_yaml, tiny_data_yaml, tmp_path, epochs=1000)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not last.exists():  # the first epoch's checkpoint: training is under way
            assert process.poll() is None, process.communicate()[1][-2000:]
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 143, err[-2000:]
    assert _interrupt_lines(err) == [f"focalyolo train: interrupted: resume with focalyolo train --resume {last}"]
