"""Process bodies for the DDP tests (started with torch.multiprocessing spawn, so they live in an importable module).

Each worker joins a gloo process group through a shared file, does its job, saves what the parent test
compares under ``out_dir`` and leaves the group.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from focalyolo.cfg import TrainConfig, default_hyperparameters
from focalyolo.engine.run import resume_run
from focalyolo.engine.trainer import Trainer
from focalyolo.loss import DetectionLoss
from focalyolo.models import Model, build_model

HYP = default_hyperparameters()

GLOBAL_BATCH = 4
NO_AUGMENTATION = {k: 0.0 for k in ("hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear",
                                     "perspective", "flipud", "fliplr", "mosaic", "mixup")}


class Interrupted(Exception):
    """Raised by every rank at the same step to cut a run short (as a crash would, after a checkpoint)."""


def join_group(rank: int, world_size: int, init_file: Path) -> None:
    """Join the gloo group as torchrun would set it up (the Trainer reads RANK/LOCAL_RANK/WORLD_SIZE)."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)


def seeded_model(model_yaml: Path) -> Model:
    """The tiny model with the same initial weights in every process, in train mode."""
    torch.manual_seed(0)
    return build_model(str(model_yaml)).train()


def global_batch(duplicated: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of ``GLOBAL_BATCH`` noise images with four large boxes each: (B, 3, 64, 64), (4B, 6) targets.

    The boxes are large so that, even for an untrained model, each half-batch's sum of assigned target
    scores (the loss normaliser, clamped to at least 1) exceeds 1. ``duplicated``: images 2 and 3 repeat
    images 0 and 1 with their boxes, so each half's BatchNorm statistics and loss normaliser are exactly
    those of the whole batch (halved).
    """
    g = torch.Generator().manual_seed(1)
    images = torch.rand(GLOBAL_BATCH, 3, 64, 64, generator=g)
    n = 4 * GLOBAL_BATCH
    boxes = torch.cat((torch.rand(n, 2, generator=g) * 0.4 + 0.3, torch.rand(n, 2, generator=g) * 0.4 + 0.5), 1)
    targets = torch.cat((torch.arange(GLOBAL_BATCH).repeat_interleave(4)[:, None].float(),
                         torch.randint(0, 5, (n, 1), generator=g).float(), boxes), 1)
    if duplicated:
        half = GLOBAL_BATCH // 2
        images = torch.cat((images[:half], images[:half]))
        first = targets[targets[:, 0] < half]
        targets = torch.cat((first, first + torch.tensor([half, 0, 0, 0, 0, 0])))
    return images, targets


def shard(images: torch.Tensor, targets: torch.Tensor, rank: int, world_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s contiguous slice of a batch, with its targets' image indices renumbered from 0."""
    per_rank = len(images) // world_size
    first = rank * per_rank
    rows = targets[(targets[:, 0] >= first) & (targets[:, 0] < first + per_rank)].clone()
    rows[:, 0] -= first
    return images[first:first + per_rank], rows


def scaled_loss_gradients(model: torch.nn.Module, head: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor,
                          scale: float) -> tuple[dict[str, torch.Tensor], float]:
    """Gradients of ``scale`` x the detection loss (as the trainer scales it), and the unscaled loss."""
    model.zero_grad(set_to_none=True)
    loss, _ = DetectionLoss(head, HYP)(model(images), targets)
    (loss * scale).backward()
    params = model.module if isinstance(model, DistributedDataParallel) else model
    return {n: p.grad.detach().clone() for n, p in params.named_parameters() if p.requires_grad}, float(loss.detach())


def save_ddp_gradients(rank: int, world_size: int, model_yaml: Path, out_dir: Path) -> None:
    """One backward step of DDP on each kind of global batch; saves this rank's (averaged) gradients and loss."""
    model = seeded_model(model_yaml)
    ddp = DistributedDataParallel(model)
    result = {}
    for kind in ("generic", "duplicated"):
        images, targets = shard(*global_batch(kind == "duplicated"), rank, world_size)
        result[kind] = scaled_loss_gradients(ddp, model.head, images, targets, world_size)
    torch.save(result, out_dir / f"gradients-rank{rank}.pt")


def train_args(project: Path, model_yaml: Path, data_yaml: Path, name: str, **changes: Any) -> TrainConfig:
    """Tiny CPU training options shared by the DDP processes and the single-process reference."""
    options: dict[str, Any] = dict(model=str(model_yaml), data=str(data_yaml), epochs=3, imgsz=64,
                                   batch=GLOBAL_BATCH, workers=0, device="cpu", project=str(project), name=name,
                                   plots=False, val=False, verbose=False, close_mosaic=1,
                                   nbs=8, warmup_epochs=0.5)
    options.update(changes)
    return TrainConfig(**options)


def _stop_at(step: int):
    def on_step(trainer: Trainer, ni: int) -> None:
        if ni == step:
            raise Interrupted

    return on_step


def _save_parameters(trainer: Trainer, path: Path) -> None:
    torch.save({k: v.detach().clone() for k, v in trainer.model.named_parameters()}, path)


def train_under_ddp(rank: int, model_yaml: Path, data_yaml: Path, uniform_yaml: Path, out_dir: Path) -> None:
    """Train under DDP: a full run, an interrupted run and its resumption, and a run on uniform data."""
    project = out_dir / "runs"
    full = Trainer(train_args(project, model_yaml, data_yaml, "full"))
    full.train()
    _save_parameters(full, out_dir / f"full-rank{rank}.pt")
    try:  # 16 images / 4 per step = 4 steps per epoch: step 6 is in the middle of the second epoch
        Trainer(train_args(project, model_yaml, data_yaml, "cut"), on_step=_stop_at(6)).train()
    except Interrupted:
        pass
    resumed = Trainer(resume_run(project / "cut" / "weights" / "last.pt", verbose=False))
    resumed.train()
    _save_parameters(resumed, out_dir / f"resumed-rank{rank}.pt")
    uniform = train_args(project, model_yaml, uniform_yaml, "uniform", epochs=2,
                         nbs=8, warmup_epochs=0.5, **NO_AUGMENTATION)
    Trainer(uniform).train()


def worker(rank: int, world_size: int, init_file: Path, model_yaml: Path, data_yaml: Path, uniform_yaml: Path,
           out_dir: Path) -> None:
    """The body of each spawned process: the gradient step, then the training runs (one start-up for both)."""
    join_group(rank, world_size, init_file)
    try:
        save_ddp_gradients(rank, world_size, model_yaml, out_dir)
        train_under_ddp(rank, model_yaml, data_yaml, uniform_yaml, out_dir)
    finally:
        dist.destroy_process_group()


def uniform_dataset(root: Path, copies: int = 8) -> Path:
    """A dataset whose train split is ``copies`` copies of one image: every split of it into batches is alike.

    The image holds four large boxes, so that the loss normaliser of two of them (a rank's slice) exceeds
    its clamp of 1 from the first step on (see :func:`global_batch`).
    """
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    image = np.random.default_rng(0).integers(60, 120, (64, 64, 3), dtype=np.uint8)
    boxes = np.array([[0.35, 0.35, 0.6, 0.6], [0.65, 0.6, 0.6, 0.7], [0.5, 0.5, 0.9, 0.5], [0.5, 0.55, 0.5, 0.85]])
    for i, (cx, cy, w, h) in enumerate(boxes):
        x1, y1, x2, y2 = (np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) * 63).round().astype(int)
        cv2.rectangle(image, (x1, y1), (x2, y2), (60 * i, 255 - 60 * i, 200), 3)
    rows = "".join(f"{i} {cx} {cy} {w} {h}\n" for i, (cx, cy, w, h) in enumerate(boxes))
    for split, n in (("train", copies), ("val", 1)):
        for i in range(n):
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), image)
            (root / "labels" / split / f"{i}.txt").write_text(rows)
    data_yaml = root / "data.yaml"
    data_yaml.write_text("train: images/train\nval: images/val\nnames: [a, b, c, d, e]\n")
    return data_yaml
