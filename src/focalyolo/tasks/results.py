"""What a prediction holds, in the shapes users of Ultralytics reach for: :class:`Boxes`, :class:`Masks`,
:class:`Keypoints` and :class:`Probs` (one array, ``data``, with named views of it), and :class:`ImageResult`, what
every task's result shares (the source, the image, class names, timings, ``save`` and ``to_json``).

Each container wraps a torch tensor or, after :meth:`Tensors.numpy`, a numpy array; the views work on both.
Indexing a detection container with an int, a slice, a list or a boolean mask selects detections (an int keeps
the first axis: ``boxes[0]`` is a :class:`Boxes` of one row).

Results used to hold bare tensors (``result.boxes`` (n, 4) xyxy, ``result.masks``, ``result.keypoints``,
``result.probs``). Until the next release what those tensors did still works, with one ``FutureWarning`` per
spelling: indexing on two axes (``result.boxes[:, :4]``), tensor attributes and methods (``result.masks.dtype``,
``result.probs.sum()``) and numpy conversion (``np.asarray(result.boxes.numpy())``) reach the tensor the field
used to be.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from ..errors import FocalYoloError
from ..utils.masks import masks_to_polygons

__all__ = ["Boxes", "ImageResult", "Keypoints", "Masks", "Probs", "Tensors", "warn_deprecated"]

Array = torch.Tensor | np.ndarray

_WARNED: set[str] = set()


def warn_deprecated(old: str, new: str) -> None:
    """Warn (``FutureWarning``, once per process for each ``old`` spelling) that ``old`` goes in the next release
    and ``new`` replaces it."""
    if old not in _WARNED:
        _WARNED.add(old)
        warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}", FutureWarning,
                      stacklevel=3)


def _scaled(x: Array, factors: Sequence[float]) -> Array:
    """``x`` divided by ``factors`` along its last axis, as a new array of ``x``'s kind, dtype and device."""
    if isinstance(x, torch.Tensor):
        return x / torch.tensor(factors, dtype=x.dtype, device=x.device)
    return x / np.asarray(factors, x.dtype)


def _rows(index: Any, data: Array) -> Any:
    """``index`` as a row selection of ``data`` that keeps the first axis (an int becomes a one-item list), a
    tensor index turned into an array for numpy data and the other way round."""
    if isinstance(index, (int, np.integer)):
        return [int(index)]
    if isinstance(data, np.ndarray) and isinstance(index, torch.Tensor):
        return index.cpu().numpy()
    if isinstance(data, torch.Tensor) and isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    return index


class Tensors:
    """One array of per-detection rows (``data``, first axis = detection) and the original image's (h, w).

    ``field`` names the result attribute in deprecation messages; :meth:`legacy` is the bare tensor that
    attribute held before, and ``legacy_view`` the name of the view that gives it now.
    """

    field = "result.data"
    legacy_view = "data"

    def __init__(self, data: Array, orig_shape: Sequence[int]) -> None:
        self.data = data
        self.orig_shape = (int(orig_shape[0]), int(orig_shape[1]))

    def legacy(self) -> Array:
        """What the result's field held before it became this object."""
        return self.data

    @property
    def shape(self) -> tuple[int, ...]:
        """``data``'s shape."""
        return tuple(self.data.shape)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: Any) -> Any:
        """The selected detections as the same kind of object; a tuple (two axes) indexes the old bare tensor."""
        if isinstance(index, tuple):
            warn_deprecated(f"{self.field}[...] on two axes", f"{self.field}.{self.legacy_view}[...]")
            return self.legacy()[index]
        return self._with(self.data[_rows(index, self.data)])

    def __getattr__(self, name: str) -> Any:
        """Attributes of the old bare tensor (``.dtype``, ``.round()``, ...), with a deprecation warning."""
        if name.startswith("_") or "data" not in self.__dict__:
            raise AttributeError(name)
        legacy = self.legacy()
        if not hasattr(legacy, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        warn_deprecated(f"{self.field}.{name}", f"{self.field}.{self.legacy_view}.{name}")
        return getattr(legacy, name)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The old bare tensor as a numpy array (``np.asarray(result.boxes.numpy())``), with a deprecation warning."""
        warn_deprecated(f"np.asarray({self.field})", f"{self.field}.{self.legacy_view}")
        legacy = self.legacy()
        return np.asarray(legacy.detach().cpu() if isinstance(legacy, torch.Tensor) else legacy, dtype)

    def _with(self, data: Array) -> Any:
        other = copy.copy(self)
        other.data = data
        return other

    def cpu(self) -> Any:
        """A copy whose ``data`` is on the CPU."""
        return self._with(self.data.cpu() if isinstance(self.data, torch.Tensor) else self.data)

    def numpy(self) -> Any:
        """A copy whose ``data`` is a numpy array."""
        return self._with(self.data.detach().cpu().numpy() if isinstance(self.data, torch.Tensor) else self.data)

    def to(self, *args: Any, **kwargs: Any) -> Any:
        """A copy whose ``data`` is a tensor moved / cast as ``torch.Tensor.to(*args, **kwargs)``."""
        return self._with(torch.as_tensor(self.data).to(*args, **kwargs))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(data={self.data!r}, orig_shape={self.orig_shape})"


class Boxes(Tensors):
    """Detected boxes: ``data`` (n, 6) [x1, y1, x2, y2, conf, cls] in original-image pixels, best score first.

    Views: ``xyxy``, ``xywh`` (centre, size) (n, 4) pixels; ``xyxyn``, ``xywhn`` the same divided by the image's
    width and height; ``conf`` (n,); ``cls`` (n,) class ids (as floats, like ``data``).
    """

    field, legacy_view = "result.boxes", "xyxy"

    def legacy(self) -> Array:
        return self.xyxy

    @property
    def xyxy(self) -> Array:
        """(n, 4) x1, y1, x2, y2 pixels."""
        return self.data[:, :4]

    @property
    def conf(self) -> Array:
        """(n,) confidences."""
        return self.data[:, 4]

    @property
    def cls(self) -> Array:
        """(n,) class ids."""
        return self.data[:, 5]

    @property
    def xywh(self) -> Array:
        """(n, 4) centre x, centre y, width, height pixels."""
        xyxy = self.xyxy
        xywh = xyxy.clone() if isinstance(xyxy, torch.Tensor) else xyxy.copy()
        xywh[:, :2] = (xyxy[:, :2] + xyxy[:, 2:]) / 2
        xywh[:, 2:] = xyxy[:, 2:] - xyxy[:, :2]
        return xywh

    @property
    def xyxyn(self) -> Array:
        """(n, 4) ``xyxy`` divided by the image's (w, h, w, h)."""
        h, w = self.orig_shape
        return _scaled(self.xyxy, (w, h, w, h))

    @property
    def xywhn(self) -> Array:
        """(n, 4) ``xywh`` divided by the image's (w, h, w, h)."""
        h, w = self.orig_shape
        return _scaled(self.xywh, (w, h, w, h))


class Masks(Tensors):
    """Instance masks: ``data`` (n, h, w) bool over the original image, each cropped to its box.

    Views: ``xy`` each mask's outline (its largest contour) as (k, 2) float32 x, y pixels ((0, 2) for an empty
    mask); ``xyn`` the same divided by the image's (w, h).
    """

    field = "result.masks"

    @property
    def xy(self) -> list[np.ndarray]:
        """Each mask's outline, (k, 2) float32 pixels."""
        return masks_to_polygons(self.data)

    @property
    def xyn(self) -> list[np.ndarray]:
        """Each mask's outline, (k, 2) float32 divided by the image's (w, h)."""
        h, w = self.orig_shape
        return [_scaled(polygon, (w, h)) for polygon in self.xy]


class Keypoints(Tensors):
    """Keypoints: ``data`` (n, nk, 3) x, y in original-image pixels and the visibility probability (1 for models
    of 2-value keypoints).

    Views: ``xy`` (n, nk, 2) pixels; ``xyn`` the same divided by the image's (w, h); ``conf`` (n, nk).
    """

    field = "result.keypoints"

    @property
    def xy(self) -> Array:
        """(n, nk, 2) x, y pixels."""
        return self.data[..., :2]

    @property
    def xyn(self) -> Array:
        """(n, nk, 2) x, y divided by the image's (w, h)."""
        h, w = self.orig_shape
        return _scaled(self.xy, (w, h))

    @property
    def conf(self) -> Array:
        """(n, nk) visibility probabilities."""
        return self.data[..., 2]


class Probs(Tensors):
    """A classifier's answer: ``data`` (nc,) class probabilities summing to 1.

    Views: ``top1`` the most probable class id, ``top5`` the (up to) five most probable, most probable first;
    ``top1conf`` and ``top5conf`` their probabilities. Indexing is the old tensor's (deprecated): use ``data[c]``.
    """

    field = "result.probs"

    def __getitem__(self, index: Any) -> Any:
        warn_deprecated(f"{self.field}[...]", f"{self.field}.data[...]")
        return self.data[index]

    @property
    def top5(self) -> list[int]:
        """The (up to) five most probable class ids, most probable first (ties: lower id first)."""
        if isinstance(self.data, torch.Tensor):
            order = torch.argsort(self.data, descending=True, stable=True)
        else:
            order = np.argsort(-self.data, kind="stable")
        return [int(c) for c in order[:5]]

    @property
    def top1(self) -> int:
        """The most probable class id."""
        return self.top5[0]

    @property
    def top1conf(self) -> Array:
        """The probability of ``top1`` (a 0-d array)."""
        return self.data[self.top1]

    @property
    def top5conf(self) -> Array:
        """(5,) the probabilities of ``top5``."""
        return self.data[self.top5]


class ImageResult:
    """What every task's result of one image (``frame`` None) or video frame has.

    Attributes:
        path: the source file.
        frame: 0-based frame index in a video, None for an image.
        orig_shape: (h, w) of the original image.
        names: class names, index = class id.
        orig_img: the original (h, w, 3) uint8 BGR image (for :meth:`plot`).
        speed: ms per image of its batch for ``preprocess``, ``inference`` and ``postprocess``.
    """

    def __init__(self, path: str, frame: int | None, orig_shape: Sequence[int], names: Sequence[str],
                 orig_img: np.ndarray, speed: dict[str, float] | None = None) -> None:
        self.path, self.frame = path, frame
        self.orig_shape = (int(orig_shape[0]), int(orig_shape[1]))
        self.names, self.orig_img = names, orig_img
        self.speed = speed if speed is not None else {}

    def _name(self, c: int) -> str:
        """Class ``c``'s name (its id as text when the model names fewer classes)."""
        return self.names[c] if c < len(self.names) else str(c)

    def describe(self) -> str:
        """One line saying what the image holds."""
        raise NotImplementedError

    def plot(self) -> np.ndarray:
        """A copy of the original image with the result drawn on it (BGR uint8)."""
        raise NotImplementedError

    def summary(self, normalize: bool = False, decimals: int = 5) -> list[dict]:
        """The result as plain rows (numbers rounded to ``decimals``; coordinates divided by the image size when
        ``normalize``)."""
        raise NotImplementedError

    def to_json(self, normalize: bool = False, decimals: int = 5) -> str:
        """:meth:`summary` as a JSON list."""
        return json.dumps(self.summary(normalize, decimals), indent=2)

    def save(self, filename: str | Path) -> Path:
        """Write :meth:`plot` to ``filename`` (its suffix picks the format: .jpg, .png, ...; folders are made).

        Raises:
            FocalYoloError: OpenCV cannot write that file.
        """
        path = Path(filename)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            written = cv2.imwrite(str(path), self.plot())
        except cv2.error:
            written = False
        if not written:
            raise FocalYoloError(f"{path}: cannot write the image (is {path.suffix or 'no suffix'} an image format?)")
        return path

    def __repr__(self) -> str:
        frame = "" if self.frame is None else f", frame {self.frame}"
        return f"{type(self).__name__}({self.path!r}{frame}: {self.describe()})"
