"""Validation: the ``val`` job (``focalyolo val`` and ``YOLO.val``), and evaluation through the model's task.

:func:`validate` scores a model on a loader with its task's evaluation (for detection: box mAP, fast and
pycocotools; see :mod:`focalyolo.tasks.detect.validate` for the options); the trainer calls it every scored
epoch. :func:`val` is the whole job: load the model in deployment form, fill the image size and data from its
training run, build the loader, evaluate, write the run folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..cfg import ValConfig
from ..cfg.recorded import inference_config
from ..deploy.inference import load_inference_model
from ..errors import DataError, FocalYoloError
from ..tasks import task_of
from ..utils.files import increment_path
from ..utils.threads import configure_threads, default_workers
from ..utils.torch_utils import select_device

__all__ = ["build_val_loader", "val", "validate"]

LOGGER = logging.getLogger("focalyolo")


def validate(model: torch.nn.Module, loader: Any, **options: Any) -> dict[str, Any]:
    """Evaluate ``model`` on ``loader`` with its task's evaluation; returns the metrics dict (with ``fitness``)."""
    return task_of(model).validate(model, loader, **options)


def build_val_loader(model: torch.nn.Module, files: Sequence[str | Path], imgsz: int, batch: int, workers: int,
                     nc: int, prefix: str = "val: ") -> torch.utils.data.DataLoader:
    """The evaluation loader its task builds for ``model``."""
    return task_of(model).build_val_loader(model, files, imgsz, batch, workers, nc, prefix)


def val(cfg: ValConfig, model: torch.nn.Module | None = None) -> dict[str, Any]:
    """The ``val`` job: score ``cfg.model`` (or ``model``, in deployment form) on a split of ``cfg.data``; image
    size and data default to the model's training run. Writes metrics.json (and plots, predictions.json) into a
    new ``<project>/<name>`` folder; returns the metrics with ``save_dir`` added."""
    device = select_device(cfg.device)
    threads = configure_threads(cfg.threads)
    workers = cfg.workers if cfg.workers is not None else default_workers(device.type, threads)
    if model is None and cfg.model is None:
        raise FocalYoloError("val needs a model (--model)")
    net = load_inference_model(model if model is not None else cfg.model, device)
    cfg = inference_config(cfg, net, need_data=True)
    task = task_of(net)
    config = task.load_data(cfg.data)
    files = getattr(config, cfg.split)
    if not files:
        raise DataError(f"{config.source}: no '{cfg.split}' split")
    if net.nc != config.nc:
        raise FocalYoloError(f"{cfg.model or 'the model'} predicts {net.nc} classes but {config.source} has "
                             f"{config.nc}")
    loader = task.build_val_loader(net, files, cfg.imgsz, cfg.batch, workers, config.nc, f"{cfg.split}: ")
    save_dir = increment_path(Path(cfg.project) / cfg.name, cfg.exist_ok, mkdir=True)
    results = task.validate(net, loader, names=config.names, device=device, half=cfg.half, conf=cfg.conf, iou=cfg.iou,
                       max_det=cfg.max_det, save_dir=save_dir, plots=cfg.plots, coco=True, save_json=cfg.save_json,
                       verbose=cfg.verbose)
    return {**results, "save_dir": str(save_dir)}
