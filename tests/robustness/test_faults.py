"""Faults: SIGKILL while a checkpoint is written or while training, and a full disk, never cost the last good state."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from focalyolo.cli import main
from focalyolo.errors import CheckpointError
from focalyolo.weights.checkpoint import read_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
SIZE = 1_000_000  # float32 values per checkpoint: a 4 MB write, so most kills land inside one
WRITER = """
import sys, torch
from focalyolo.weights.checkpoint import save_checkpoint
target, size, version = sys.argv[1], int(sys.argv[2]), 0
while True:
    version += 1
    save_checkpoint({"version": version, "model": {"w": torch.full((size,), float(version))}}, target)
    print(version, flush=True)
"""


def _start_writer(target: Path, size: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(size)], stdout=subprocess.PIPE, text=True)


def test_sigkill_during_checkpoint_writes_keeps_a_loadable_checkpoint(tmp_path):
    rng = np.random.default_rng()
    targets = [tmp_path / f"w{i}" / "last.pt" for i in range(2)]
    writers = [_start_writer(target, SIZE) for target in targets]
    for target, writer in zip(targets, writers):
        first = int(writer.stdout.readline())  # one checkpoint is complete
        delay = rng.uniform(0, 0.5)
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        done = int(([str(first)] + writer.stdout.read().split())[-1])
        data = read_checkpoint(target)  # whatever the moment of the kill, the target is a whole checkpoint
        assert data["version"] in (done, done + 1), (delay, done, data["version"])  # +1: killed before print
        assert torch.equal(data["model"]["w"], torch.full((SIZE,), float(data["version"]))), delay
        leftovers = {p.name for p in target.parent.iterdir()} - {"last.pt"}
        assert all(name.startswith(".last.pt.") and name.endswith(".tmp") for name in leftovers), leftovers
        save_checkpoint({"version": 0, "model": {}}, target)  # a stale temporary file does not block the next save
        assert read_checkpoint(target)["version"] == 0


def _train_command(model_yaml: Path, data_yaml: Path, project: Path, name: str) -> list[str]:
    return ["train", "--model", str(model_yaml), "--data", str(data_yaml), "--epochs", "6", "--imgsz", "64",
            "--batch", "8", "--workers", "0", "--device", "cpu", "--no-val", "--no-plots", "--close-mosaic", "1",
            "--project", str(project), "--name", name]


def test_sigkill_mid_training_then_resume_gives_the_uninterrupted_weights(tiny_model_yaml, tiny_data_yaml, tmp_path):
    assert main(_train_command(tiny_model_yaml, tiny_data_yaml, tmp_path, "reference")) == 0
    run = tmp_path / "killed"
    last = run / "weights" / "last.pt"
    process = subprocess.Popen([sys.executable, "-m", "focalyolo", *_train_command(tiny_model_yaml, tiny_data_yaml,
                                                                                  tmp_path, "killed")])
    try:
        while not last.exists():  # the first epoch's checkpoint
            assert process.poll() is None, "training ended before it could be killed"
            time.sleep(0.02)
        epoch_time = last.stat().st_mtime - (run / "args.yaml").stat().st_mtime  # args.yaml: training starts
        delay = float(np.random.default_rng().uniform(0, 0.8)) * epoch_time
        time.sleep(delay)  # a random step of the second epoch
        assert process.poll() is None, f"training finished within {delay:.2f} s: nothing to resume"
    finally:
        process.kill()
        process.wait()
    killed_at = read_checkpoint(last)["epoch"]
    resumed = subprocess.run([sys.executable, "-m", "focalyolo", "train", "--resume", str(last)], capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    expected, got = read_checkpoint(tmp_path / "reference" / "weights" / "last.pt"), read_checkpoint(last)
    assert got["epoch"] == expected["epoch"] == 5, killed_at
    for part in ("model", "ema"):
        for key, value in expected[part].items():
            torch.testing.assert_close(got[part][key], value, rtol=0, atol=1e-6,
                                       msg=f"{part}.{key} (killed {delay:.2f} s after epoch {killed_at + 1})")


def _fail_writes_after(limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``torch.save`` write ``limit`` bytes, then fail as a full disk does."""

    def save(obj, handle, *args, **kwargs):
        handle.write(b"\0" * limit)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save)


def _assert_disk_full_keeps_old(target: Path, new: dict, old_version: int) -> None:
    with pytest.raises(CheckpointError, match="could not write checkpoint \\(No space left on device\\); the "
                                              "previous file is unchanged"):
        save_checkpoint(new, target)
    assert read_checkpoint(target)["version"] == old_version
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # the partial temporary file is gone


def test_disk_full_while_saving_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = save_checkpoint({"version": 1, "model": {"w": torch.ones(10)}}, tmp_path / "last.pt")
    _fail_writes_after(1000, monkeypatch)
    _assert_disk_full_keeps_old(target, {"version": 2, "model": {"w": torch.zeros(10)}}, 1)


def test_disk_full_on_a_real_small_filesystem(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        target = save_checkpoint({"version": 1, "model": {"w": torch.ones(1000)}}, mount / "last.pt")
        _assert_disk_full_keeps_old(target, {"version": 2, "model": {"w": torch.zeros(1_000_000)}}, 1)  # 4 MB
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_during_training_stops_with_one_error_line_and_keeps_last_pt(tiny_model_yaml, tiny_data_yaml,
                                                                               tmp_path, monkeypatch, capsys):
    real_save, calls = torch.save, []

    def save_once_then_fail(obj, handle, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # last.pt of epoch 1
            return real_save(obj, handle, *args, **kwargs)
        handle.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save_once_then_fail)
    command = _train_command(tiny_model_yaml, tiny_data_yaml, tmp_path, "full")
    command[command.index("--epochs") + 1] = "1"
    assert main(command) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "best.pt: could not write checkpoint (No space left on device)" in errors[0]
    weights = tmp_path / "full" / "weights"
    assert read_checkpoint(weights / "last.pt")["epoch"] == 0
    assert [p.name for p in weights.iterdir()] == ["last.pt"]
