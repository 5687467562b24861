"""The package logger: plain messages on stderr, configured once by the command line or the YOLO API."""

from __future__ import annotations

import logging
import sys
from typing import TextIO


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each message (tests and notebooks swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignore the stream StreamHandler's constructor stores."""


def setup_logging(level: int = logging.INFO) -> logging.Logger:
    """Attach one stderr handler to the ``focalyolo`` logger (idempotent) and return it."""
    logger = logging.getLogger("focalyolo")
    if not any(isinstance(h, _CurrentStderrHandler) for h in logger.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
    return logger
