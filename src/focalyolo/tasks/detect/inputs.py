"""Detection's network input: each image letterboxed to the stride (long side ``imgsz``), the batch padded to its
largest member at the bottom / right (which leaves every image's letterbox offsets unchanged)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ...data.augment import FILL, letterbox

__all__ = ["RatioPad", "letterbox_batch", "letterbox_to_stride"]

RatioPad = tuple[tuple[float, float], tuple[float, float]]


def letterbox_to_stride(img: np.ndarray, imgsz: int, stride: int) -> tuple[np.ndarray, RatioPad]:
    """Resize (h, w, 3) ``img`` so its long side is ``imgsz`` (a stride multiple) and pad the short side,
    centred, to the next multiple of ``stride``.

    Returns:
        The letterboxed image and its ((gain_h, gain_w), (pad_w, pad_h)) for :func:`scale_boxes`.
    """
    h, w = img.shape[:2]
    r = imgsz / max(h, w)
    shape = tuple(math.ceil(max(round(s * r), 1) / stride) * stride for s in (h, w))
    boxed, gains, pads = letterbox(img, shape, scaleup=True)
    return boxed, (gains, pads)


def letterbox_batch(images: Sequence[np.ndarray], imgsz: int, stride: int) -> tuple[torch.Tensor, list[RatioPad]]:
    """BGR images -> (B, 3, H, W) uint8 RGB batch (each letterboxed, then padded bottom / right to the
    largest) and each image's ratio_pad."""
    boxed, ratio_pads = zip(*(letterbox_to_stride(im, imgsz, stride) for im in images))
    h, w = max(b.shape[0] for b in boxed), max(b.shape[1] for b in boxed)
    canvas = np.full((len(boxed), h, w, 3), FILL, np.uint8)
    for i, b in enumerate(boxed):
        canvas[i, : b.shape[0], : b.shape[1]] = b
    return torch.from_numpy(np.ascontiguousarray(canvas[..., ::-1].transpose(0, 3, 1, 2))), list(ratio_pads)
