"""Image sizes: the default of every command in one table, and the one rule for a size that is not a stride multiple.

A training run's default size depends on the task and the data (:data:`TRAIN_IMGSZ`: a short run on the built-in
synthetic sets, the usual recipe otherwise); ``val``, ``predict`` and ``export`` take the size the checkpoint was
trained with, else :data:`INFERENCE_IMGSZ`. Whatever the command (train, val, predict, export, benchmark), a size
that is not a multiple of the model's largest stride is rounded up to the next one by :func:`stride_multiple`, with
one warning naming the given and the used size; the caller carries the used size on (the given configuration is not
changed).
"""

from __future__ import annotations

import logging

from ..errors import ConfigError
from .schema import SYNTHETIC_DATA

__all__ = ["INFERENCE_IMGSZ", "TRAIN_IMGSZ", "stride_multiple", "train_imgsz"]

LOGGER = logging.getLogger("focalyolo")

TRAIN_IMGSZ: dict[str, tuple[int, int]] = {
    "detect": (160, 640),
    "segment": (160, 640),
    "pose": (160, 640),
    "classify": (96, 224),
    "obb": (160, 1024),
}
"""Task -> (default training size on the built-in synthetic sets, default on other data). A classifier's synthetic
images are 96 pixels; on other data it trains at ImageNet's 224. Oriented boxes train at 1024 on other data (DOTA's
usual size: small objects in large scenes)."""

INFERENCE_IMGSZ = 640
"""``val`` / ``predict`` / ``export`` size of a model whose checkpoint records no training size."""


def train_imgsz(task: str, data: str) -> int:
    """The default training size of a ``task`` model on ``data`` (:data:`TRAIN_IMGSZ`)."""
    on_synthetic, otherwise = TRAIN_IMGSZ[task]
    return on_synthetic if str(data) in SYNTHETIC_DATA else otherwise


def stride_multiple(imgsz: int, stride: int) -> int:
    """``imgsz`` rounded up to the next multiple of ``stride`` (the model's largest), with one warning line when it
    changes; ConfigError for a size below 1."""
    if imgsz < 1:
        raise ConfigError(f"imgsz {imgsz}: must be a positive number of pixels")
    used = -(-imgsz // stride) * stride
    if used != imgsz:
        LOGGER.warning(f"imgsz {imgsz} is not a multiple of the model's stride {stride}: using {used}")
    return used
