"""The ``val`` job (``focalyolo val`` and ``YOLO.val``): load the model in deployment form, fill the image size and
data from its training run, build its task's loader, evaluate (:func:`focalyolo.engine.evaluation.evaluate`),
write the run folder.
"""

from __future__ import annotations

import logging
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
from .evaluation import evaluate

__all__ = ["val"]

LOGGER = logging.getLogger("focalyolo")


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
    loader = task.build_val_loader(net, files, cfg.imgsz, cfg.batch, workers, f"{cfg.split}: ")
    save_dir = increment_path(Path(cfg.project) / cfg.name, cfg.exist_ok, mkdir=True)
    results = evaluate(net, loader, names=config.names, device=device, half=cfg.half, conf=cfg.conf, iou=cfg.iou,
                       max_det=cfg.max_det, save_dir=save_dir, plots=cfg.plots, coco=True, save_json=cfg.save_json,
                       verbose=cfg.verbose)
    return {**results, "save_dir": str(save_dir)}
