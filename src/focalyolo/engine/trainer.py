"""Training: PGI dual-branch (or single-branch) detection training with warmup, EMA, AMP, validation and resume.

``train(TrainArgs(...))`` runs the whole job and returns the run folder. The epoch loop is
:meth:`Trainer.train_epoch`; everything else (data, optimizer, checkpoints, plots) is set up around it.
Under ``torchrun`` each process trains a slice of every batch (DistributedDataParallel); rank 0 alone
validates, plots and writes checkpoints.
"""

from __future__ import annotations

import csv
import logging
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn
import yaml
from tqdm import tqdm

from ..data import YOLODataset, build_dataloader, load_data_config, load_hyp
from ..errors import CheckpointError, FocalYoloError
from ..loss import DetectionLoss
from ..models import DetectionModel, build_model
from ..utils.files import increment_path
from ..utils.plotting import plot_images, plot_labels, plot_results
from ..utils.torch_utils import distributed_env, init_seeds, memory_text, select_device
from .checkpoint import read_checkpoint, save_checkpoint
from .ema import ModelEMA, unwrap
from .optim import build_optimizer, lr_lambda
from .validator import validate

LOGGER = logging.getLogger("focalyolo")
MAX_BAD_STEPS = 10
CSV_COLUMNS = [
    "epoch", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)",
    "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss",
    "lr/pg0", "lr/pg1", "lr/pg2",
]


@dataclass
class TrainArgs:
    """Every training option (the CLI flags and ``YOLO.train`` keywords). ``None`` picks a default that depends
    on the data: on the built-in synthetic data a short CPU run that learns in minutes (imgsz 160, 10 epochs,
    batch 8, AdamW, ``hyp.cpu-short.yaml``), on any other data YOLOv9's recipe (imgsz 640, 100 epochs, batch 16,
    SGD, ``hyp.scratch-high.yaml``)."""

    model: str = "yolov9-t-focal"
    data: str = "synthetic"
    epochs: int | None = None
    imgsz: int | None = None
    batch: int | None = None
    device: str = ""
    workers: int = 2
    hyp: str | None = None
    optimizer: str | None = None
    cos_lr: bool = False
    close_mosaic: int | None = None
    patience: int = 100
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False
    seed: int = 0
    deterministic: bool = True
    weights: str | None = None
    resume: str | None = None
    amp: bool = True
    sync_bn: bool = False
    val: bool = True
    val_interval: int = 1
    plots: bool = True
    verbose: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> "TrainArgs":
        """A copy with the data-dependent defaults filled in."""
        small = self.data == "synthetic"
        if self.val_interval < 1:
            raise FocalYoloError(f"val_interval must be a positive number of epochs, got {self.val_interval}")
        return TrainArgs(**{**asdict(self), "imgsz": self.imgsz or (160 if small else 640),
                            "epochs": self.epochs or (10 if small else 100), "batch": self.batch or (8 if small else 16),
                            "hyp": self.hyp or ("cpu-short" if small else "scratch-high"),
                            "optimizer": self.optimizer or ("AdamW" if small else "SGD")})


@dataclass
class EpochStats:
    """Means of the training losses over one epoch, and the step counts."""

    losses: torch.Tensor
    steps: int
    skipped: int


class Trainer:
    """Owns the model, data, optimizer and run folder of one training job."""

    def __init__(self, args: TrainArgs, on_step: Callable[["Trainer", int], None] | None = None):
        self.on_step = on_step
        self.resume_state: dict[str, Any] | None = None
        if args.resume:
            self.resume_state = read_checkpoint(args.resume)
            saved = dict(self.resume_state.get("train_args") or {})
            if not saved:
                raise CheckpointError(f"{args.resume}: has no training state to resume (a converted or exported model?)")
            args = TrainArgs(**{**saved, "resume": args.resume, "device": args.device or saved.get("device", "")})
        self.args = args.resolved()
        self.rank, self.local_rank, self.world_size = distributed_env()
        self.main_process = self.rank in (-1, 0)
        self.batch_per_rank = split_batch(self.args.batch, self.world_size)
        self.device = select_device(self.args.device)
        self.owns_process_group = self.world_size > 1 and not dist.is_initialized()
        if self.owns_process_group:
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        init_seeds(self.args.seed + 1 + max(self.rank, 0), self.args.deterministic)
        self.hyp = load_hyp({**load_hyp(self.args.hyp), **self.args.overrides})
        self.data = load_data_config(self.args.data)
        self.model = self._build_model()
        self.loss_fn = DetectionLoss(self.model.head, self.hyp)
        self.stride = int(self.model.stride.max())
        if self.args.imgsz % self.stride:
            size = -(-self.args.imgsz // self.stride) * self.stride
            LOGGER.warning(f"imgsz {self.args.imgsz} is not a multiple of the model's stride {self.stride}: using {size}")
            self.args.imgsz = size
        self._build_data()
        self.save_dir = self._make_save_dir()  # only once the data and model are known to be good
        self.weights_dir = self.save_dir / "weights"
        self.nominal_batch = int(self.hyp.get("nbs", 64))
        self.accumulate = max(round(self.nominal_batch / self.args.batch), 1)
        weight_decay = self.hyp["weight_decay"] * self.args.batch * self.accumulate / self.nominal_batch
        self.optimizer = build_optimizer(self.model, self.args.optimizer, self.hyp["lr0"], self.hyp["momentum"], weight_decay)
        nb = len(self.train_loader)
        warmup = max(round(self.hyp["warmup_epochs"] * nb), 100) if self.hyp["warmup_epochs"] > 0 else 0
        self.warmup_iters = min(warmup, max(self.args.epochs * nb // 2, 1))
        self.lf = lr_lambda(self.args.epochs, self.hyp["lrf"], self.args.cos_lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.ema = ModelEMA(self.model) if self.main_process else None
        self.start_epoch, self.best_fitness = 0, float("-inf")  # without validation fitness is -loss
        self.bad_steps_in_a_row = 0
        if self.resume_state:
            self._restore(self.resume_state)
        self.net = self._wrap_distributed(self.model)

    @property
    def amp(self) -> bool:
        return self.args.amp and self.device.type == "cuda"

    def _make_save_dir(self) -> Path:
        if self.args.resume:
            return Path(self.args.resume).resolve().parent.parent
        path = Path(self.args.project) / self.args.name
        if self.world_size > 1:
            names = [str(increment_path(path, self.args.exist_ok, mkdir=True)) if self.main_process else ""]
            dist.broadcast_object_list(names, src=0)
            return Path(names[0])
        return increment_path(path, self.args.exist_ok, mkdir=True)

    def _build_model(self) -> DetectionModel:
        """The model from a config, or from a checkpoint's config when ``--model`` is a .pt (then its weights too)."""
        from_checkpoint = str(self.args.model).endswith(".pt")
        source = read_checkpoint(self.args.model) if from_checkpoint else None
        model = build_model(source["model_yaml"] if source else self.args.model, nc=self.data.nc)
        model.names = list(self.data.names)
        weights = self.args.weights or (self.args.model if from_checkpoint else None)
        if weights and not self.args.resume:
            report = transfer_by_name(model, source if weights == self.args.model else read_checkpoint(weights))
            if self.main_process:
                LOGGER.log(logging.WARNING if report.skipped else logging.INFO, f"weights: {report.summary(weights)}")
        if self.args.sync_bn and self.world_size > 1:
            if self.device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            else:
                self.log("--sync-bn ignored: SyncBatchNorm runs on CUDA only; each process normalises its own slice")
        # channels-last on CPU too: oneDNN's convolutions run forward + backward ~20% faster in NHWC
        # (gelan-t, 320, batch 16, one thread: 1.64 s against 2.09 s per step)
        return model.to(self.device).to(memory_format=torch.channels_last)

    def _build_data(self) -> None:
        args, verbose = self.args, self.main_process and self.args.verbose
        self.train_set = YOLODataset(self.data.train, args.imgsz, augment=True, hyp=self.hyp, batch_size=args.batch,
                                     stride=self.stride, prefix="train: ", nc=self.data.nc, seed=args.seed, verbose=verbose)
        self.train_loader = build_dataloader(self.train_set, self.batch_per_rank, args.workers, shuffle=True,
                                             seed=args.seed, rank=self.rank, world_size=self.world_size)
        self.val_loader = None
        if self.main_process and args.val:
            val_set = YOLODataset(self.data.val, args.imgsz, rect=True, batch_size=args.batch * 2, stride=self.stride,
                                  prefix="val: ", nc=self.data.nc, verbose=verbose)
            self.val_loader = build_dataloader(val_set, args.batch * 2, args.workers, shuffle=False, seed=args.seed)

    def _wrap_distributed(self, model: nn.Module) -> nn.Module:
        if self.world_size <= 1:
            return model
        # depth-wise conv weights (c, 1, k, k) get gradients whose size-1 dimension has another stride than
        # DDP's bucket view: the memory order is the same, so DDP's performance warning about it is noise
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.ema.load_state_dict(state["ema"])
            self.ema.updates = int(state.get("ema_updates", 0))
        self.start_epoch = int(state["epoch"]) + 1
        self.best_fitness = float(state.get("best_fitness", float("-inf")))
        if self.start_epoch >= self.args.epochs:
            raise CheckpointError(f"{self.args.resume}: training already finished ({self.args.epochs} epochs); nothing to resume")
        self.log(f"resuming {self.save_dir} from epoch {self.start_epoch + 1}/{self.args.epochs}")

    def log(self, message: str) -> None:
        if self.main_process and self.args.verbose:
            LOGGER.info(message)

    def train(self) -> Path:
        """Run every epoch, validate, checkpoint, plot; return the run folder."""
        try:
            return self._run_epochs()
        finally:
            if self.owns_process_group and dist.is_initialized():
                dist.destroy_process_group()

    def _run_epochs(self) -> Path:
        if self.main_process:
            self._write_args()
            if self.args.plots and not self.resume_state:
                plot_labels(self.train_set.all_labels(), self.data.names, self.save_dir)
        close_mosaic = self.hyp.get("close_mosaic", 15) if self.args.close_mosaic is None else self.args.close_mosaic
        patience_left = self.args.patience
        self.log(f"training {self.args.model} on {self.data.source} for {self.args.epochs} epochs at imgsz "
                 f"{self.args.imgsz}, batch {self.args.batch} (x{self.accumulate} accumulation), device {self.device}; "
                 f"results in {self.save_dir}")
        for epoch in range(self.start_epoch, self.args.epochs):
            if epoch >= self.args.epochs - close_mosaic:
                self.train_set.mosaic = False
            stats = self.train_epoch(epoch)
            stop = False
            if self.main_process:
                scored = self._validates_after(epoch)
                metrics = self._validate() if scored and self.val_loader is not None else {}
                fitness = float(metrics.get("fitness", -stats.losses.sum().item()))
                improved = scored and fitness > self.best_fitness
                if scored:
                    self.best_fitness = max(fitness, self.best_fitness)
                    patience_left = self.args.patience if improved else patience_left - self.args.val_interval
                self._write_csv_row(epoch, stats, metrics)
                self._save(epoch, improved)
                stop = patience_left <= 0
                if stop:
                    self.log(f"early stop: no improvement in {self.args.patience} epochs")
            if self.world_size > 1:
                flag = [stop]
                dist.broadcast_object_list(flag, src=0)
                stop = flag[0]
            if stop:
                break
        if self.main_process:
            self._finish()
        if self.world_size > 1:
            dist.barrier()
        return self.save_dir

    def _validates_after(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) is scored: every ``val_interval``-th epoch and always the last one, so
        best.pt is chosen among scored epochs and the final weights are always compared."""
        return (epoch + 1) % self.args.val_interval == 0 or epoch + 1 == self.args.epochs

    def _seed_epoch(self, epoch: int) -> None:
        """Make each epoch's shuffling and augmentation a function of (seed, epoch) alone, so resume is exact."""
        epoch_seed = self.args.seed * 100_003 + epoch
        if self.train_loader.generator is not None:
            self.train_loader.generator.manual_seed(epoch_seed)
        sampler = self.train_loader.sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        self.train_set.reseed(epoch_seed + max(self.rank, 0))
        torch.manual_seed(epoch_seed + max(self.rank, 0))

    def train_epoch(self, epoch: int) -> EpochStats:
        """One pass over the training data with gradient accumulation; returns the mean losses."""
        self._seed_epoch(epoch)
        self.net.train()
        nb = len(self.train_loader)
        mean_loss = torch.zeros(3, device=self.device)
        skipped = 0
        last_step = (epoch * nb) - 1 if epoch else -1
        bar = tqdm(enumerate(self.train_loader), total=nb, disable=not (self.main_process and self.args.verbose),
                   bar_format="{l_bar}{bar:10}{r_bar}")
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in bar:
            ni = i + nb * epoch
            if ni <= self.warmup_iters:
                self._warmup(ni, epoch)
            else:
                self._set_lr(epoch)
            images = batch["img"].to(self.device, non_blocking=True).float() / 255
            images = images.contiguous(memory_format=torch.channels_last)
            targets = batch["targets"].to(self.device)
            with torch.autocast(self.device.type, enabled=self.amp):
                preds = self.net(images)
            loss, items = self.loss_fn(preds, targets)
            if self.world_size > 1:
                loss = loss * self.world_size
            if not self._finite_everywhere(loss):
                skipped += 1
                self.bad_steps_in_a_row += 1
                self.optimizer.zero_grad(set_to_none=True)
                LOGGER.warning(f"epoch {epoch + 1} step {i}: non-finite loss {items.tolist()}, step skipped")
                if self.bad_steps_in_a_row >= MAX_BAD_STEPS:
                    raise FocalYoloError(f"training diverged: {self.bad_steps_in_a_row} non-finite losses in a row at epoch "
                                         f"{epoch + 1}; lower lr0 (now {self.hyp['lr0']}) or disable AMP with --no-amp")
                continue
            self.bad_steps_in_a_row = 0
            self.scaler.scale(loss).backward()
            if ni - last_step >= self.accumulate or i == nb - 1:
                self._optimizer_step()
                last_step = ni
            mean_loss = (mean_loss * i + items.to(self.device)) / (i + 1)
            if self.main_process and self.args.verbose:
                bar.set_description(
                    f"{epoch + 1:>4}/{self.args.epochs} {memory_text(self.device):>6} "
                    + " ".join(f"{v:.4f}" for v in mean_loss.tolist())
                    + f" {len(targets):>4} inst {images.shape[-1]}px"
                )
            if self.main_process and self.args.plots and epoch == self.start_epoch and i < 3:
                plot_images(batch["img"], batch["targets"], batch["paths"], self.data.names,
                            self.save_dir / f"train_batch{i}.jpg")
            if self.on_step is not None:
                self.on_step(self, ni)
        if skipped:
            LOGGER.warning(f"epoch {epoch + 1}: skipped {skipped} step(s) with non-finite loss")
        if self.world_size > 1:  # report the mean over all processes' slices, as one process would
            dist.all_reduce(mean_loss)
            mean_loss /= self.world_size
        return EpochStats(mean_loss.cpu(), nb, skipped)

    def _finite_everywhere(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every process: under DDP all must skip a step together, or the
        gradient all-reduces of the next steps would pair up across different iterations."""
        finite = torch.isfinite(loss.detach()).float()
        if self.world_size > 1:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        return bool(finite)

    def _optimizer_step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=10.0, foreach=True)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)

    def _warmup(self, ni: int, epoch: int) -> None:
        """Linear warmup: bias lr from warmup_bias_lr down, other lrs up from 0, momentum up from warmup_momentum."""
        progress = ni / max(self.warmup_iters, 1)
        self.accumulate = max(1, round(1 + (self.nominal_batch / self.args.batch - 1) * progress))
        target = self.hyp["lr0"] * self.lf(epoch)
        for j, group in enumerate(self.optimizer.param_groups):
            start = self.hyp["warmup_bias_lr"] if j == 2 else 0.0
            group["lr"] = start + (target - start) * progress
            if "momentum" in group:
                group["momentum"] = self.hyp["warmup_momentum"] + (self.hyp["momentum"] - self.hyp["warmup_momentum"]) * progress

    def _set_lr(self, epoch: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.hyp["lr0"] * self.lf(epoch)

    def _validate(self) -> dict[str, Any]:
        return validate(self.ema.ema, self.val_loader, names=self.data.names, device=self.device, half=self.amp,
                        loss_fn=self.loss_fn, verbose=self.args.verbose)

    def _write_args(self) -> None:
        (self.save_dir / "args.yaml").write_text(yaml.safe_dump(asdict(self.args), sort_keys=False))

    def _write_csv_row(self, epoch: int, stats: EpochStats, metrics: dict[str, Any]) -> None:
        path = self.save_dir / "results.csv"
        values = dict(zip(CSV_COLUMNS[1:4], stats.losses.tolist()))
        values.update({k: metrics[k] for k in CSV_COLUMNS[4:11] if k in metrics})
        values.update({f"lr/pg{j}": g["lr"] for j, g in enumerate(self.optimizer.param_groups)})
        row = [epoch + 1] + [f"{values[k]:.6g}" if k in values else "" for k in CSV_COLUMNS[1:]]
        new = not path.exists() or epoch == 0
        rows = [] if new else [r for r in csv.reader(path.open()) if r and r[0] != "epoch" and int(r[0]) <= epoch]
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(rows + [row])

    def checkpoint_state(self, epoch: int) -> dict[str, Any]:
        """Everything needed to continue training exactly (plain data; loads with weights_only=True)."""
        return {
            "model_yaml": self.model.copy_config(),
            "names": list(self.data.names),
            "model": {k: v.detach().cpu() for k, v in unwrap(self.model).state_dict().items()},
            "ema": {k: v.detach().cpu() for k, v in self.ema.ema.state_dict().items()} if self.ema else None,
            "ema_updates": self.ema.updates if self.ema else 0,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp else None,
            "epoch": epoch,
            "best_fitness": self.best_fitness,
            "train_args": asdict(self.args),
            "world_size": self.world_size,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def _save(self, epoch: int, improved: bool) -> None:
        state = self.checkpoint_state(epoch)
        save_checkpoint(state, self.weights_dir / "last.pt")
        if improved:
            save_checkpoint(state, self.weights_dir / "best.pt")

    def _finish(self) -> None:
        """Final validation of best.pt with COCO metrics and plots, then results.png."""
        best = self.weights_dir / "best.pt"
        if self.args.plots and (self.save_dir / "results.csv").exists():
            plot_results(self.save_dir / "results.csv")
        if self.val_loader is not None and best.exists():
            from .checkpoint import model_from_checkpoint

            model = model_from_checkpoint(read_checkpoint(best)).to(self.device)
            self.final_metrics = validate(model, self.val_loader, names=self.data.names, device=self.device,
                                          save_dir=self.save_dir, plots=self.args.plots, coco=True,
                                          verbose=self.args.verbose)
        self.log(f"done: {self.save_dir} (weights in {self.weights_dir})")


@dataclass
class TransferReport:
    """What :func:`transfer_by_name` copied: counts, and the tensors skipped for a different shape."""

    transferred: int
    total: int
    skipped: list[tuple[str, tuple[int, ...], tuple[int, ...]]]

    def summary(self, source: str, shown: int = 6) -> str:
        """One line: ``transferred 230/242 tensors from x.pt; 12 skipped (...): name (ckpt) -> (model), ...``."""
        text = f"transferred {self.transferred}/{self.total} tensors from {source}"
        if not self.skipped:
            return text
        listed = ", ".join(f"{name} {tuple(a)} -> {tuple(b)}" for name, a, b in self.skipped[:shown])
        more = f", ... and {len(self.skipped) - shown} more" if len(self.skipped) > shown else ""
        return f"{text}; {len(self.skipped)} skipped (shape differs, e.g. another class count): {listed}{more}"


def split_batch(batch: int, world_size: int) -> int:
    """Each process's share of the total ``batch``; FocalYoloError unless it splits evenly over ``world_size``."""
    if batch < 1 or batch % world_size:
        raise FocalYoloError(f"--batch {batch} must be a positive multiple of the {world_size} training processes")
    return batch // world_size


def transfer_by_name(model: nn.Module, checkpoint: dict[str, Any]) -> TransferReport:
    """Copy checkpoint tensors into ``model`` where name and shape match; report those whose shape differs."""
    source = checkpoint.get("ema") or checkpoint["model"]
    target = model.state_dict()
    matched = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    skipped = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in source.items()
               if k in target and target[k].shape != v.shape]
    model.load_state_dict(matched, strict=False)
    return TransferReport(len(matched), len(target), skipped)


def train(args: TrainArgs | None = None, **kwargs: Any) -> Path:
    """Train with ``args`` (or keyword options of :class:`TrainArgs`); returns the run folder."""
    if args is None:
        known = {f.name for f in fields(TrainArgs)}
        unknown = set(kwargs) - known
        if unknown:
            raise FocalYoloError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        args = TrainArgs(**kwargs)
    return Trainer(args).train()

