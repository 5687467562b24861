"""DOTA label files -> OBB label rows, written once beside the images so the usual image -> label rule applies.

DOTA keeps ``<split>/images/<name>.png`` and ``<split>/labelTxt/<name>.txt``; a label line is
``x1 y1 x2 y2 x3 y3 x4 y4 class-name difficult`` in pixels, after optional header lines (``imagesource:...``,
``gsd:...``). :func:`convert_dota_labels` writes ``<split>/labels/<name>.txt`` with the OBB rows
``class x1 y1 ... x4 y4`` (corners normalised by the image size, the class the index of its name in the data
YAML's ``names``) for every image whose DOTA file is newer than its OBB file, so it runs once per change. Difficult
objects are kept (the flag is not part of the row); a line whose name is not in ``names`` is a :class:`DataError`
naming the file, so a misspelt class is never dropped silently.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..errors import DataError
from .paths import img2label_path
from .rotated_boxes import corner_rows

LOGGER = logging.getLogger("focalyolo")

__all__ = ["DOTA_LABEL_DIR", "convert_dota_labels", "dota_label_path", "parse_dota"]

DOTA_LABEL_DIR = "labelTxt"
"""The folder beside ``images`` that holds DOTA's label files."""


def dota_label_path(image: Path) -> Path:
    """The DOTA label file of an image: ``.../images/a.png`` -> ``.../labelTxt/a.txt``."""
    return image.parent.parent / DOTA_LABEL_DIR / image.with_suffix(".txt").name


def parse_dota(text: str, names: Sequence[str], source: str) -> tuple[np.ndarray, np.ndarray]:
    """A DOTA label file's text -> (n,) int64 class indices and (n, 4, 2) float64 pixel corners; header lines
    (``imagesource:``, ``gsd:``) and blank lines are skipped, a line of another form or an unknown name is a
    :class:`DataError` naming ``source``."""
    index = {name: i for i, name in enumerate(names)}
    classes, corners = [], []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or ":" in fields[0]:
            continue
        try:
            xy = [float(v) for v in fields[:8]]
        except ValueError:
            xy = []
        if len(fields) not in (9, 10) or len(xy) != 8:
            raise DataError(f"{source}:{number}: not a DOTA line (x1 y1 ... x4 y4 name [difficult]): {line.strip()!r}")
        if fields[8] not in index:
            raise DataError(f"{source}:{number}: class {fields[8]!r} is not in the data YAML's names")
        classes.append(index[fields[8]])
        corners.append(xy)
    return np.array(classes, np.int64), np.array(corners, np.float64).reshape(-1, 4, 2)


def convert_dota_labels(images: Sequence[str | Path], names: Sequence[str]) -> int:
    """Write the OBB label file of each image that has a DOTA label file newer than it (see the module
    docstring); returns how many were written (one INFO line when any)."""
    written = 0
    for image in map(Path, images):
        dota, out = dota_label_path(image), img2label_path(image)
        if not dota.is_file() or (out.is_file() and out.stat().st_mtime >= dota.stat().st_mtime):
            continue
        classes, corners = parse_dota(dota.read_text(), names, str(dota))
        with Image.open(image) as img:
            size = np.array(img.size, np.float64)  # (w, h), read from the header only
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(corner_rows(classes, corners / size))
        written += 1
    if written:
        LOGGER.info(f"DOTA: converted {written} label file(s) to OBB rows (in {out.parent})")
    return written
