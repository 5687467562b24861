"""DDP on CPU (gloo, 2 processes): gradients equal to one process's, ranks in step, exact resume, the launcher.

Why "equal" needs care. The trainer's loss on a rank is ``mean_loss(slice) * b`` (``b`` = per-rank batch)
times the world size W; DDP averages gradients over ranks, so the step follows
``(1/W) * sum_r grad(mean_loss(slice_r)) * B``, where one process with the whole batch B follows
``grad(mean_loss(batch)) * B``. These agree exactly when each slice's mean equals the batch mean, which
two things of the batch break: BatchNorm normalises with each rank's own statistics (SyncBatchNorm, CUDA
only, shares them), and the loss divides by the sum of assigned target scores of the rank's slice, clamped
to at least 1 (YOLOv9's normaliser). So the tests check (a) exactly, for any batch: DDP's gradient equals the
average of single-process gradients of the slices (tolerance 1e-5 relative: float32 sums in another order);
(b) exactly: with a batch whose two halves hold the same samples (equal statistics and normalisers), DDP's
gradient and loss equal one process's on the whole batch; (c) a training run on data made of one repeated
image with four large boxes, where every slice is alike and no normaliser is clamped, gives the single-process
weights to 1e-4 after 2 epochs of 2 steps (float32 differences of summation order grow a little each step)
and equal per-epoch losses to 1e-5. BatchNorm's running variance is the exception: PyTorch makes it unbiased
with n/(n-1), n = elements per rank, which at the 2 x 2 maps of stride 32 is 8/7 on a rank of 2 images vs
16/15 for 4; over these few steps (momentum 0.03) that moves it by under 2 %, the tolerance used.

With a batch whose slices differ, DDP and one process differ for real, as in the official YOLOv9: a rank
whose target-score sum is below 1 is clamped (early in training from scratch, tiny batches: its loss is then
a sum, not a mean), and unequal sums weigh each rank's mean equally instead of by its score mass.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from ddp_workers import (
    GLOBAL_BATCH,
    NO_AUGMENTATION,
    global_batch,
    scaled_loss_gradients,
    seeded_model,
    shard,
    train_args,
    uniform_dataset,
    worker,
)

from focalyolo.cfg import default_hyperparameters
from focalyolo.cli import main
from focalyolo.engine.launch import process_count, torchrun_command
from focalyolo.engine.run import resume_run
from focalyolo.engine.trainer import Trainer
from focalyolo.errors import FocalYoloError
from focalyolo.weights.checkpoint import read_checkpoint

HYP = default_hyperparameters()

WORLD = 2
pytestmark = [pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()) or sys.platform == "win32",
                                 reason="needs torch.distributed with gloo"), pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def ddp_out(tmp_path_factory, tiny_model_yaml, tiny_data_yaml) -> Path:
    """What the DDP processes saved (see :func:`ddp_workers.worker`); ``uniform/`` holds the uniform dataset."""
    out = tmp_path_factory.mktemp("ddp")
    uniform_yaml = uniform_dataset(out / "uniform")
    try:
        mp.start_processes(worker, args=(WORLD, out / "init", tiny_model_yaml, tiny_data_yaml, uniform_yaml, out),
                           nprocs=WORLD, start_method="spawn")
    except OSError as exc:  # e.g. a sandbox without process or socket rights
        pytest.skip(f"cannot start {WORLD} processes here: {exc}")
    return out


def _relative_error(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> float:
    """||got - expected|| / ||expected|| over all tensors together."""
    assert got.keys() == expected.keys()
    diff = sum(float((got[k] - expected[k]).square().sum()) for k in got)
    norm = sum(float(expected[k].square().sum()) for k in got)
    return (diff / norm) ** 0.5


@pytest.fixture(scope="module")
def ddp_gradients(ddp_out) -> list[dict]:
    return [torch.load(ddp_out / f"gradients-rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _single(model_yaml: Path, images: torch.Tensor, targets: torch.Tensor, scale: float):
    model = seeded_model(model_yaml)
    return scaled_loss_gradients(model, model.head, images, targets, scale)


def test_ddp_gradient_is_the_average_of_the_slices_gradients(ddp_gradients, tiny_model_yaml):
    (grads, loss), (grads1, loss1) = ddp_gradients[0]["generic"], ddp_gradients[1]["generic"]
    assert all(torch.equal(grads[k], grads1[k]) for k in grads)  # every rank steps with the same gradient
    images, targets = global_batch(duplicated=False)
    slices = [_single(tiny_model_yaml, *shard(images, targets, r, WORLD), WORLD) for r in range(WORLD)]
    average = {k: sum(g[k] for g, _ in slices) / WORLD for k in grads}
    assert _relative_error(grads, average) < 1e-5
    assert [loss, loss1] == pytest.approx([s[1] for s in slices], rel=1e-5)


def test_ddp_gradient_equals_one_process_on_the_whole_batch(ddp_gradients, tiny_model_yaml):
    grads, loss = ddp_gradients[0]["duplicated"]
    whole, whole_loss = _single(tiny_model_yaml, *global_batch(duplicated=True), 1.0)
    # the whole batch's loss is W x each rank's (mean x B vs mean x B/W): the normalisers are not clamped
    assert whole_loss == pytest.approx(WORLD * loss, rel=1e-5)
    assert _relative_error(grads, whole) < 1e-5


def test_ranks_hold_identical_weights(ddp_out):
    for run in ("full", "resumed"):
        rank0, rank1 = (torch.load(ddp_out / f"{run}-rank{r}.pt", weights_only=True) for r in range(WORLD))
        assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), run


def test_ddp_run_writes_rank0_outputs_once_and_resumes_exactly(ddp_out):
    runs = ddp_out / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["cut", "full", "uniform"]
    rows = list(csv.reader((runs / "full" / "results.csv").open()))
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert sorted(p.name for p in (runs / "full" / "weights").iterdir()) == ["best.pt", "last.pt"]
    full, resumed = (read_checkpoint(runs / name / "weights" / "last.pt") for name in ("full", "cut"))
    assert full["world_size"] == resumed["world_size"] == WORLD and resumed["epoch"] == 2
    for key, value in full["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=1e-6, msg=key)
    assert [r[0] for r in csv.reader((runs / "cut" / "results.csv").open())][1:] == ["1", "2", "3"]


def test_ddp_training_matches_one_process_with_the_same_global_batch(ddp_out, tiny_model_yaml, tmp_path):
    args = train_args(tmp_path, tiny_model_yaml, ddp_out / "uniform" / "data.yaml", "single", epochs=2,
                      nbs=8, warmup_epochs=0.5, **NO_AUGMENTATION)
    single = Trainer(args).train()
    ddp = ddp_out / "runs" / "uniform"
    expected, got = (read_checkpoint(run / "weights" / "last.pt")["model"] for run in (single, ddp))
    for key, value in expected.items():
        if key.endswith("running_var"):  # unbiased with n/(n-1), n = elements per rank (see above)
            torch.testing.assert_close(got[key], value, rtol=2e-2, atol=0, msg=key)
        elif value.is_floating_point():
            torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-4, msg=key)
    losses = [[float(v) for row in list(csv.reader((run / "results.csv").open()))[1:] for v in row[1:4]]
              for run in (single, ddp)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def test_cli_launches_torchrun_and_only_rank0_writes(tiny_model_yaml, tiny_data_yaml, tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    project = tmp_path / "runs"
    code = main(["train", "--model", str(tiny_model_yaml), "--data", str(tiny_data_yaml), "--epochs", "2",
                 "--imgsz", "64", "--batch", str(GLOBAL_BATCH), "--workers", "0", "--device", "cpu",
                 "--processes", str(WORLD), "--no-val", "--no-plots", "--project", str(project)])
    assert code == 0
    assert [p.name for p in project.iterdir()] == ["exp"]
    run = project / "exp"
    events = [p.name for p in run.glob("events.out.tfevents.*")]  # TensorBoard's, from rank 0 alone
    assert len(events) == (importlib.util.find_spec("tensorboard") is not None)
    assert sorted(p.name for p in run.iterdir() if p.name not in events) == ["args.yaml", "results.csv", "weights"]
    assert [r[0] for r in csv.reader((run / "results.csv").open())] == ["epoch", "1", "2"]
    assert sorted(p.name for p in (run / "weights").iterdir()) == ["best.pt", "last.pt"]
    assert read_checkpoint(run / "weights" / "last.pt")["world_size"] == WORLD
    saved = resume_run(run / "weights" / "last.pt").saved_world_size
    assert process_count("", None, saved) == WORLD  # --resume relaunches 2 processes


def test_process_count_and_torchrun_command(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert process_count("0,1,2,3", None) == 4 and process_count("2,3", None) == 2 and process_count("0", None) == 1
    assert process_count("cpu", 3) == 3 and process_count("", 2) == 2 and process_count("", None) == 1
    for device, processes in (("0,1", 3), ("", 5), ("cpu", 0)):
        with pytest.raises(FocalYoloError, match="--processes"):
            process_count(device, processes)
    command = torchrun_command(["train", "--device", "0,1"], 2)
    assert command[1:] == ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
                           "-m", "focalyolo", "train", "--device", "0,1"]


def test_select_device_maps_local_rank_to_the_listed_gpus(monkeypatch):
    from focalyolo.utils.torch_utils import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert select_device("2,3") == torch.device("cuda", 3) and select_device("") == torch.device("cuda", 1)
    with pytest.raises(FocalYoloError, match="process 1 has no GPU"):
        select_device("2")


def test_train_flags_are_not_taken_by_torchrun():
    """torchrun's parser reads abbreviations of its own options anywhere on the line, so no ``focalyolo train``
    flag may be a prefix of one (``--nproc`` would be read as ``--nproc_per_node``)."""
    from torch.distributed.run import get_args_parser

    from focalyolo.cli import build_parser

    theirs = [s for action in get_args_parser()._actions for s in action.option_strings if s.startswith("--")]
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    ours = [s for action in train._actions for s in action.option_strings if s != "--help"]
    assert not [(o, t) for o in ours for t in theirs if t.startswith(o)]


def test_batch_must_split_evenly_and_gpus_must_exist(tiny_model_yaml, capsys, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main(["train", "--model", str(tiny_model_yaml), "--device", "cpu", "--processes", "2", "--batch", "5"]) == 2
    assert "--batch 5 must be a positive multiple of the 2 training processes" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["train", "--model", str(tiny_model_yaml), "--device", "0,1"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_every_parameter_gets_a_gradient_so_ddp_needs_no_unused_parameter_search():
    """Both PGI branches (and the focal block) are trained at every step. (All packaged configs pass this; the
    test keeps the smallest dual-head focal one.)"""
    from focalyolo.loss import DetectionLoss
    from focalyolo.models import build_model

    torch.manual_seed(0)
    model = build_model("yolov9-t-focal", nc=3).train()
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.6, 0.6], [1, 2, 0.4, 0.4, 0.5, 0.7]])
    loss, _ = DetectionLoss(model.head, HYP)(model(torch.rand(2, 3, 64, 64)), targets)
    loss.backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
