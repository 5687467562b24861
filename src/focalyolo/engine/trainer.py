"""Training: PGI dual-branch (or single-branch) training of any task with warmup, EMA, AMP, validation and resume.

``train(TrainConfig(...))`` (or ``train(**options)``) runs the whole job and returns the run folder. What the run
is (model source, task, image size, hyper-parameters, resumed state) is decided first, once
(:mod:`focalyolo.engine.run`). The epoch loop is :meth:`Trainer.train_epoch`; everything else (data, optimizer,
checkpoints, plots) is set up around it.
Under ``torchrun`` each process trains a slice of every batch (DistributedDataParallel); rank 0 alone
validates, plots and writes checkpoints.
"""

from __future__ import annotations

import csv
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
import torch.nn as nn
import yaml
from tqdm import tqdm

from ..cfg import TrainConfig
from ..data import build_dataloader, release_workers
from ..errors import CheckpointError, ConfigError, FocalYoloError
from ..models import Model, build_model
from ..tasks import get_task
from ..utils.files import increment_path
from ..utils.plotting import plot_results
from ..utils.threads import configure_threads, default_workers
from ..utils.torch_utils import distributed_env, init_seeds, memory_text, select_device
from ..weights.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from ..weights.convert import deployment_form
from ..weights.transfer import transfer_by_name
from .ema import ModelEMA, unwrap
from .evaluation import evaluate
from .finite import FiniteGuard
from .optim import build_optimizer, lr_lambda
from .run import ResolvedRun, resolve_run, train_run
from .tensorboard import TensorBoard

__all__ = ["Trainer", "split_batch", "train"]

LOGGER = logging.getLogger("focalyolo")
MAX_BAD_STEPS = 10
HOST = torch.device("cpu")
BAR_SECONDS = 0.25
"""The progress bar's losses are read from the device (a wait for its queue) at most this often."""



@dataclass
class EpochStats:
    """Means of the training losses over one epoch, the step counts and the epoch's wall time."""

    losses: torch.Tensor
    steps: int
    skipped: int
    seconds: float = 0.0


class Trainer:
    """Owns the model, data, optimizer and run folder of one training job.

    ``run`` is the resolved run (:mod:`focalyolo.engine.run`; a :class:`TrainConfig` is resolved first); for a
    resumed run (:func:`~focalyolo.engine.run.resume_run`) it holds the checkpoint whose weights, optimizer, EMA
    and epoch are restored. ``self.run`` / ``self.cfg`` carry the image size used (a stride multiple).
    """

    def __init__(self, run: ResolvedRun | TrainConfig, on_step: Callable[["Trainer", int], None] | None = None):
        self.on_step = on_step
        self.run = run if isinstance(run, ResolvedRun) else resolve_run(run)
        self.cfg = cfg = self.run.cfg
        self.resume_state = self.run.resume_state
        self.rank, self.local_rank, self.world_size = distributed_env()
        self.main_process = self.rank in (-1, 0)
        self.batch_per_rank = split_batch(cfg.batch, self.world_size)
        self.device = select_device(cfg.device)
        self.threads = configure_threads(cfg.threads)
        self.workers = cfg.workers if cfg.workers is not None else default_workers(
            self.device.type, self.threads, self.world_size)
        self.owns_process_group = self.world_size > 1 and not dist.is_initialized()
        if self.owns_process_group:
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        init_seeds(cfg.seed + 1 + max(self.rank, 0), cfg.deterministic)
        # training batches all have one size (imgsz x imgsz): let cuDNN time its kernels once and keep the fastest
        torch.backends.cudnn.benchmark = self.device.type == "cuda" and not cfg.deterministic
        if self.amp and cfg.amp_dtype == "bf16" and not torch.cuda.is_bf16_supported():
            raise ConfigError(f"--amp-dtype bf16: {torch.cuda.get_device_name(self.device)} has no bfloat16 support; "
                              f"use --amp-dtype fp16")
        self.task = get_task(self.run.task)
        self.data = self.task.load_data(cfg.data)
        self.model = self._build_model()
        self.loss_fn = self.task.build_loss(self.model, self.run.hyp)
        self.stride = int(self.model.stride.max())
        self.run = self.run.at_stride(self.stride)
        self.cfg = cfg = self.run.cfg
        self._build_data()
        self.save_dir = self._make_save_dir()  # only once the data and model are known to be good
        self.weights_dir = self.save_dir / "weights"
        self.accumulate = max(round(cfg.nbs / cfg.batch), 1)
        weight_decay = cfg.weight_decay * cfg.batch * self.accumulate / cfg.nbs
        self.optimizer = build_optimizer(self.model, cfg.optimizer, cfg.lr0, cfg.momentum, weight_decay)
        nb = len(self.train_loader)
        warmup = max(round(cfg.warmup_epochs * nb), cfg.warmup_min_steps) if cfg.warmup_epochs > 0 else 0
        self.warmup_iters = min(warmup, max(cfg.epochs * nb // 2, 1))
        self.lf = lr_lambda(cfg.epochs, cfg.lrf, cfg.cos_lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.guard = FiniteGuard(self.device, self.world_size)
        self.skipped = 0
        self.ema = ModelEMA(self.model, cfg.ema_decay, cfg.ema_tau) if self.main_process else None
        self.start_epoch, self.best_fitness = 0, float("-inf")  # without validation fitness is -loss
        if self.resume_state:
            self._restore(self.resume_state)
        self.net = self._wrap_distributed(self.model)
        if cfg.compile:
            self.net = torch.compile(self.net)

    @property
    def amp(self) -> bool:
        return self.cfg.amp and self.device.type == "cuda"

    @property
    def amp_dtype(self) -> torch.dtype:
        """The autocast type of ``--amp``: float16 (with loss scaling) or bfloat16 (same range as float32)."""
        return torch.bfloat16 if self.cfg.amp_dtype == "bf16" else torch.float16

    def _make_save_dir(self) -> Path:
        if self.cfg.resume:
            return Path(self.cfg.resume).resolve().parent.parent
        path = Path(self.cfg.project) / self.cfg.name
        if self.world_size > 1:
            names = [str(increment_path(path, self.cfg.exist_ok, mkdir=True)) if self.main_process else ""]
            dist.broadcast_object_list(names, src=0)
            return Path(names[0])
        return increment_path(path, self.cfg.exist_ok, mkdir=True)

    def _build_model(self) -> Model:
        """The model from the run's model config (a config, or the config of the checkpoint ``cfg.model`` names,
        focalyolo's or an official YOLOv9 one), with the weights of the run's start checkpoint copied in."""
        model = build_model(self.run.model_config, nc=self.data.nc, **self.task.model_options(self.data))
        model.names = list(self.data.names)
        if self.run.weights_state is not None:
            report = transfer_by_name(model, self.run.weights_state)
            if self.main_process:
                LOGGER.log(logging.WARNING if report.skipped else logging.INFO,
                           f"weights: {report.summary(self.run.weights)}")
        if self.cfg.sync_bn and self.world_size > 1:
            if self.device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            else:
                self.log("--sync-bn ignored: SyncBatchNorm runs on CUDA only; each process normalises its own slice")
        # channels-last on CPU too: oneDNN's convolutions run forward + backward ~20% faster in NHWC
        # (gelan-t, 320, batch 16, one thread: 1.64 s against 2.09 s per step)
        return model.to(self.device).to(memory_format=torch.channels_last)

    def _build_data(self) -> None:
        """The datasets (``--cache ram`` filled here, before any loader worker forks) and their loaders: mosaic off
        from epoch ``epochs - close_mosaic`` on, decided per sample from its epoch; batches pinned for CUDA."""
        cfg, verbose = self.cfg, self.main_process and self.cfg.verbose
        options = {**self.task.dataset_options(self.data), "cache": cfg.cache}
        self.train_set = self.task.build_dataset(self.data.train, cfg.imgsz, augment=True,
                                                 hyp=self.run.hyp, batch_size=cfg.batch,
                                                 stride=self.stride, prefix="train: ", nc=self.data.nc, seed=cfg.seed,
                                                 verbose=verbose, mosaic_epochs=cfg.epochs - cfg.close_mosaic,
                                                 **options)
        if cfg.cache and not hasattr(self.train_set, "image_cache"):
            self.log(f"--cache {cfg.cache}: this task's images are read from their files each time; ignored")
        pin = self.device.type == "cuda"
        self.train_loader = build_dataloader(self.train_set, self.batch_per_rank, self.workers, shuffle=True,
                                             seed=cfg.seed, rank=self.rank, world_size=self.world_size, pin_memory=pin)
        self.next_batches: tuple[int, Iterator] | None = None  # an epoch's batches, started ahead of it
        self.val_loader = None
        if self.main_process and cfg.val:
            val_set = self.task.build_dataset(self.data.val, cfg.imgsz, rect=True, batch_size=cfg.batch * 2,
                                              stride=self.stride, prefix="val: ", nc=self.data.nc, verbose=verbose,
                                              **options)
            self.val_loader = build_dataloader(val_set, cfg.batch * 2, self.workers, shuffle=False, seed=cfg.seed,
                                               pin_memory=pin)

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
        if self.start_epoch >= self.cfg.epochs:
            raise CheckpointError(f"{self.cfg.resume}: training already finished ({self.cfg.epochs} epochs); "
                                  f"nothing to resume")
        self.log(f"resuming {self.save_dir} from epoch {self.start_epoch + 1}/{self.cfg.epochs}")

    def log(self, message: str) -> None:
        if self.main_process and self.cfg.verbose:
            LOGGER.info(message)

    def train(self) -> Path:
        """Run every epoch, validate, checkpoint, plot; return the run folder. Rank 0 also logs to TensorBoard
        when it is installed (its event file is closed however the run ends)."""
        self.board = TensorBoard.open(self.save_dir, self.log) if self.main_process else None
        try:
            return self._run_epochs()
        finally:
            self.next_batches = None
            for loader in (self.train_loader, self.val_loader):
                if loader is not None:
                    release_workers(loader)
            if self.board is not None:
                self.board.close()
            if self.owns_process_group and dist.is_initialized():
                dist.destroy_process_group()

    def _run_epochs(self) -> Path:
        cfg = self.cfg
        self.start_batches(self.start_epoch)  # the workers start while the labels are plotted
        if self.main_process:
            self._write_args()
            if cfg.plots and not self.resume_state:
                self.task.plot_labels(self.train_set, self.data.names, self.save_dir)
        patience = cfg.patience or float("inf")  # 0: never stop early
        patience_left = patience
        self.log(f"training {cfg.model} on {self.data.source} for {cfg.epochs} epochs at imgsz {cfg.imgsz}, batch "
                 f"{cfg.batch} (x{self.accumulate} accumulation), {cfg.optimizer} lr0 {cfg.lr0}, hyp {cfg.hyp}; "
                 f"device {self.device}, {self.threads} thread(s), {self.workers} data worker(s); results in "
                 f"{self.save_dir}")
        for epoch in range(self.start_epoch, cfg.epochs):
            stats = self.train_epoch(epoch)
            if epoch + 1 < cfg.epochs:
                self.start_batches(epoch + 1)  # the workers prepare them during validation and checkpointing
            stop = False
            if self.main_process:
                scored = self._validates_after(epoch)
                start = time.perf_counter()
                metrics = self._evaluate() if scored and self.val_loader is not None else {}
                val_seconds = time.perf_counter() - start
                fitness = float(metrics.get("fitness", -stats.losses.sum().item()))
                improved = scored and fitness > self.best_fitness
                if scored:
                    self.best_fitness = max(fitness, self.best_fitness)
                    patience_left = patience if improved else patience_left - cfg.val_interval
                self._write_csv_row(epoch, stats, metrics)
                self._save(epoch, improved)
                self.log(self._epoch_line(epoch, stats, metrics, val_seconds))
                stop = patience_left <= 0
                if stop:
                    self.log(f"early stop: no improvement in {cfg.patience} epochs")
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

    def _epoch_line(self, epoch: int, stats: EpochStats, metrics: dict[str, Any], val_seconds: float) -> str:
        """``epoch 3/10: 12.4 s training, 1.1 s validation; P 0.61 R 0.48 mAP50 0.412 mAP50-95 0.231 (best
        fitness 0.25)``: the epoch's summary with the task's metrics (the per-class table comes at the end)."""
        text = f"epoch {epoch + 1}/{self.cfg.epochs}: {stats.seconds:.1f} s training"
        if metrics:
            figures = " ".join(f"{k} {metrics[key]:.3f}" for k, key in self.task.metric_keys.items())
            text += f", {val_seconds:.1f} s validation; {figures} (best fitness {self.best_fitness:.3f})"
        return text + (f"; {stats.skipped} step(s) skipped" if stats.skipped else "")

    def _validates_after(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) is scored: every ``val_interval``-th epoch and always the last one, so
        best.pt is chosen among scored epochs and the final weights are always compared."""
        return (epoch + 1) % self.cfg.val_interval == 0 or epoch + 1 == self.cfg.epochs

    def _seed_epoch(self, epoch: int) -> None:
        """Make each epoch's randomness a function of (seed, epoch) alone, so resume is exact: the data's through
        the loader's keys (:meth:`start_batches`: the order, and every sample's augmentation, whatever the
        workers), the model's (torch's global generator, on this process) here."""
        torch.manual_seed(self.cfg.seed * 100_003 + epoch + max(self.rank, 0))

    def start_batches(self, epoch: int) -> None:
        """Start ``epoch``'s batches: persistent workers begin on its first ones at once, so called before the
        previous epoch's validation and checkpointing, the epoch's first step does not wait for them."""
        self.train_loader.sampler.set_epoch(epoch)
        self.next_batches = (epoch, iter(self.train_loader))

    def epoch_batches(self, epoch: int) -> Iterator[dict[str, Any]]:
        """``epoch``'s batches: those :meth:`start_batches` started, or started now."""
        if self.next_batches is None or self.next_batches[0] != epoch:
            self.start_batches(epoch)
        batches, self.next_batches = self.next_batches[1], None
        return batches

    def _bar_header(self) -> str:
        """``epoch  RAM  box  cls  dfl  inst  size``: the columns of the progress bar (losses of the task)."""
        mem = "GPU_mem" if self.device.type == "cuda" else "RAM"
        return "".join(f"{c:>9}" for c in ("epoch", mem, *self.task.loss_names, "inst", "size"))

    def train_epoch(self, epoch: int) -> EpochStats:
        """One pass over the training data with gradient accumulation; returns the mean losses.

        The step body reads nothing back from the device: losses are summed and non-finite steps counted there
        (:class:`FiniteGuard`, read once per optimizer step), and the progress bar reads the running mean at
        most every :data:`BAR_SECONDS`."""
        start = time.perf_counter()
        self._seed_epoch(epoch)
        self.net.train()
        nb = len(self.train_loader)
        loss_sum = torch.zeros(len(self.task.loss_names), device=self.device)
        finite_steps = torch.zeros((), device=self.device)
        self.skipped = 0
        last_step = (epoch * nb) - 1 if epoch else -1
        show = self.main_process and self.cfg.verbose
        if show:
            tqdm.write(self._bar_header())
        batches = self.epoch_batches(epoch)
        bar = tqdm(enumerate(batches), total=nb, disable=not show, bar_format="{l_bar}{bar:10}{r_bar}")
        next_bar = 0.0
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in bar:
            ni = i + nb * epoch
            if ni <= self.warmup_iters:
                self._warmup(ni, epoch)
            else:
                self._set_lr(epoch)
            images = batch["img"].to(self.device, non_blocking=True).float() / 255
            images = images.contiguous(memory_format=torch.channels_last)
            targets = self.task.targets(batch, HOST)  # the loss pads them on the host, then copies them over
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                preds = self.net(images)
            loss, items = self.loss_fn(preds, targets)
            if self.world_size > 1:
                loss = loss * self.world_size
            finite = self.guard.record(loss)
            self.scaler.scale(loss).backward()
            loss_sum += torch.where(finite, items, 0.0)
            finite_steps += finite
            if ni - last_step >= self.accumulate or i == nb - 1:
                self._optimizer_step(epoch, i)
                last_step = ni
            if show and (time.perf_counter() >= next_bar or i == nb - 1):  # a host read: a few times a second
                next_bar = time.perf_counter() + BAR_SECONDS
                values = [f"{epoch + 1}/{self.cfg.epochs}", memory_text(self.device),
                          *(f"{v:.4g}" for v in (loss_sum / finite_steps.clamp(min=1)).tolist()),
                          self.task.instances(batch), images.shape[-1]]
                bar.set_description("".join(f"{v:>9}" for v in values), refresh=False)
            if self.main_process and self.cfg.plots and epoch == self.start_epoch and i < 3:
                self.task.plot_batch(batch, self.data.names, self.save_dir / f"train_batch{i}.jpg")
            if self.on_step is not None:
                self.on_step(self, ni)
        if self.skipped:
            LOGGER.warning(f"epoch {epoch + 1}: skipped {self.skipped} step(s) with non-finite loss")
        mean_loss = loss_sum / finite_steps.clamp(min=1)
        if self.world_size > 1:  # report the mean over all processes' slices, as one process would
            dist.all_reduce(mean_loss)
            mean_loss /= self.world_size
        return EpochStats(mean_loss.cpu(), nb, self.skipped, time.perf_counter() - start)

    def _optimizer_step(self, epoch: int, step: int) -> None:
        """Update from the accumulated gradients, unless a step of the window had a non-finite loss: then drop
        them (all processes alike), and stop the run after :data:`MAX_BAD_STEPS` such steps in a row."""
        bad, in_a_row = self.guard.read()
        if bad:
            self.skipped += bad
            self.optimizer.zero_grad(set_to_none=True)
            LOGGER.warning(f"epoch {epoch + 1} step {step}: non-finite loss in {bad} step(s) since the last update, "
                           f"update skipped")
            if in_a_row >= MAX_BAD_STEPS:
                raise FocalYoloError(f"training diverged: {in_a_row} non-finite losses in a row at epoch {epoch + 1}; "
                                     f"lower lr0 (now {self.cfg.lr0}) or disable AMP with --no-amp")
            return
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=self.cfg.grad_clip, foreach=True)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)

    def _warmup(self, ni: int, epoch: int) -> None:
        """Linear warmup: bias lr from warmup_bias_lr down, other lrs up from 0, momentum up from warmup_momentum."""
        cfg = self.cfg
        progress = ni / max(self.warmup_iters, 1)
        self.accumulate = max(1, round(1 + (cfg.nbs / cfg.batch - 1) * progress))
        target = cfg.lr0 * self.lf(epoch)
        for j, group in enumerate(self.optimizer.param_groups):
            start = cfg.warmup_bias_lr if j == 2 else 0.0
            group["lr"] = start + (target - start) * progress
            if "momentum" in group:
                group["momentum"] = cfg.warmup_momentum + (cfg.momentum - cfg.warmup_momentum) * progress

    def _set_lr(self, epoch: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.lr0 * self.lf(epoch)

    def _evaluate(self) -> dict[str, Any]:
        return evaluate(self.ema.ema, self.val_loader, names=self.data.names, device=self.device, half=self.amp,
                        loss_fn=self.loss_fn, verbose=False, progress=self.cfg.verbose)

    def _write_args(self) -> None:
        (self.save_dir / "args.yaml").write_text(yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))

    def _write_csv_row(self, epoch: int, stats: EpochStats, metrics: dict[str, Any]) -> None:
        path = self.save_dir / "results.csv"
        columns = self.task.csv_columns()
        values = dict(zip(self.task.loss_columns("train"), stats.losses.tolist()))
        values.update({k: metrics[k] for k in columns if k in metrics})
        values.update({f"lr/pg{j}": g["lr"] for j, g in enumerate(self.optimizer.param_groups)})
        row = [epoch + 1] + [f"{values[k]:.6g}" if k in values else "" for k in columns[1:]]
        new = not path.exists() or epoch == 0
        rows = [] if new else [r for r in csv.reader(path.open()) if r and r[0] != "epoch" and int(r[0]) <= epoch]
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows + [row])
        if self.board is not None:  # a copy of the row; the CSV is the record
            self.board.scalars({k: values[k] for k in columns[1:] if k in values}, epoch + 1)

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
            "train_args": self.cfg.to_dict(),
            "world_size": self.world_size,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def _save(self, epoch: int, improved: bool) -> None:
        """``last.pt`` (everything to resume) every epoch; ``best.pt`` when the fitness improved: the EMA weights
        as the model and no optimizer state (a third of the size; it is for inference and fine-tuning)."""
        state = self.checkpoint_state(epoch)
        save_checkpoint(state, self.weights_dir / "last.pt")
        if improved:
            best = {**state, "model": state["ema"] if state["ema"] is not None else state["model"], "ema": None,
                    "optimizer": None, "scaler": None}
            save_checkpoint(best, self.weights_dir / "best.pt")

    def _finish(self) -> None:
        """Final validation of best.pt with COCO metrics and plots, then results.png. best.pt is scored in its
        deployment form (GELAN, fused, channels-last), as ``focalyolo val`` scores it: same figures, less time."""
        best = self.weights_dir / "best.pt"
        if self.cfg.plots and (self.save_dir / "results.csv").exists():
            plot_results(self.save_dir / "results.csv")
        if self.val_loader is not None and best.exists():
            model = deployment_form(model_from_checkpoint(read_checkpoint(best)).to(self.device), channels_last=True)
            self.final_metrics = evaluate(model, self.val_loader, names=self.data.names, device=self.device,
                                          save_dir=self.save_dir, plots=self.cfg.plots, coco=True,
                                          verbose=self.cfg.verbose)
        if self.board is not None:
            self.board.images(self.save_dir)
        self.log(f"done: {self.save_dir} (weights in {self.weights_dir})")


def split_batch(batch: int, world_size: int) -> int:
    """Each process's share of the total ``batch``; FocalYoloError unless it splits evenly over ``world_size``."""
    if batch < 1 or batch % world_size:
        raise FocalYoloError(f"--batch {batch} must be a positive multiple of the {world_size} training processes")
    return batch // world_size


def train(cfg: TrainConfig | None = None, **options: Any) -> Path:
    """Train with ``cfg`` (or keyword options, see :func:`~focalyolo.engine.run.train_run`); returns the run
    folder."""
    return Trainer(cfg if cfg is not None else train_run(**options)).train()
