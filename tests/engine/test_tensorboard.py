"""TensorBoard logging: the event file repeats results.csv and holds the run's plots; without tensorboard, nothing."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import pytest

from focalyolo.cfg import TrainConfig
from focalyolo.data import generate_synthetic
from focalyolo.engine.tensorboard import OFF_MESSAGE, TensorBoard
from focalyolo.engine.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_yaml(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("synthetic"), n_train=8, n_val=4, imgsz=64, seed=3)


def _train(project: Path, model_yaml: Path, data_yaml: Path, **changes) -> Path:
    options = dict(model=str(model_yaml), data=str(data_yaml), epochs=2, imgsz=64, batch=4, workers=0, device="cpu",
                   project=str(project), name="exp", plots=True, verbose=False, close_mosaic=1, nbs=8,
                   warmup_epochs=0.5)
    return Trainer(TrainConfig(**{**options, **changes})).train()


def test_event_file_repeats_results_csv_and_holds_the_plots(tmp_path, tiny_model_yaml, data_yaml):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, SCALARS, EventAccumulator

    run = _train(tmp_path, tiny_model_yaml, data_yaml)
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    events = EventAccumulator(str(run), size_guidance={SCALARS: 0, IMAGES: 0})
    events.Reload()
    header, *rows = list(csv.reader((run / "results.csv").open()))
    assert sorted(events.Tags()["scalars"]) == sorted(header[1:])
    for column, tag in enumerate(header[1:], start=1):
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == [1, 2], tag
        # float32 in the event file, 6 significant digits in the CSV
        assert [e.value for e in logged] == pytest.approx([float(r[column]) for r in rows], rel=5e-6), tag
    images = events.Tags()["images"]
    assert {"results.png", "train_batch0.jpg", "PR_curve.png"} <= set(images)
    assert {e.step for tag in images for e in events.Images(tag)} == {2}


def test_without_tensorboard_training_runs_and_writes_no_event_file(tmp_path, tiny_model_yaml, data_yaml,
                                                                    monkeypatch, focalyolo_log):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import raise ImportError
    run = _train(tmp_path, tiny_model_yaml, data_yaml, epochs=1, plots=False, val=False, verbose=True)
    assert (run / "results.csv").is_file() and (run / "weights" / "last.pt").is_file()
    assert not list(run.rglob("events.out.tfevents.*"))
    assert [r.getMessage() for r in focalyolo_log].count(OFF_MESSAGE) == 1


class _BrokenWriter:
    """A SummaryWriter whose disk went away."""

    def __init__(self):
        self.calls = 0

    def add_scalar(self, *args) -> None:
        self.calls += 1
        raise OSError("No space left on device")

    def close(self) -> None:
        raise OSError("No space left on device")


def test_a_failing_writer_warns_once_and_stops(tmp_path, focalyolo_log):
    writer = _BrokenWriter()
    board = TensorBoard(writer)
    for epoch in (1, 2):
        board.scalars({"train/box_loss": 1.0, "lr/pg0": 0.01}, epoch)
    board.images(tmp_path)
    board.close()
    warnings = [r.getMessage() for r in focalyolo_log if r.levelno == logging.WARNING]
    assert writer.calls == 1 and warnings == ["TensorBoard logging stopped: OSError: No space left on device"]
