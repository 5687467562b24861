"""Image sizes: the default of the inference commands, and the one rule for a size that is not a stride multiple.

A training run's default size depends on the task and the data (:meth:`focalyolo.tasks.Task.default_imgsz`: a
short run on the built-in synthetic sets, the usual recipe otherwise); ``val``, ``predict`` and ``export`` take the
size the checkpoint was trained with, else :data:`INFERENCE_IMGSZ`. Whatever the command (train, val, predict,
export, benchmark), a size that is not a multiple of the model's largest stride is rounded up to the next one by
:func:`stride_multiple`, with one warning naming the given and the used size; the caller carries the used size on
(the given configuration is not changed).
"""

from __future__ import annotations

import logging

from ..errors import ConfigError

__all__ = ["INFERENCE_IMGSZ", "stride_multiple"]

LOGGER = logging.getLogger("focalyolo")

INFERENCE_IMGSZ = 640
"""``val`` / ``predict`` / ``export`` size of a model whose checkpoint records no training size."""


def stride_multiple(imgsz: int, stride: int) -> int:
    """``imgsz`` rounded up to the next multiple of ``stride`` (the model's largest), with one warning line when it
    changes; ConfigError for a size below 1."""
    if imgsz < 1:
        raise ConfigError(f"imgsz {imgsz}: must be a positive number of pixels")
    used = -(-imgsz // stride) * stride
    if used != imgsz:
        LOGGER.warning(f"imgsz {imgsz} is not a multiple of the model's stride {stride}: using {used}")
    return used
