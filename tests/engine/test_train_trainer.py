"""Training engine: runs end to end, resumes exactly after an interruption, survives bad data, safe checkpoints."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import pytest
import torch
import yaml

from focalyolo.cfg import TrainConfig
from focalyolo.data import generate_synthetic
from focalyolo.engine.run import resolve_run, resume_run
from focalyolo.engine.trainer import Trainer
from focalyolo.errors import FocalYoloError

CSV_COLUMNS = [
    "epoch", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)",
    "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss",
    "lr/pg0", "lr/pg1", "lr/pg2",
]
TINY_MODEL = {
    "nc": 5, "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "ADown", [16]],
                 [-1, 1, "ADown", [16]], [-1, 1, "FocalModulationBlock", [16]], [-1, 1, "ADown", [16]]],
    "head": [[2, 1, "Conv", [16, 3, 1]], [[2, 4, 5, 6, 4, 5], 1, "DualDDetect", ["nc"]]],
}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("synthetic"), n_train=16, n_val=8, imgsz=64, seed=3)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny-dual-focal.yaml"
    path.write_text(yaml.safe_dump(TINY_MODEL))
    return path


def tiny_args(tmp_path: Path, model: Path, data: Path, **kw) -> TrainConfig:
    options = dict(model=str(model), data=str(data), epochs=2, imgsz=64, batch=8, workers=0, device="cpu",
                   project=str(tmp_path / "runs"), name="exp", plots=False, verbose=False, close_mosaic=1,
                   nbs=16, warmup_epochs=0.5)
    options.update(kw)
    return TrainConfig(**options)


def test_run_writes_results_csv_and_loadable_checkpoints(tmp_path, tiny_model, tiny_data):
    save_dir = Trainer(tiny_args(tmp_path, tiny_model, tiny_data, plots=True)).train()
    rows = list(csv.reader((save_dir / "results.csv").open()))
    assert rows[0] == CSV_COLUMNS and [r[0] for r in rows[1:]] == ["1", "2"]
    assert all(v != "" for v in rows[1])
    for name in ("args.yaml", "results.png", "labels.jpg", "train_batch0.jpg", "PR_curve.png", "confusion_matrix.png"):
        assert (save_dir / name).is_file(), name
    checkpoints = {p.name: torch.load(p, map_location="cpu", weights_only=True)
                   for p in (save_dir / "weights").glob("*.pt")}
    assert set(checkpoints) == {"best.pt", "last.pt"} and checkpoints["last.pt"]["epoch"] == 1
    for data in checkpoints.values():
        assert data["names"][0] == "circle"
    last, best = checkpoints["last.pt"], checkpoints["best.pt"]
    assert last["ema"] is not None and last["optimizer"] is not None  # everything to resume
    assert best["optimizer"] is None and best["ema"] is None  # inference weights only: the EMA as the model
    assert best["train_args"]["imgsz"] == 64


def test_val_interval_scores_every_nth_and_the_last_epoch(tmp_path, tiny_model, tiny_data):
    save_dir = Trainer(tiny_args(tmp_path, tiny_model, tiny_data, epochs=3, val_interval=2)).train()
    rows = list(csv.DictReader((save_dir / "results.csv").open()))
    scored = [row["epoch"] for row in rows if row["metrics/mAP50(B)"]]
    assert scored == ["2", "3"] and all(row["train/box_loss"] for row in rows)
    best = torch.load(save_dir / "weights" / "best.pt", map_location="cpu", weights_only=True)
    assert best["epoch"] in (1, 2)  # chosen among the scored epochs only
    with pytest.raises(FocalYoloError, match="val_interval"):
        Trainer(tiny_args(tmp_path, tiny_model, tiny_data, val_interval=0))


def test_defaults_depend_on_the_data() -> None:
    """No flags on the built-in data: a short CPU run that learns; on user data: YOLOv9's recipe. Explicit
    values always win."""
    quick = resolve_run(TrainConfig()).cfg
    assert (quick.imgsz, quick.epochs, quick.batch, quick.optimizer, quick.hyp) == (160, 10, 8, "AdamW", "cpu-short")
    full = resolve_run(TrainConfig(data="data.yaml")).cfg
    assert (full.imgsz, full.epochs, full.batch, full.optimizer, full.hyp) == (640, 100, 16, "SGD", "scratch-high")
    mine = TrainConfig(batch=32, optimizer="SGD", hyp="scratch-high")
    assert (mine.batch, mine.optimizer, mine.hyp) == (32, "SGD", "scratch-high")


def test_imgsz_is_rounded_up_to_the_stride(tmp_path, tiny_model, tiny_data, caplog):
    trainer = Trainer(tiny_args(tmp_path, tiny_model, tiny_data, imgsz=50))
    assert trainer.cfg.imgsz == 64 and trainer.train_set.imgsz == 64
    assert "imgsz 50 is not a multiple of the model's stride 32: using 64" in caplog.text


def test_the_run_is_resolved_once_and_the_given_config_is_left_alone(tmp_path, tiny_model, tiny_data, monkeypatch):
    """The trainer carries the used size in its resolved run; a checkpoint that starts or resumes a run is read
    once before training (not again by the launcher or the trainer)."""
    given = tiny_args(tmp_path, tiny_model, tiny_data, imgsz=50, epochs=1, val=False)
    trainer = Trainer(given)
    assert given.imgsz == 50 and trainer.cfg.imgsz == trainer.run.imgsz == 64
    last = trainer.train() / "weights" / "last.pt"
    assert torch.load(last, weights_only=True)["train_args"]["imgsz"] == 64
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a[0]) or real_load(*a, **k))
    started = resolve_run(tiny_args(tmp_path, "gelan-t", tiny_data, weights=str(last), name="from-weights"))
    assert (started.task, started.weights, len(reads)) == ("detect", str(last), 1)
    Trainer(started)
    assert len(reads) == 1
    resumed = resume_run(last, verbose=False)
    assert (resumed.model_config, resumed.saved_world_size) == (resumed.resume_state["model_yaml"], 1)
    assert len(reads) == 2 and resumed.cfg.imgsz == 64


def _final_weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt, as in a terminal. A job that a non-interactive shell starts in the background
    (a CI script, ``nohup ... &``) inherits SIGINT ignored, and Python then installs no handler for it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, tiny_model, tiny_data, ctrl_c_raises, workers):
    """Also with two persistent workers (and close_mosaic in the last epoch): each sample is a function of the
    seed, its epoch and its index, whichever process builds it and wherever the run restarted."""
    reference = Trainer(tiny_args(tmp_path, tiny_model, tiny_data, name="ref", epochs=3, workers=workers)).train()

    def interrupt(trainer: Trainer, step: int) -> None:
        if step == 3:  # second epoch (2 steps per epoch), mid-epoch
            os.kill(os.getpid(), signal.SIGINT)

    cut = Trainer(tiny_args(tmp_path, tiny_model, tiny_data, name="cut", epochs=3, workers=workers), on_step=interrupt)
    assert cut.train_loader.num_workers == workers and cut.train_loader.persistent_workers == (workers > 0)
    with pytest.raises(KeyboardInterrupt):
        cut.train()
    last = tmp_path / "runs" / "cut" / "weights" / "last.pt"
    assert torch.load(last, weights_only=True)["epoch"] == 0
    resumed = Trainer(resume_run(last, verbose=False)).train()
    assert resumed == last.parent.parent
    expected, got = _final_weights(reference / "weights" / "last.pt"), _final_weights(last)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.allclose(expected[key].float(), got[key].float(), atol=1e-6), key
    rows = list(csv.reader((resumed / "results.csv").open()))
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]


def test_close_mosaic_turns_mosaic_off_in_the_last_epochs_with_persistent_workers(tmp_path, tiny_model, tiny_data):
    """epochs 4, close_mosaic 2: mosaics in epochs 1-2, letterboxed images in 3-4, though the workers started in
    epoch 1 persist. At imgsz 32 a letterboxed 64 px image has gain 0.5; a mosaic's ratio_pad is the identity. The
    epochs' batches are started the way the trainer starts them (the next one during validation)."""
    trainer = Trainer(tiny_args(tmp_path, tiny_model, tiny_data, epochs=4, close_mosaic=2, imgsz=32, workers=2,
                                mosaic=1.0, cache="ram"))
    assert trainer.train_loader.persistent_workers and len(trainer.train_set.image_cache.entries) == 16
    pads = []
    for epoch in range(4):
        pads.append({pad for batch in trainer.epoch_batches(epoch) for pad in batch["ratio_pads"]})
        trainer.start_batches(epoch + 1)
    assert pads == [{((1.0, 1.0), (0.0, 0.0))}] * 2 + [{((0.5, 0.5), (0.0, 0.0))}] * 2


def test_bad_images_and_labels_are_reported_and_training_completes(tmp_path, tiny_model, tiny_data, caplog):
    root = tmp_path / "bad"
    data_yaml = generate_synthetic(root, n_train=12, n_val=4, imgsz=64, seed=5)
    train_images = sorted((root / "images" / "train").iterdir())
    train_images[0].write_bytes(b"")                                   # zero-byte image
    train_images[1].write_bytes(train_images[1].read_bytes()[:100])    # truncated JPEG
    label = root / "labels" / "train" / f"{train_images[2].stem}.txt"
    label.write_text(label.read_text() + "99 0.5 0.5 0.1 0.1\n0 nan 0.5 0.1 0.1\n1 0.5 0.5 -0.2 0.1\n")
    trainer = Trainer(tiny_args(tmp_path, tiny_model, data_yaml, epochs=1, val=False))
    trainer.train()
    reported = {Path(p).name: reason for p, reason in trainer.train_set.report}
    assert train_images[0].name in reported and train_images[1].name in reported
    assert label.name in reported or train_images[2].name in reported
    assert len(trainer.train_set) == 10
    assert (trainer.save_dir / "weights" / "last.pt").is_file()


def test_missing_dataset_is_one_clear_error(tmp_path, tiny_model):
    from focalyolo.cli import main

    code = main(["train", "--model", str(tiny_model), "--data", str(tmp_path / "nope.yaml"),
                 "--project", str(tmp_path / "runs")])
    assert code == 2


def test_non_finite_loss_skips_the_step_and_a_run_of_them_stops(tmp_path, tiny_model, tiny_data, caplog):
    from focalyolo.errors import FocalYoloError

    trainer = Trainer(tiny_args(tmp_path, tiny_model, tiny_data, epochs=1, val=False))
    real_loss, calls = trainer.loss_fn, {"n": 0}

    def sometimes_nan(preds, targets):
        loss, items = real_loss(preds, targets)
        calls["n"] += 1
        return (loss * float("nan"), items) if calls["n"] == 1 else (loss, items)

    trainer.loss_fn = sometimes_nan
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    stats = trainer.train_epoch(0)
    assert stats.skipped == 1 and stats.steps == 2
    assert "non-finite loss" in caplog.text
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())

    trainer.loss_fn = lambda preds, targets: (real_loss(preds, targets)[0] * float("inf"), torch.zeros(3))
    with pytest.raises(FocalYoloError, match="diverged"):
        for epoch in range(1, 10):
            trainer.train_epoch(epoch)
