"""A training run resolved once, before anything is built: what ``focalyolo train`` / ``YOLO.train`` will do.

:func:`train_run` turns keyword options (CLI flags or ``YOLO.train`` keywords) into a :class:`ResolvedRun`:
the model source (a config, or a checkpoint read once and handed on), the task, the image size (defaults:
the task's ``train_imgsz``), the full hyper-parameter dict and, for ``--resume``, the saved run and
state it restores (:func:`resume_run`). The trainer, the DDP launcher and ``compare`` take it from there; the
only thing settled later is the size's stride rounding (:meth:`ResolvedRun.at_stride`), once the model exists.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cfg import TrainConfig
from ..cfg.imgsz import stride_multiple
from ..errors import CheckpointError, ConfigError
from ..models import config_task
from ..tasks import get_task
from ..weights.checkpoint import read_checkpoint
from ..weights.sources import read_source_checkpoint, source_kind

__all__ = ["RESUME_CHANGES", "ResolvedRun", "model_task", "resolve_run", "resume_run", "train_run"]

RESUME_CHANGES = frozenset({"resume", "device", "threads", "workers", "cache", "verbose", "plots", "compile"})
"""Options a resumed run may change; the rest are those the run was started with."""


@dataclass(frozen=True)
class ResolvedRun:
    """Everything a training run needs decided before its model and data are built.

    Attributes:
        cfg: the configuration with every option set (``imgsz`` included): what ``args.yaml`` and the checkpoints
            record. After :meth:`at_stride`, ``imgsz`` is the size used.
        task: the model's task name (``detect``, ``segment``, ``pose``, ``classify``).
        model_config: what the model is built from: ``cfg.model``, or the config inside its checkpoint (or inside
            the resumed checkpoint).
        weights: the name of the checkpoint whose weights are copied in (``cfg.weights``, else ``cfg.model`` when
            it is a checkpoint), None for random initialisation or a resumed run.
        weights_state: that checkpoint's data, read once.
        resume_state: the checkpoint ``cfg.resume`` names (weights, optimizer, EMA, epoch), read once; else None.
    """

    cfg: TrainConfig
    task: str
    model_config: str | dict
    weights: str | None = None
    weights_state: dict | None = dataclasses.field(default=None, repr=False)
    resume_state: dict | None = dataclasses.field(default=None, repr=False)

    @property
    def imgsz(self) -> int:
        return self.cfg.imgsz

    @property
    def hyp(self) -> dict[str, Any]:
        """Every hyper-parameter and its resolved value (what the loss and the datasets read)."""
        return self.cfg.hyperparameters()

    @property
    def saved_world_size(self) -> int | None:
        """The number of processes a resumed run was trained with (None for a new run)."""
        return int(self.resume_state.get("world_size", 1)) if self.resume_state is not None else None

    def at_stride(self, stride: int) -> ResolvedRun:
        """This run with ``imgsz`` rounded up to a multiple of the model's largest ``stride``
        (:func:`~focalyolo.cfg.imgsz.stride_multiple`: one warning when it changes)."""
        used = stride_multiple(self.cfg.imgsz, stride)
        return self if used == self.cfg.imgsz else dataclasses.replace(self, cfg=self.cfg.replace(imgsz=used))


def resolve_run(cfg: TrainConfig) -> ResolvedRun:
    """The resolved run of a configuration: its model source read once, the task, the default ``imgsz`` filled.

    A ``cfg`` with ``resume`` set is taken as the saved configuration of that run (:func:`resume_run` makes one
    from a checkpoint and the options a resume may change)."""
    if cfg.resume:
        return _resumed(cfg, _resume_state(cfg.resume))
    source = read_source_checkpoint(cfg.model) if source_kind(cfg.model) == "checkpoint" else None
    model_config = source["model_yaml"] if source is not None else cfg.model
    task = config_task(model_config)
    weights = cfg.weights or (cfg.model if source is not None else None)
    weights_state = None
    if weights is not None:
        weights_state = source if weights == cfg.model else read_source_checkpoint(weights)
    if cfg.imgsz is None:
        cfg = cfg.replace(imgsz=get_task(task).default_imgsz(cfg.data))
    return ResolvedRun(cfg, task, model_config, weights, weights_state)


def _resume_state(checkpoint: str | Path) -> dict:
    state = read_checkpoint(checkpoint)
    if not state.get("train_args") or state.get("optimizer") is None:
        raise CheckpointError(f"{checkpoint}: has no training state to resume (best.pt, a converted or exported "
                              f"model?); resume from the run's weights/last.pt")
    return state


def _resumed(cfg: TrainConfig, state: dict) -> ResolvedRun:
    model_config = state["model_yaml"]
    return ResolvedRun(cfg, config_task(model_config), model_config, resume_state=state)


def resume_run(checkpoint: str | Path, **changes: Any) -> ResolvedRun:
    """The run saved in ``checkpoint`` (its ``train_args``), to continue it; the checkpoint is read once.

    ``changes`` may set the options of :data:`RESUME_CHANGES` (where and how fast it runs); any other option
    is fixed by the run, and changing it is a ConfigError (start a new run with ``weights=`` instead).
    """
    state = _resume_state(checkpoint)
    fixed = sorted(k for k in changes if k not in RESUME_CHANGES)
    if fixed:
        raise ConfigError(f"{', '.join(fixed)}: cannot change when resuming {checkpoint} (the run keeps its own "
                          f"settings); to train on from these weights with new settings use weights={checkpoint}")
    cfg = TrainConfig.from_mapping({**state["train_args"], **changes, "resume": str(checkpoint)},
                                   source=str(checkpoint))
    return _resumed(cfg, state)


def train_run(**options: Any) -> ResolvedRun:
    """The run that keyword options (CLI flags or ``YOLO.train`` keywords) ask for: a resumed run's saved
    configuration when ``resume`` is given (:func:`resume_run`), else a new one (:func:`resolve_run`); unknown or
    bad options are one error."""
    if options.get("resume"):
        return resume_run(options.pop("resume"), **options)
    return resolve_run(TrainConfig.from_mapping(options))


def model_task(model: str | Path | dict) -> str:
    """The task of a model source: a config's head, or the head of a checkpoint's config."""
    if source_kind(model) == "checkpoint":
        model = read_source_checkpoint(model)["model_yaml"]
    return config_task(model)
