"""YOLODataset: validated images + labels (+ what the dataset's annotation kinds read: instance masks for
segmentation, keypoints for pose), letterboxed (val) or mosaic-augmented (train) samples."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..errors import DataError
from .annotations import AnnotationKind, Annotations
from .augment import (
    augment_hsv,
    flip_lr,
    flip_ud,
    letterbox,
    mixup,
    mosaic4,
    random_affine,
    rect_batch_shapes,
    resize_long_side,
)
from .cache import ImageCache, ram_cache_capacity
from .image_io import ImageReadError, read_image
from .sampling import SampleKey
from .scan import BACKGROUND, require_labels, scan_dataset, summarize

LOGGER = logging.getLogger("focalyolo")

__all__ = ["YOLODataset", "kept_boxes", "norm_to_pixel_xyxy", "pixel_xyxy_to_norm"]

RAM_PROBE_IMAGES = 16
"""Images decoded to estimate what ``cache="ram"`` needs (spread over the dataset; they stay cached)."""


def norm_to_pixel_xyxy(labels: np.ndarray, w: float, h: float, pad_w: float = 0.0, pad_h: float = 0.0) -> np.ndarray:
    """(n, 5) normalised [cls, cx, cy, w, h] -> (n, 5) [cls, x1, y1, x2, y2] in pixels of a w x h image
    placed at offset (pad_w, pad_h)."""
    out = np.empty((len(labels), 5), np.float32)
    out[:, 0] = labels[:, 0]
    out[:, 1] = (labels[:, 1] - labels[:, 3] / 2) * w + pad_w
    out[:, 2] = (labels[:, 2] - labels[:, 4] / 2) * h + pad_h
    out[:, 3] = (labels[:, 1] + labels[:, 3] / 2) * w + pad_w
    out[:, 4] = (labels[:, 2] + labels[:, 4] / 2) * h + pad_h
    return out


def kept_boxes(boxes: np.ndarray, w: int, h: int) -> np.ndarray:
    """(n,) bool: which (n, 4) pixel xyxy boxes keep some area once clipped to a w x h image."""
    x1, x2 = boxes[:, 0].clip(0, w), boxes[:, 2].clip(0, w)
    y1, y2 = boxes[:, 1].clip(0, h), boxes[:, 3].clip(0, h)
    return ((x2 - x1) / w > 0) & ((y2 - y1) / h > 0)


def pixel_xyxy_to_norm(cls: np.ndarray, boxes: np.ndarray, w: int, h: int) -> np.ndarray:
    """(n,) class ids and (n, 4) pixel xyxy boxes -> (n, 5) float32 [cls, cx, cy, w, h] normalised to a w x h
    image, clipped to it; boxes with no area left are dropped (:func:`kept_boxes`)."""
    x1, x2 = boxes[:, 0].clip(0, w), boxes[:, 2].clip(0, w)
    y1, y2 = boxes[:, 1].clip(0, h), boxes[:, 3].clip(0, h)
    out = np.stack((cls, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h), 1)
    return out[kept_boxes(boxes, w, h)].astype(np.float32)


class YOLODataset(Dataset):
    """Detection dataset over image files with YOLO txt labels.

    Construction scans (or reuses the cache of) every image and label once: bad files are skipped or
    fixed, everything is listed in :attr:`report` and summarised once in the ``focalyolo`` log.

    Args:
        img_files: image paths (e.g. ``DataConfig.train``).
        imgsz: training/validation image size (long side).
        augment: training augmentation (mosaic, affine, mixup, HSV, flips) driven by ``hyp``.
        hyp: the resolved hyper-parameters (every key, e.g. ``TrainConfig.hyperparameters()``); read with
            ``augment``.
        rect: rectangular batches (validation): images sorted by aspect ratio, each batch letterboxed to
            the smallest stride-multiple shape that fits it. Turns mosaic off; use an unshuffled loader.
        batch_size: batch size the rect shapes are computed for.
        stride: the model's largest stride; rect shapes are multiples of it.
        pad: extra strides of padding on rect shapes (0: none, the letterbox predict uses and an export of the
            trained size takes; the official validation's 0.5 adds a half-stride grey border).
        prefix: text in front of log messages (e.g. ``"train: "``).
        nc: number of classes; rows with class ids >= nc are dropped (``None``: not checked).
        seed: seed of the generator of samples asked for by a bare index; a loader's :class:`SampleKey` carries
            the run's seed instead, and the sample draws from a generator of its own (see :meth:`__getitem__`).
        verbose: log the scan summary (pass ``False`` on non-zero ranks).
        cache_mb: memory for decoded, resized images (:class:`ImageCache`, per process); 0 turns it off.
        cache: ``"ram"``: decode and resize every image now, into a cache that holds them all for the life of the
            dataset, when the memory allows (:func:`ram_cache_capacity`; else a one-line warning and the
            ``cache_mb`` cache). Loader workers forked later share it.
        mosaic_epochs: samples of epochs from this one on are not mosaics (the trainer's ``close_mosaic``: epochs
            minus close_mosaic); None: every epoch's are. Read from each :class:`SampleKey`'s epoch, so workers
            that persist across epochs follow it.
        kinds: the annotation kinds the dataset reads beside the boxes (:class:`~focalyolo.data.polygons.Polygons`
            for segmentation, :class:`~focalyolo.data.keypoints.Keypoints` for pose); each sample then carries
            their entries (``masks``, ``keypoints``). Label rows a kind cannot use are dropped and reported.
        need_labels: a set to train or score on: one without a usable label row is a one-line :class:`DataError`
            (see :func:`~focalyolo.data.scan.require_labels`), raised before the summary is logged.

    Attributes:
        mosaic: whether training samples are mosaics (with probability ``hyp["mosaic"]``): augmented, not rect,
            and for keyed samples an epoch before ``mosaic_epochs``.
        report: (path, reason) for every skipped file, fixed label file, background image and orphan.
        counts: totals of the scan (see :data:`focalyolo.data.scan.COUNT_KEYS`).
        scan_result: the full :class:`ScanResult` (cache path, whether the cache was reused).
        extras: per kind name (of ``kinds``) the kind's value of each image, normalised to the original image,
            rows aligned with :attr:`labels` (pose: per image an (n, nk, 3) float32 array [x, y, v]).
    """

    def __init__(
        self,
        img_files: Sequence[str | Path],
        imgsz: int = 640,
        augment: bool = False,
        hyp: Mapping[str, Any] | None = None,
        rect: bool = False,
        batch_size: int = 16,
        stride: int = 32,
        pad: float = 0.0,
        prefix: str = "",
        nc: int | None = None,
        seed: int = 0,
        verbose: bool = True,
        cache_mb: float = 256,
        cache: str | None = None,
        mosaic_epochs: int | None = None,
        kinds: Sequence[AnnotationKind] = (),
        need_labels: bool = False,
    ) -> None:
        files = [str(f) for f in img_files]
        if not files:
            raise DataError(f"{prefix}no image files given")
        self.prefix = prefix
        if augment and hyp is None:
            raise ValueError("augment=True needs the hyper-parameters (hyp)")
        self.hyp = dict(hyp or {})
        flips = augment and (self.hyp["fliplr"] > 0 or self.hyp["flipud"] > 0)
        self.kinds = [kind.checked(f"{prefix}{Path(files[0]).parent}", flips) for kind in kinds]
        readers = [kind for kind in self.kinds if kind.row_format() is not None]
        if len(readers) > 1:
            raise DataError(f"{prefix}{Path(files[0]).parent}: the label rows are read by one annotation kind, got "
                            f"{', '.join(kind.name for kind in readers)}")
        scan = scan_dataset(files, nc=nc, verbose=verbose, prefix=prefix, rows=readers[0] if readers else None)
        if not scan.im_files:
            first = next((f"{p}: {r}" for p, r in scan.report if r != BACKGROUND), "")
            raise DataError(f"{prefix}{Path(files[0]).parent}: none of {len(files)} images is usable ({first})")
        if need_labels:
            require_labels(scan, prefix)
        self.scan_result = scan
        self.counts: dict[str, int] = scan.counts
        self.im_files: list[str] = scan.im_files
        self.shapes: np.ndarray = scan.shapes
        self.labels: list[np.ndarray] = scan.labels
        self.report: list[tuple[str, str]] = scan.report
        self.extras: dict[str, list[Any]] = {kind.name: self._kind_values(kind) for kind in self.kinds}
        self.imgsz, self.augment, self.rect, self.stride = imgsz, augment, rect, stride
        self.mosaic, self.mosaic_epochs = augment and not rect, mosaic_epochs
        self.rng = np.random.default_rng(seed)
        self.batch_shapes: np.ndarray | None = None
        self.batch_index = np.zeros(len(self.im_files), int)
        self.image_cache = ImageCache(int(cache_mb * 2**20))
        if rect:
            self._sort_for_rect(batch_size, pad)
        if verbose:
            problems = any(r != BACKGROUND for _, r in self.report)
            LOGGER.log(logging.WARNING if problems else logging.INFO, self.summary())
        if cache == "ram":
            self._cache_in_ram(verbose)
        elif cache is not None:
            raise DataError(f"{prefix}cache={cache!r}: expected 'ram' or None")

    def _kind_values(self, kind: AnnotationKind) -> list[Any]:
        """Per image the values of ``kind`` from the scan, the label rows it cannot use dropped and reported."""
        source = f"{self.prefix}{Path(self.im_files[0]).parent}"
        values = kind.image_values(self.scan_result.extras, source)
        usable = kind.usable_rows(values, source)
        if usable is not None:
            masks, reason = usable
            for i, keep in enumerate(masks):
                self.scan_result.drop_rows(i, keep, reason)
        return values

    def _sort_for_rect(self, batch_size: int, pad: float) -> None:
        order = np.argsort(self.shapes[:, 0] / self.shapes[:, 1], kind="stable")
        self.im_files = [self.im_files[i] for i in order]
        self.labels = [self.labels[i] for i in order]
        self.extras = {name: [values[i] for i in order] for name, values in self.extras.items()}
        self.shapes = self.shapes[order]
        self.batch_shapes = rect_batch_shapes(self.shapes, self.imgsz, batch_size, self.stride, pad)
        self.batch_index = np.arange(len(self.im_files)) // batch_size

    def summary(self) -> str:
        """Counts of kept/skipped/fixed files and the first problems with their paths."""
        return summarize(self.scan_result, self.prefix)

    def _cache_in_ram(self, verbose: bool) -> None:
        """Fill the image cache with every image (progress bar when ``verbose``), once the size estimated from
        :data:`RAM_PROBE_IMAGES` decoded images is known to fit (:func:`ram_cache_capacity`)."""
        probes = np.unique(np.linspace(0, len(self) - 1, min(len(self), RAM_PROBE_IMAGES)).round().astype(int))
        estimate = np.mean([self.load_image(int(i))[0].nbytes for i in probes]) * len(self)
        capacity = ram_cache_capacity(len(self), int(estimate), self.prefix, verbose)
        if capacity is None:
            return
        self.image_cache.capacity = max(capacity, self.image_cache.capacity)
        for i in tqdm(range(len(self)), desc=f"{self.prefix}caching images", disable=not verbose,
                      bar_format="{l_bar}{bar:10}{r_bar}"):
            self.load_image(i)

    def all_labels(self) -> np.ndarray:
        """(N, 5) [cls, cx, cy, w, h] of every box in the dataset (for label statistics plots)."""
        return np.concatenate(self.labels) if self.labels else np.zeros((0, 5), np.float32)

    def __len__(self) -> int:
        return len(self.im_files)

    def load_image(self, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        """The image resized so its long side is ``imgsz`` (BGR uint8, read-only: it may be shared through
        the cache) and its original (h, w)."""
        cached = self.image_cache.get(index)
        if cached is not None:
            return cached
        path = self.im_files[index]
        try:
            img = read_image(path)
        except ImageReadError as exc:
            raise DataError(f"{path}: {exc} (changed since the label scan?)") from exc
        resized = resize_long_side(img, self.imgsz, smooth_down=not self.augment)
        resized.setflags(write=False)
        self.image_cache.put(index, (resized, img.shape[:2]), resized.nbytes)
        return resized, img.shape[:2]

    def _annotations(self, index: int, w: float, h: float, pad_w: float = 0.0, pad_h: float = 0.0) -> Annotations:
        """Image ``index``'s labels in pixels of a w x h placement at (pad_w, pad_h)."""
        labels = norm_to_pixel_xyxy(self.labels[index], w, h, pad_w, pad_h)
        extras = {kind.name: kind.to_pixels(self.extras[kind.name][index], w, h, pad_w, pad_h) for kind in self.kinds}
        return Annotations(labels[:, 0], labels[:, 1:], extras, {kind.name: kind for kind in self.kinds})

    def _load_mosaic(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, Annotations]:
        """A 4-image mosaic with random affine, cropped to (imgsz, imgsz), and its labels in pixels."""
        indices = [index, *rng.integers(0, len(self), 3).tolist()]
        images, labels = [], []
        for i in indices:
            img, _ = self.load_image(i)
            images.append(img)
            labels.append(self._annotations(i, img.shape[1], img.shape[0]))
        canvas, merged = mosaic4(images, labels, self.imgsz, rng)
        return self._affine(canvas, merged, (self.imgsz, self.imgsz), rng)

    def _affine(self, img: np.ndarray, labels: Annotations, out_hw: tuple[int, int],
                rng: np.random.Generator) -> tuple[np.ndarray, Annotations]:
        h = self.hyp
        return random_affine(img, labels, rng, out_hw, degrees=h["degrees"], translate=h["translate"],
                             scale=h["scale"], shear=h["shear"], perspective=h["perspective"])

    def _letterboxed(self, index: int) -> tuple[np.ndarray, Annotations, tuple[int, int], tuple]:
        """The letterboxed image, its labels in its pixels, the original shape and ratio_pad."""
        img, (h0, w0) = self.load_image(index)
        shape = tuple(self.batch_shapes[self.batch_index[index]]) if self.rect else (self.imgsz, self.imgsz)
        boxed, (gh, gw), (pad_w, pad_h) = letterbox(img, shape, scaleup=self.augment)
        nh, nw = round(img.shape[0] * gh), round(img.shape[1] * gw)
        labels = self._annotations(index, nw, nh, pad_w, pad_h)
        return boxed, labels, (h0, w0), ((nh / h0, nw / w0), (pad_w, pad_h))

    def _plan(self, key: int | SampleKey) -> tuple[int, np.random.Generator, bool]:
        """The image index of ``key``, the generator the sample draws from and whether it may be a mosaic: for a
        :class:`SampleKey` its own generator and its epoch against ``mosaic_epochs``, for a bare index the
        dataset's generator and :attr:`mosaic`."""
        if isinstance(key, SampleKey):
            closed = self.mosaic_epochs is not None and key.epoch >= self.mosaic_epochs
            return key.index, key.generator(), self.mosaic and not closed
        return int(key), self.rng, self.mosaic

    def __getitem__(self, key: int | SampleKey) -> dict[str, Any]:
        """One sample (of a bare index, or of a loader's :class:`SampleKey`: then a function of the key alone,
        every random draw from the key's generator): ``img`` (3, H, W) uint8 RGB, ``labels`` (n, 5) [cls, cx, cy, w,
        h] normalised to ``img``, ``path``, ``ori_shape`` (h0, w0) and ``ratio_pad`` ((gain_h, gain_w), (pad_w,
        pad_h)) mapping ``img`` pixels back to the original: x0 = (x - pad_w) / gain_w; plus each kind's entries
        (:meth:`AnnotationKind.sample`), rows aligned with ``labels``. Segmentation samples add ``masks``: (H / r,
        W / r) int32 index-coded (overlap; value j + 1 = row j of ``labels``) or (n, H / r, W / r) 0/1, r =
        ``mask_ratio``. Pose samples add ``keypoints``: (n, nk, 3) float32 [x / W, y / H, v]; points outside the
        image or not labelled have v = 0 and x = y = 0."""
        h = self.hyp
        index, rng, mosaic = self._plan(key)
        if mosaic and rng.random() < h["mosaic"]:
            img, labels = self._load_mosaic(index, rng)
            if rng.random() < h["mixup"]:
                img, labels = mixup(img, labels, *self._load_mosaic(int(rng.integers(len(self))), rng), rng)
            ori_shape, ratio_pad = tuple(int(v) for v in self.shapes[index]), ((1.0, 1.0), (0.0, 0.0))
        else:
            img, labels, ori_shape, ratio_pad = self._letterboxed(index)
            if self.augment:
                img, labels = self._affine(img, labels, img.shape[:2], rng)
        if self.augment:
            img = augment_hsv(img, rng, h["hsv_h"], h["hsv_s"], h["hsv_v"])
            if rng.random() < h["flipud"]:
                img, labels = flip_ud(img, labels)
            if rng.random() < h["fliplr"]:
                img, labels = flip_lr(img, labels)
        chw = np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1))
        sample = {"img": torch.from_numpy(chw), "path": self.im_files[index], "ori_shape": ori_shape,
                  "ratio_pad": ratio_pad}
        hh, ww = img.shape[:2]
        rows = np.flatnonzero(kept_boxes(labels.boxes, ww, hh))
        for kind in self.kinds:
            entries, rows = kind.sample(labels.extras[kind.name], rows, (hh, ww))
            sample.update(entries)
        sample["labels"] = torch.from_numpy(pixel_xyxy_to_norm(labels.cls[rows], labels.boxes[rows], ww, hh))
        return sample

    def collate_fn(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        """Stack samples: ``img`` (B, 3, H, W) uint8, ``targets`` (N, 6) [batch_idx, cls, cx, cy, w, h],
        ``paths``, ``ori_shapes``, ``ratio_pads`` (lists of length B), plus each kind's entries
        (:meth:`AnnotationKind.collate`): segmentation batches add ``masks``: (B, h, w) index-coded, or (N, h, w)
        per instance in ``targets`` order; pose batches add ``keypoints``: (N, nk, 3) [x, y, v] normalised, in
        ``targets`` order."""
        targets = [
            torch.cat((torch.full((len(s["labels"]), 1), float(i)), s["labels"]), 1) for i, s in enumerate(batch)
        ]
        collated = {
            "img": torch.stack([s["img"] for s in batch]),
            "targets": torch.cat(targets) if targets else torch.zeros((0, 6)),
            "paths": [s["path"] for s in batch],
            "ori_shapes": [s["ori_shape"] for s in batch],
            "ratio_pads": [s["ratio_pad"] for s in batch],
        }
        for kind in self.kinds:
            collated.update(kind.collate(batch))
        return collated
