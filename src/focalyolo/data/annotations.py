"""One image's labels as one object: class ids and boxes, plus what each annotation kind adds per object.

An :class:`Annotations` holds ``cls`` (N,) float32 class ids, ``boxes`` (N, 4) xyxy in pixels of the current image
(float32; float64 straight after :meth:`Annotations.transform`, until the caller selects and casts) and ``extras``:
one value per annotation kind, keyed by the kind's name, each holding one entry per object in row order (polygons:
a list of (k, 2) arrays; keypoints: an (N, nk, 3) array). The augmentations move an :class:`Annotations` through
its methods (:meth:`~Annotations.select`, :meth:`~Annotations.shift`, :meth:`~Annotations.transform`,
:meth:`~Annotations.flip`, :meth:`~Annotations.crop`, :meth:`~Annotations.concat`), which hand each extra to its
kind, so they never name a kind.

An :class:`AnnotationKind` says how its values are read (label rows, scan cache), moved and batched; every step
has a default fit for a value that is just one entry per object and does not move with the pixels (an (N,) array,
say). Kinds are registered by name (:func:`register_annotation_kind`), so one can be added from outside the
package; polygons (:mod:`.polygons`), keypoints (:mod:`.keypoints`) and rotated boxes (:mod:`.rotated_boxes`) are
the built-in ones. :mod:`.dataset` turns a kind's values into sample entries (:meth:`AnnotationKind.sample`) and
batch entries (:meth:`AnnotationKind.collate`).
"""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch

from ..errors import DataError
from .geometry import transform_boxes

__all__ = [
    "ANNOTATION_KINDS", "AnnotationKind", "Annotations", "LabelRows", "annotation_kind", "box_row_text",
    "register_annotation_kind",
]


@dataclass
class LabelRows:
    """One label file's rows as a kind reads them (:meth:`AnnotationKind.parse_rows`).

    Attributes:
        rows: (n, 5) float64 [cls, cx, cy, w, h] of the rows of the kind's form.
        value: the kind's entries of those rows.
        finite: (n, m) further values of each row that must be finite (else the row is dropped), or None.
        bad_columns: the value count of each row of another form (dropped).
    """

    rows: np.ndarray
    value: Any
    finite: np.ndarray | None
    bad_columns: list[int]


class AnnotationKind(ABC):
    """What one kind of per-object annotation does at each step of the data pipeline.

    ``value`` below is the kind's value for one image: one entry per label row, in row order, normalised to the
    image in a dataset's store and in pixels of the current image inside the pipeline. Subclasses set
    :attr:`name` and override the steps their values take part in; the defaults leave a value unchanged by
    geometry, select and concatenate it per object, and batch it as ``{name: tensor}`` in ``targets`` order.
    """

    name: ClassVar[str] = ""
    """The kind's key in :attr:`Annotations.extras`, in a dataset's :attr:`~YOLODataset.extras` and in the
    registry."""

    def checked(self, source: str, flips: bool) -> AnnotationKind:
        """This kind with its settings checked for a dataset at ``source`` (named by a :class:`DataError`) that
        mirrors images when ``flips``."""
        return self

    def row_format(self) -> str | None:
        """The form of the label rows this kind reads (part of the scan cache key), or None when it reads none. A
        dataset's rows are read by its one kind with a row format, else as box and polygon rows
        (:class:`~focalyolo.data.polygons.Polygons`)."""
        return None

    def parse_rows(self, rows: list[np.ndarray]) -> LabelRows:
        """One label file's rows, each the (k,) float64 values of a line, as this kind reads them (only called on
        a kind with a :meth:`row_format`)."""
        raise NotImplementedError(f"annotation kind {self.name!r} reads no label rows")

    def column_note(self, found: list[int]) -> str:
        """What rows of another form (their value counts ``found``) are dropped for, in the label file's notes."""
        return f"with a wrong column count ({', '.join(map(str, sorted(set(found))))} values)"

    def coco_row(self, row: np.ndarray, annotation: Mapping[str, Any], size: tuple[float, float]) -> tuple[str, bool]:
        """The label line this kind writes for a COCO ``annotation`` whose (5,) [cls, cx, cy, w, h] box ``row`` is
        normalised to an image of ``size`` (w, h), and whether the annotation's own data for it was usable (only
        called on a kind that reads rows; the default writes none)."""
        raise NotImplementedError(f"annotation kind {self.name!r} writes no COCO label rows")

    def coco_problem(self) -> str:
        """What an annotation :meth:`coco_row` found unusable has, and what became of it (for one warning)."""
        return f"unusable {self.name}"

    def kept_rows(self, value: Any, index: np.ndarray) -> Any:
        """The parsed ``value`` of the rows at the integer ``index`` that validation kept, as stored (normalised)."""
        return self.select(value, index)

    def pack(self, values: list[Any]) -> dict[str, np.ndarray]:
        """Per image values as plain arrays for the scan cache (default: one array of every image's rows)."""
        return {self.name: np.concatenate(values) if values else np.zeros(0, np.float32)}

    def unpack(self, arrays: Mapping[str, np.ndarray], starts: list[int]) -> list[Any]:
        """The per image values of :meth:`pack`'s ``arrays``; image i holds rows ``starts[i]:starts[i + 1]``."""
        return [arrays[self.name][a:b].copy() for a, b in zip(starts[:-1], starts[1:])]

    def image_values(self, extras: Mapping[str, list[Any]], source: str) -> list[Any]:
        """Per kept image this kind's value (normalised) from a scan's ``extras``
        (:attr:`~focalyolo.data.scan.ScanResult.extras`); a scan whose rows this kind did not read is a
        :class:`DataError` naming ``source``."""
        if self.name not in extras:
            raise DataError(f"{source}: annotation kind {self.name!r} is not read from these label rows (read as "
                            f"{', '.join(extras)})")
        return extras[self.name]

    def usable_rows(self, values: list[Any], source: str) -> tuple[list[np.ndarray], str] | None:
        """Per image a (n,) bool mask of the label rows this kind can use and why the others are dropped (the
        dataset drops and reports them), or None when it uses them all; a :class:`DataError` naming ``source``
        when it can use none."""
        return None

    def to_pixels(self, value: Any, w: float, h: float, pad_w: float, pad_h: float) -> Any:
        """The normalised ``value`` in pixels of a w x h image placed at offset (pad_w, pad_h)."""
        return value

    def shift(self, value: Any, offset: np.ndarray) -> Any:
        """``value`` moved by the (2,) float32 pixel ``offset`` (dx, dy) (a mosaic tile's placement)."""
        return value

    def transform(self, value: Any, matrix: np.ndarray, out_hw: tuple[int, int]) -> Any:
        """``value`` through a 3x3 (affine or perspective) matrix onto an ``out_hw`` (height, width) image."""
        return value

    def outline_boxes(self, value: Any) -> np.ndarray | None:
        """After :meth:`transform`: (n, 4) float64 xyxy boxes that this kind's geometry defines (polygons: the box
        of each clipped polygon), or None when boxes are moved as boxes."""
        return None

    def flip(self, value: Any, axis: int, size: int) -> Any:
        """``value`` mirrored along ``axis`` (0: left-right, 1: up-down) of an image ``size`` pixels across it."""
        return value

    def crop(self, value: Any, w: int, h: int) -> Any:
        """``value`` once cut to a w x h image (what of it falls outside is no longer in the image)."""
        return value

    def select(self, value: Any, index: np.ndarray) -> Any:
        """The entries of ``value`` at ``index``: a (n,) bool mask or an integer index array."""
        if isinstance(value, list):
            rows = np.flatnonzero(index) if index.dtype == bool else index
            return [value[i] for i in rows]
        return value[index]

    def concat(self, values: Sequence[Any]) -> Any:
        """One value of the objects of several values, in order (mosaic tiles, mixup)."""
        if isinstance(values[0], list):
            return [entry for value in values for entry in value]
        return np.concatenate(values, 0)

    def sample(self, value: Any, rows: np.ndarray, hw: tuple[int, int]) -> tuple[dict[str, Any], np.ndarray]:
        """The sample entries of ``value`` for the label ``rows`` (an integer index) kept in an ``hw`` image, and
        the rows in the order the sample keeps them (a kind that reorders them, as overlapping masks do, hands
        the new order to the kinds after it and to the labels)."""
        return {self.name: torch.as_tensor(np.asarray(self.select(value, rows)))}, rows

    def collate(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The batch entries of this kind from the samples' entries (default: concatenated in ``targets``
        order)."""
        return {self.name: torch.cat([s[self.name] for s in samples])}


def box_row_text(row: np.ndarray) -> str:
    """A (5,) [cls, cx, cy, w, h] row as label text (6 decimals)."""
    return f"{int(row[0])} {row[1]:.6f} {row[2]:.6f} {row[3]:.6f} {row[4]:.6f}"


ANNOTATION_KINDS: dict[str, type[AnnotationKind]] = {}
"""Registered annotation kinds by name."""


def register_annotation_kind(kind: type[AnnotationKind]) -> type[AnnotationKind]:
    """Class decorator: register an :class:`AnnotationKind` subclass under its ``name`` (a name taken by another
    class is a ValueError)."""
    if not kind.name or ANNOTATION_KINDS.get(kind.name, kind) is not kind:
        raise ValueError(f"annotation kind name {kind.name!r} is empty or already registered")
    ANNOTATION_KINDS[kind.name] = kind
    return kind


def annotation_kind(name: str) -> type[AnnotationKind]:
    """The registered annotation kind called ``name``."""
    if name not in ANNOTATION_KINDS:
        raise KeyError(f"unknown annotation kind {name!r}; registered: {', '.join(sorted(ANNOTATION_KINDS))}")
    return ANNOTATION_KINDS[name]


@dataclass(frozen=True)
class Annotations:
    """One image's labels (see the module docstring); the methods return new objects and never change arrays in
    place.

    Attributes:
        cls: (N,) float32 class ids.
        boxes: (N, 4) xyxy boxes in pixels of the current image.
        extras: per annotation kind name its value (one entry per object).
        kinds: the kind of each extra by name; an extra without one takes its registered kind with default
            settings.
    """

    cls: np.ndarray
    boxes: np.ndarray
    extras: dict[str, Any] = field(default_factory=dict)
    kinds: Mapping[str, AnnotationKind] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cls)

    def kind(self, name: str) -> AnnotationKind:
        """The kind of the extra ``name``."""
        return self.kinds[name] if name in self.kinds else annotation_kind(name)()

    def _with(self, cls: np.ndarray, boxes: np.ndarray, step: str, *args: Any) -> Annotations:
        """New annotations with these ``cls`` and ``boxes`` and each extra passed through its kind's ``step``."""
        extras = {name: getattr(self.kind(name), step)(value, *args) for name, value in self.extras.items()}
        return Annotations(cls, boxes, extras, self.kinds)

    def select(self, index: np.ndarray) -> Annotations:
        """The objects at ``index`` (a (N,) bool mask or an integer index), extras included."""
        return self._with(self.cls[index], self.boxes[index], "select", index)

    def shift(self, dx: int, dy: int) -> Annotations:
        """Everything moved by (dx, dy) whole pixels (a mosaic tile's placement); boxes become float32."""
        boxes = self.boxes.astype(np.float32)
        boxes[:, [0, 2]] += dx
        boxes[:, [1, 3]] += dy
        return self._with(self.cls, boxes, "shift", np.array([dx, dy], np.float32))

    def crop(self, w: int, h: int) -> Annotations:
        """Cut to a w x h image: boxes clipped to it, each extra as its kind crops it."""
        boxes = self.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return self._with(self.cls, boxes, "crop", w, h)

    def transform(self, matrix: np.ndarray, out_hw: tuple[int, int]) -> Annotations:
        """Everything through a 3x3 matrix onto an ``out_hw`` (height, width) image: (N, 4) float64 boxes, those
        of the first extra whose kind defines them (:meth:`AnnotationKind.outline_boxes`), else the moved boxes
        clipped to the image."""
        moved = self._with(self.cls, self.boxes, "transform", matrix, out_hw)
        for name, value in moved.extras.items():
            boxes = moved.kind(name).outline_boxes(value)
            if boxes is not None:
                return replace(moved, boxes=boxes)
        return replace(moved, boxes=transform_boxes(self.boxes, matrix, out_hw))

    def flip(self, axis: int, size: int) -> Annotations:
        """Mirrored along ``axis`` (0: left-right, 1: up-down) of an image ``size`` pixels across it."""
        boxes = self.boxes.copy()
        boxes[:, [axis, axis + 2]] = size - self.boxes[:, [axis + 2, axis]]
        return self._with(self.cls, boxes, "flip", axis, size)

    @staticmethod
    def concat(parts: Sequence[Annotations]) -> Annotations:
        """The objects of several annotations in order (mosaic tiles, mixup); kinds and extras of the first."""
        first = parts[0]
        extras = {name: first.kind(name).concat([p.extras[name] for p in parts]) for name in first.extras}
        return Annotations(np.concatenate([p.cls for p in parts]), np.concatenate([p.boxes for p in parts]), extras,
                           first.kinds)
