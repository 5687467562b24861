"""Reading images robustly: any bit depth, channel count or container, EXIF orientation applied.

OpenCV decodes from the file's bytes (so a PNG saved as ``.jpg`` still works, and non-ASCII paths are
fine), converts grayscale / 16-bit / CMYK to 8-bit BGR and applies the EXIF orientation. Pillow is the
fallback for what OpenCV cannot decode. :func:`inspect_image` is the cheap check the label scan runs on
every file once.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageReadError", "decode_image", "inspect_image", "read_image"]

_EXIF_ORIENTATION = 0x0112
_SWAPS_SIDES = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90 degrees


class ImageReadError(Exception):
    """One image file cannot be decoded; the dataset skips it (never raised out of the data module)."""


def decode_image(data: bytes) -> np.ndarray:
    """Decode image bytes into an (H, W, 3) uint8 BGR array with the EXIF orientation applied."""
    if not data:
        raise ImageReadError("zero-byte file")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is not None:
        return img
    try:
        with Image.open(io.BytesIO(data)) as pil:
            rgb = np.asarray(ImageOps.exif_transpose(pil).convert("RGB"))
    except UnidentifiedImageError as exc:  # its message names the in-memory buffer, not the file
        raise ImageReadError("not an image (unknown format)") from exc
    except Exception as exc:  # Pillow raises many exception types for broken files
        raise ImageReadError(f"cannot decode ({type(exc).__name__}: {exc})") from exc
    return np.ascontiguousarray(rgb[..., ::-1])


def read_image(path: str | Path) -> np.ndarray:
    """Read a file into an (H, W, 3) uint8 BGR array; raises :class:`ImageReadError` if unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageReadError(f"cannot read ({exc.strerror})") from exc
    return decode_image(data)


def inspect_image(path: str | Path) -> tuple[int, int]:
    """Validate an image cheaply and return its (height, width) after EXIF orientation.

    Pillow reads the header (size, orientation) and checks the container; OpenCV then decodes the
    stream at 1/8 resolution, which walks every JPEG block at a fraction of the full cost, so truncated
    or garbage files are caught here rather than in a training worker.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageReadError(f"cannot read ({exc.strerror})") from exc
    if not data:
        raise ImageReadError("zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as pil:
            pil.verify()
        with Image.open(io.BytesIO(data)) as pil:  # verify() leaves the image unusable: reopen
            w, h = pil.size
            orientation = pil.getexif().get(_EXIF_ORIENTATION, 1)
    except UnidentifiedImageError as exc:
        raise ImageReadError("not an image (unknown format)") from exc
    except Exception as exc:  # Pillow raises many exception types for broken files
        raise ImageReadError(f"broken image ({exc})") from exc
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[2:]:  # trailers after the marker are fine
        raise ImageReadError("truncated JPEG (no end-of-image marker)")
    if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
        decode_image(data)  # OpenCV cannot read this format: the Pillow fallback must succeed
    if w < 2 or h < 2:
        raise ImageReadError(f"image too small ({w}x{h})")
    return (w, h) if orientation in _SWAPS_SIDES else (h, w)
