"""Inference on files: an image, a folder, a glob or a video, streamed in batches as result objects.

The model's task prepares each batch (detection: letterboxes to the stride; classification: resize and centre
crop) and turns its predictions into one result per image (for detection: NMS, then a
:class:`~focalyolo.tasks.detect.DetectResult`). Videos are read frame by frame with OpenCV. Unreadable files are
reported through ``on_skip`` and skipped.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..cfg import PredictConfig
from ..cfg.imgsz import stride_multiple
from ..cfg.recorded import inference_config
from ..data.image_io import ImageReadError, read_image
from ..data.paths import is_image_file
from ..deploy.inference import load_inference_model
from ..errors import DataError, FocalYoloError
from ..metrics.coco_json import coco_category_map
from ..tasks import PredictBatch, PredictSettings, task_of
from ..utils.files import increment_path
from ..utils.threads import configure_threads
from ..utils.torch_utils import device_clock, select_device
from .results import ResultWriter

__all__ = ["PredictRun", "expand_source", "iter_frames", "predict"]

LOGGER = logging.getLogger("focalyolo")
VIDEO_SUFFIXES = frozenset({".avi", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".webm", ".wmv"})
Source = str | Path | Sequence[str | Path]
SkipFn = Callable[[str, str], None]


@dataclass
class Frame:
    """One decoded input: ``image`` (h, w, 3) uint8 BGR from ``path`` (``index`` = video frame, None for images)."""

    path: str
    index: int | None
    image: np.ndarray


def is_video_file(path: Path) -> bool:
    """True when the suffix (any case) names a video container OpenCV is asked to read."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def _is_media(path: Path) -> bool:
    return path.is_file() and (is_image_file(path) or is_video_file(path))


def _unsupported_kind(source: str) -> str | None:
    """What a source that names no file is, when it is a kind predict does not read: a camera index or a URL."""
    if source.isdigit():
        return "a camera index"
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        return "a URL or stream"
    return None


def expand_source(source: Source) -> list[Path]:
    """The files of a source: a file, a folder (its images and videos, not recursive), a glob
    (``**`` recursive) or a list of those, in sorted order per entry.

    Raises:
        DataError: an entry matches nothing, or no image / video is found at all.
    """
    if isinstance(source, (list, tuple)):
        files = [f for entry in source for f in expand_source(entry)]
    else:
        path = Path(str(source)).expanduser()  # str: a camera index given as an int gets its message too
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if _is_media(p))
        elif path.is_file():
            files = [path]
        elif kind := _unsupported_kind(str(source)):
            raise DataError(f"{source}: {kind} is not a supported source; predict reads image and video files, "
                            "folders and globs")
        elif any(ch in str(source) for ch in "*?["):
            files = sorted(p for p in map(Path, glob.glob(str(path), recursive=True)) if _is_media(p))
        else:
            raise DataError(f"{source}: no such file or folder")
    if not files:
        raise DataError(f"{source}: no images or videos found")
    return files


def count_frames(paths: Iterable[Path]) -> int:
    """Expected number of results: 1 per image plus each video's frame count (as its container reports it)."""
    total = 0
    for p in paths:
        if is_video_file(p):
            capture = cv2.VideoCapture(str(p))
            total += max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            capture.release()
        else:
            total += 1
    return total


def _log_skip(path: str, reason: str) -> None:
    LOGGER.warning("%s: skipped (%s)", path, reason)


def _video_frames(path: Path, on_skip: SkipFn) -> Iterator[Frame]:
    """Frames of a video, in order; reports a video that cannot be opened or yields no frame."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            on_skip(str(path), "cannot open video")
            return
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            yield Frame(str(path), index, image)
            index += 1
        if index == 0:
            on_skip(str(path), "no frame could be decoded")
    finally:
        capture.release()


def iter_frames(paths: Iterable[Path], on_skip: SkipFn = _log_skip) -> Iterator[Frame]:
    """Decode ``paths`` one by one: images whole, videos frame by frame; unreadable files go to ``on_skip``."""
    for path in paths:
        if is_video_file(path):
            yield from _video_frames(path, on_skip)
            continue
        try:
            yield Frame(str(path), None, read_image(path))
        except ImageReadError as exc:
            on_skip(str(path), str(exc))


def _batches(items: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def predict(
    model: torch.nn.Module | str | Path,
    source: Source,
    *,
    imgsz: int = 640,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    device: str | torch.device = "cpu",
    batch: int = 8,
    agnostic: bool = False,
    classes: Sequence[int] | None = None,
    on_skip: SkipFn | None = None,
) -> Iterator[Any]:
    """Run the model on every image / video frame of ``source``, lazily: one result per input (detection: a
    :class:`DetectResult`; segmentation and classification: their tasks' result classes).

    Args:
        model: a model (its task turns predictions into results), a checkpoint path or a config name (see
            :func:`~focalyolo.deploy.inference.load_inference_model`).
        source: an image, a folder, a glob, a video, or a list of those (see :func:`expand_source`).
        imgsz: long side of the network input (rounded up to a multiple of the model's largest stride, with a
            warning: :func:`~focalyolo.cfg.imgsz.stride_multiple`).
        conf, iou, max_det: NMS settings (one class per box).
        device: ``"cpu"``, ``"0"``, ``"cuda:1"`` or a torch.device; the model is moved there.
        batch: images per forward pass.
        agnostic: NMS across classes.
        classes: keep only these class ids.
        on_skip: called as ``on_skip(path, reason)`` for each unreadable file (default: a logged warning).

    Yields:
        Results in input order, boxes in original-image pixels. Nothing is written to disk.
    """
    device = device if isinstance(device, torch.device) else select_device(device)
    if not isinstance(model, torch.nn.Module):
        model = load_inference_model(model, device)
    stride = int(model.stride.max())
    imgsz = stride_multiple(imgsz, stride)
    frames = iter_frames(expand_source(source), on_skip or _log_skip)
    was_training = model.training
    model.to(device).eval()
    task = task_of(model)
    settings = PredictSettings(imgsz=imgsz, stride=stride, names=list(model.names), conf=conf, iou=iou,
                               max_det=max_det, classes=classes, agnostic=agnostic,
                               model_options=task.predict_options(model))
    try:
        for chunk in _batches(frames, batch):
            t0 = device_clock(device)
            x, layouts = task.preprocess([f.image for f in chunk], settings)
            x = x.to(device).float() / 255
            t1 = device_clock(device)
            with torch.no_grad():
                preds = model(x)
            t2 = device_clock(device)
            speed: dict[str, float] = {}
            results = task.postprocess(preds, PredictBatch(chunk, tuple(x.shape[2:]), layouts, speed), settings)
            t3 = device_clock(device)
            speed.update({k: 1000 * dt / len(chunk) for k, dt in zip(("preprocess", "inference", "postprocess"),
                                                                      (t1 - t0, t2 - t1, t3 - t2))})
            yield from results
    finally:
        model.train(was_training)


class PredictRun:
    """The ``predict`` job (``focalyolo predict`` and ``YOLO.predict``): iterate it for one :class:`DetectResult` per
    image or video frame; as it goes it saves annotated images / videos, label files and predictions.json as
    ``cfg`` asks, shows a progress bar (``cfg.verbose``) and reports unreadable files. Afterwards
    :meth:`summary` gives the counts and timings. The image size defaults to the model's training run.
    ``model`` (a module) replaces ``cfg.model``; ``source`` (e.g. a list of paths) replaces ``cfg.source``.
    """

    def __init__(self, cfg: PredictConfig, model: torch.nn.Module | None = None, source: Source | None = None):
        source = source if source is not None else cfg.source
        if source is None:
            raise FocalYoloError("predict needs a source (--source): an image, folder, glob or video")
        if model is None and cfg.model is None:
            raise FocalYoloError("predict needs a model (--model)")
        self.device = select_device(cfg.device)
        configure_threads(cfg.threads)
        self.paths = expand_source(source)
        self.model = load_inference_model(model if model is not None else cfg.model, self.device)
        self.cfg = inference_config(cfg, self.model)
        self.save_dir: Path | None = None
        if cfg.save or cfg.save_txt or cfg.save_json:
            self.save_dir = increment_path(Path(cfg.project) / cfg.name, cfg.exist_ok, mkdir=True)
        self.counts = {"images": 0, "frames": 0, "skipped": 0}
        self.ms = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}

    def __iter__(self) -> Iterator[Any]:
        cfg = self.cfg
        writer = (ResultWriter(self.save_dir, cfg.save_txt, cfg.save_json, coco_category_map(self.model.names),
                               save_images=cfg.save) if self.save_dir is not None else None)
        with tqdm(total=count_frames(self.paths), desc="predict", unit="img", dynamic_ncols=True,
                  disable=not cfg.verbose) as bar:

            def skip(path: str, reason: str) -> None:
                self.counts["skipped"] += 1
                LOGGER.warning("%s: skipped (%s)", path, reason)
                bar.update(1)

            try:
                for result in predict(self.model, self.paths, imgsz=cfg.imgsz, conf=cfg.conf, iou=cfg.iou,
                                      max_det=cfg.max_det, device=self.device, batch=cfg.batch,
                                      agnostic=cfg.agnostic_nms, classes=cfg.classes, on_skip=skip):
                    if writer is not None:
                        writer.write(result)
                    bar.update(1)
                    if cfg.verbose:
                        frame = "" if result.frame is None else f" frame {result.frame}"
                        bar.write(f"{result.path}{frame}: {result.describe()}")
                    self.counts["frames" if result.frame is not None else "images"] += 1
                    if hasattr(result, "boxes"):  # a classifier's results count no detections
                        self.counts["detections"] = self.counts.get("detections", 0) + len(result)
                    self.ms = {k: v + result.speed[k] for k, v in self.ms.items()}
                    yield result
            finally:
                if writer is not None:
                    writer.close()
        if cfg.verbose:
            LOGGER.info(self.summary())

    def summary(self) -> str:
        """``3 images, 0 video frames, 0 skipped, 12 detections; 41.0 ms/image (...); saved to runs/predict/exp``
        (a classifier's run has no detection count)."""
        c, ms = self.counts, self.ms
        n = max(c["images"] + c["frames"], 1)
        saved = f"; saved to {self.save_dir}" if self.save_dir is not None else ""
        detections = f", {c['detections']} detections" if "detections" in c else ""
        return (f"{c['images']} images, {c['frames']} video frames, {c['skipped']} skipped{detections}; "
                f"{sum(ms.values()) / n:.1f} ms/image ({ms['preprocess'] / n:.1f} preprocess, "
                f"{ms['inference'] / n:.1f} inference, {ms['postprocess'] / n:.1f} postprocess) at imgsz "
                f"{self.cfg.imgsz}{saved}")
