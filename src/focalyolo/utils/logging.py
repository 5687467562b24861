"""The package logger: plain messages, configured once by the command line or the YOLO API.

Information (progress lines, result tables) goes to stdout, warnings and errors to stderr, so a command's output
can be piped while its problems stay on the terminal.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["setup_logging"]


class _CurrentStreamHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` (information) or ``sys.stderr`` (warnings, errors) is at the time of
    each message (tests and notebooks swap them)."""

    def emit(self, record: logging.LogRecord) -> None:
        self._level = record.levelno
        super().emit(record)

    @property
    def stream(self) -> TextIO:
        return sys.stderr if getattr(self, "_level", logging.WARNING) >= logging.WARNING else sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignore the stream StreamHandler's constructor stores."""


def setup_logging(level: int = logging.INFO) -> logging.Logger:
    """Attach one handler (stdout for information, stderr for problems) to the ``focalyolo`` logger
    (idempotent) and return it."""
    logger = logging.getLogger("focalyolo")
    if not any(isinstance(h, _CurrentStreamHandler) for h in logger.handlers):
        handler = _CurrentStreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
    return logger
