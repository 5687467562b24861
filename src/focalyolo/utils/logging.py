"""The package logger: plain messages on stderr, configured once by the command line or the YOLO API."""

from __future__ import annotations

import logging


def setup_logging(level: int = logging.INFO) -> logging.Logger:
    """Attach one stderr handler to the ``focalyolo`` logger (idempotent) and return it."""
    logger = logging.getLogger("focalyolo")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
    return logger
