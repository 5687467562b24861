"""File-system conventions of a YOLO dataset: image suffixes, image -> label paths, the cache home."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["IMG_SUFFIXES", "focalyolo_home", "img2label_path", "is_image_file"]

IMG_SUFFIXES = frozenset({".bmp", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp"})


def is_image_file(path: Path) -> bool:
    """True when the suffix (any case) names an image format the loader reads."""
    return path.suffix.lower() in IMG_SUFFIXES


def img2label_path(img_path: str | Path) -> Path:
    """Label file of an image: the last ``/images/`` folder becomes ``/labels/`` and the suffix ``.txt``.

    ``data/images/train/a.jpg`` -> ``data/labels/train/a.txt``. An image not under an ``images`` folder
    gets its label file beside it (``a.jpg`` -> ``a.txt``), as in the Ultralytics convention.
    """
    parts = list(Path(img_path).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def focalyolo_home() -> Path:
    """Where generated datasets and caches live: ``$FOCALYOLO_HOME`` or ``~/.cache/focalyolo``."""
    env = os.environ.get("FOCALYOLO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "focalyolo"
