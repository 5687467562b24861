"""YOLODataset: validated images + labels (+ instance masks for segmentation, keypoints for pose), letterboxed (val)
or mosaic-augmented (train) samples."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..errors import DataError
from .augment import (
    Keypoints,
    Segments,
    augment_hsv,
    flip_lr,
    flip_ud,
    hide_keypoints_outside,
    letterbox,
    mixup,
    mosaic4,
    random_affine,
    rect_batch_shapes,
    resize_long_side,
)
from .cache import ImageCache, ram_cache_capacity
from .config import check_flip_idx, check_kpt_shape
from .image_io import ImageReadError, read_image
from .sampling import SampleKey
from .scan import BACKGROUND, require_labels, scan_dataset, summarize

LOGGER = logging.getLogger("focalyolo")

__all__ = ["YOLODataset", "kept_boxes", "norm_to_pixel_xyxy", "pixel_xyxy_to_norm", "polygons_to_masks"]

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


def kept_boxes(labels: np.ndarray, w: int, h: int) -> np.ndarray:
    """(n,) bool: which (n, 5) pixel [cls, x1, y1, x2, y2] rows keep some area once clipped to a w x h image."""
    x1, x2 = labels[:, 1].clip(0, w), labels[:, 3].clip(0, w)
    y1, y2 = labels[:, 2].clip(0, h), labels[:, 4].clip(0, h)
    return ((x2 - x1) / w > 0) & ((y2 - y1) / h > 0)


def pixel_xyxy_to_norm(labels: np.ndarray, w: int, h: int) -> np.ndarray:
    """(n, 5) pixel [cls, x1, y1, x2, y2] -> (n, 5) [cls, cx, cy, w, h] normalised to a w x h image,
    clipped to it; boxes with no area left are dropped (:func:`kept_boxes`)."""
    x1, x2 = labels[:, 1].clip(0, w), labels[:, 3].clip(0, w)
    y1, y2 = labels[:, 2].clip(0, h), labels[:, 4].clip(0, h)
    out = np.stack((labels[:, 0], (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h), 1)
    return out[kept_boxes(labels, w, h)].astype(np.float32)


def fill_centres(mask: np.ndarray, polygon: np.ndarray) -> None:
    """Set to 1 the pixels of (h, w) ``mask`` whose centre (x + 0.5, y + 0.5) lies inside the (k, 2) ``polygon``
    (even-odd rule, in pixel units), vectorised over the polygon's bounding box. Unlike ``cv2.fillPoly``, which also
    fills every pixel an edge touches, no pixel outside the polygon's box is ever set."""
    h, w = mask.shape
    x0, y0 = (np.floor(polygon.min(0) - 0.5).astype(int)).clip(0, (w, h))
    x1, y1 = (np.ceil(polygon.max(0) + 0.5).astype(int)).clip(0, (w, h))
    if x1 <= x0 or y1 <= y0:
        return
    xs = np.arange(x0, x1) + 0.5
    ys = np.arange(y0, y1) + 0.5
    start, end = polygon.astype(np.float64), np.roll(polygon, -1, 0).astype(np.float64)
    spans = (start[:, 1:2] > ys) != (end[:, 1:2] > ys)  # (k, rows): edge k crosses the row's centre line
    with np.errstate(divide="ignore", invalid="ignore"):  # horizontal edges never span a row
        cross_x = start[:, 0:1] + (ys - start[:, 1:2]) * (end[:, 0:1] - start[:, 0:1]) / (end[:, 1:2] - start[:, 1:2])
    crossings = (spans[:, :, None] & (xs < cross_x[:, :, None])).sum(0)  # (rows, cols) crossings to the right
    mask[y0:y1, x0:x1] |= (crossings % 2).astype(mask.dtype)


def polygons_to_masks(segments: list[np.ndarray], hw: tuple[int, int], ratio: int,
                      overlap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise pixel polygons at 1/``ratio`` of an image of size ``hw``.

    Returns ``(masks, order)``; polygon edges are sub-pixel, and a pixel belongs to a mask when its centre does.
    Per instance (``overlap`` False): (n, h, w) uint8 0/1 masks and the identity order. Overlap: one (h, w) int32
    index mask in which instance ``order[j]`` has value j + 1; instances are drawn largest first, so where they
    overlap the smaller one wins (pass the labels through ``order`` too).
    """
    size = (hw[0] // ratio, hw[1] // ratio)
    masks = np.zeros((len(segments), *size), np.uint8)
    for mask, polygon in zip(masks, segments):
        if len(polygon) >= 3:
            fill_centres(mask, polygon / ratio)
    if not overlap:
        return masks, np.arange(len(segments))
    order = np.argsort(-masks.sum((1, 2)), kind="stable")
    index = np.zeros(size, np.int32)  # a mosaic with mixup can hold more than 255 instances
    for j, i in enumerate(order):
        index[masks[i] > 0] = j + 1
    return index, order


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
        masks: segmentation samples: each carries instance masks rasterised from the label polygons (label rows
            without a polygon are dropped and reported).
        mask_ratio: masks are 1/``mask_ratio`` of the image size (4: the prototypes' resolution).
        overlap: one index-coded mask per image (value j + 1 = the j-th label row) instead of one per instance.
        kpt_shape: pose data: (nk, ndim), the keypoints per row and values per keypoint (2: x y, 3: x y
            visibility) of the labels (``cls cx cy w h`` + nk x ndim values); each sample then carries keypoints.
        flip_idx: pose data: a permutation of range(nk); after a mirror (either flip) keypoint i becomes keypoint
            ``flip_idx[i]`` (left <-> right). Needed when training with ``fliplr`` or ``flipud`` > 0.
        need_labels: a set to train or score on: one without a usable label row is a one-line :class:`DataError`
            (see :func:`~focalyolo.data.scan.require_labels`), raised before the summary is logged.

    Attributes:
        mosaic: whether training samples are mosaics (with probability ``hyp["mosaic"]``): augmented, not rect,
            and for keyed samples an epoch before ``mosaic_epochs``.
        report: (path, reason) for every skipped file, fixed label file, background image and orphan.
        counts: totals of the scan (see :data:`focalyolo.data.scan.COUNT_KEYS`).
        scan_result: the full :class:`ScanResult` (cache path, whether the cache was reused).
        keypoints: pose data (else None): per image an (n, nk, 3) float32 array [x, y, v] normalised to the
            original image, rows aligned with :attr:`labels`.
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
        masks: bool = False,
        mask_ratio: int = 4,
        overlap: bool = True,
        kpt_shape: Sequence[int] | None = None,
        flip_idx: Sequence[int] | None = None,
        need_labels: bool = False,
    ) -> None:
        files = [str(f) for f in img_files]
        if not files:
            raise DataError(f"{prefix}no image files given")
        self.prefix = prefix
        if augment and hyp is None:
            raise ValueError("augment=True needs the hyper-parameters (hyp)")
        self.hyp = dict(hyp or {})
        self.kpt_shape, self.flip_idx = self._check_keypoint_args(kpt_shape, flip_idx, augment, files[0])
        scan = scan_dataset(files, nc=nc, verbose=verbose, prefix=prefix, kpt_shape=self.kpt_shape)
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
        self.masks, self.mask_ratio, self.overlap = masks, mask_ratio, overlap
        self.segments: list[list[np.ndarray]] | None = self._outlined_rows(scan.segments) if masks else None
        self.keypoints: list[np.ndarray] | None = scan.keypoints if self.kpt_shape else None
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

    def _check_keypoint_args(self, kpt_shape: Sequence[int] | None, flip_idx: Sequence[int] | None, augment: bool,
                             first: str) -> tuple[tuple[int, int] | None, list[int] | None]:
        """``kpt_shape`` as (nk, ndim) and ``flip_idx`` as a list, checked; flipping keypoints needs ``flip_idx``."""
        if kpt_shape is None:
            return None, None
        where = f"{self.prefix}{Path(first).parent}"
        nk, ndim = check_kpt_shape(kpt_shape, where)
        if flip_idx is not None:
            flip_idx = check_flip_idx(flip_idx, nk, where)
        elif augment and (self.hyp["fliplr"] > 0 or self.hyp["flipud"] > 0):
            raise DataError(f"{where}: flipping keypoints needs 'flip_idx' in the data YAML (which keypoint each "
                            "becomes in a mirror image), or fliplr: 0 and flipud: 0")
        return (nk, ndim), flip_idx

    def _outlined_rows(self, segments: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """Keep only label rows with a polygon (segmentation); each image that loses rows is reported, and a dataset
        whose rows are all boxes is a :class:`DataError`."""
        if any(len(p) for p in segments) and not any(len(q) for p in segments for q in p):
            raise DataError(f"{self.prefix}{Path(self.im_files[0]).parent}: none of the {sum(map(len, segments))} "
                            "labelled instances has an outline; segmentation needs polygon rows (class x1 y1 x2 y2 "
                            "...) or a COCO JSON with segmentations")
        for i, polygons in enumerate(segments):
            self.scan_result.drop_rows(i, np.array([len(p) > 0 for p in polygons], bool),
                                       "box row(s) without a polygon dropped (segmentation needs outlines)")
        return self.scan_result.segments

    def _sort_for_rect(self, batch_size: int, pad: float) -> None:
        order = np.argsort(self.shapes[:, 0] / self.shapes[:, 1], kind="stable")
        self.im_files = [self.im_files[i] for i in order]
        self.labels = [self.labels[i] for i in order]
        if self.segments is not None:
            self.segments = [self.segments[i] for i in order]
        if self.keypoints is not None:
            self.keypoints = [self.keypoints[i] for i in order]
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

    def _pixel_segments(self, index: int, w: float, h: float, pad_w: float = 0.0, pad_h: float = 0.0) -> Segments:
        """Image ``index``'s polygons in pixels of a w x h placement at (pad_w, pad_h), or None (detection)."""
        if self.segments is None:
            return None
        scale, shift = np.array([w, h], np.float32), np.array([pad_w, pad_h], np.float32)
        return [p * scale + shift for p in self.segments[index]]

    def _pixel_keypoints(self, index: int, w: float, h: float, pad_w: float = 0.0, pad_h: float = 0.0) -> Keypoints:
        """Image ``index``'s (n, nk, 3) keypoints with xy in pixels of a w x h placement at (pad_w, pad_h), or None
        (no pose data)."""
        if self.keypoints is None:
            return None
        points = self.keypoints[index].copy()
        points[..., :2] = points[..., :2] * (w, h) + (pad_w, pad_h)
        return points

    def _load_mosaic(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Segments, Keypoints]:
        """A 4-image mosaic with random affine, cropped to (imgsz, imgsz); labels in pixel xyxy (polygons and
        keypoints in pixels)."""
        indices = [index, *rng.integers(0, len(self), 3).tolist()]
        images, labels, segments, keypoints = [], [], [], []
        for i in indices:
            img, _ = self.load_image(i)
            images.append(img)
            labels.append(norm_to_pixel_xyxy(self.labels[i], img.shape[1], img.shape[0]))
            segments.append(self._pixel_segments(i, img.shape[1], img.shape[0]))
            keypoints.append(self._pixel_keypoints(i, img.shape[1], img.shape[0]))
        canvas, merged, moved, points = mosaic4(images, labels, self.imgsz, rng,
                                                segments if self.segments is not None else None,
                                                keypoints if self.keypoints is not None else None)
        return self._affine(canvas, merged, (self.imgsz, self.imgsz), moved, points, rng)

    def _affine(self, img: np.ndarray, labels: np.ndarray, out_hw: tuple[int, int], segments: Segments,
                keypoints: Keypoints, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Segments, Keypoints]:
        h = self.hyp
        return random_affine(img, labels, rng, out_hw, degrees=h["degrees"], translate=h["translate"],
                             scale=h["scale"], shear=h["shear"], perspective=h["perspective"], segments=segments,
                             keypoints=keypoints)

    def _letterboxed(self, index: int) -> tuple[np.ndarray, np.ndarray, Segments, Keypoints, tuple[int, int], tuple]:
        """The letterboxed image, its pixel xyxy labels (polygons, keypoints), the original shape and ratio_pad."""
        img, (h0, w0) = self.load_image(index)
        shape = tuple(self.batch_shapes[self.batch_index[index]]) if self.rect else (self.imgsz, self.imgsz)
        boxed, (gh, gw), (pad_w, pad_h) = letterbox(img, shape, scaleup=self.augment)
        nh, nw = round(img.shape[0] * gh), round(img.shape[1] * gw)
        labels = norm_to_pixel_xyxy(self.labels[index], nw, nh, pad_w, pad_h)
        segments = self._pixel_segments(index, nw, nh, pad_w, pad_h)
        keypoints = self._pixel_keypoints(index, nw, nh, pad_w, pad_h)
        return boxed, labels, segments, keypoints, (h0, w0), ((nh / h0, nw / w0), (pad_w, pad_h))

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
        pad_h)) mapping ``img`` pixels back to the original: x0 = (x - pad_w) / gain_w. Segmentation samples add
        ``masks``: (H / r, W / r) int32 index-coded (overlap; value j + 1 = row j of ``labels``) or (n, H / r, W / r)
        0/1, r = ``mask_ratio``. Pose samples add ``keypoints``: (n, nk, 3) float32 [x / W, y / H, v], rows aligned
        with ``labels``; points outside the image or not labelled have v = 0 and x = y = 0."""
        h = self.hyp
        index, rng, mosaic = self._plan(key)
        if mosaic and rng.random() < h["mosaic"]:
            img, labels, segments, keypoints = self._load_mosaic(index, rng)
            if rng.random() < h["mixup"]:
                img, labels, segments, keypoints = mixup(
                    img, labels, segments, keypoints, *self._load_mosaic(int(rng.integers(len(self))), rng), rng)
            ori_shape, ratio_pad = tuple(int(v) for v in self.shapes[index]), ((1.0, 1.0), (0.0, 0.0))
        else:
            img, labels, segments, keypoints, ori_shape, ratio_pad = self._letterboxed(index)
            if self.augment:
                img, labels, segments, keypoints = self._affine(img, labels, img.shape[:2], segments, keypoints, rng)
        if self.augment:
            img = augment_hsv(img, rng, h["hsv_h"], h["hsv_s"], h["hsv_v"])
            if rng.random() < h["flipud"]:
                img, labels, segments, keypoints = flip_ud(img, labels, segments, keypoints, self.flip_idx)
            if rng.random() < h["fliplr"]:
                img, labels, segments, keypoints = flip_lr(img, labels, segments, keypoints, self.flip_idx)
        chw = np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1))
        sample = {"img": torch.from_numpy(chw), "path": self.im_files[index], "ori_shape": ori_shape,
                  "ratio_pad": ratio_pad}
        hh, ww = img.shape[:2]
        rows = np.flatnonzero(kept_boxes(labels, ww, hh))
        if segments is not None:
            masks, order = polygons_to_masks([segments[i] for i in rows], (hh, ww), self.mask_ratio, self.overlap)
            rows = rows[order]
            sample["masks"] = torch.from_numpy(masks)
        if keypoints is not None:
            points = hide_keypoints_outside(keypoints[rows], ww, hh)
            sample["keypoints"] = torch.from_numpy((points / np.array([ww, hh, 1], np.float32)).astype(np.float32))
        sample["labels"] = torch.from_numpy(pixel_xyxy_to_norm(labels[rows], ww, hh))
        return sample

    @staticmethod
    def collate_fn(batch: list[dict[str, Any]]) -> dict[str, Any]:
        """Stack samples: ``img`` (B, 3, H, W) uint8, ``targets`` (N, 6) [batch_idx, cls, cx, cy, w, h],
        ``paths``, ``ori_shapes``, ``ratio_pads`` (lists of length B); segmentation batches add ``masks``:
        (B, h, w) index-coded, or (N, h, w) per instance in ``targets`` order; pose batches add ``keypoints``:
        (N, nk, 3) [x, y, v] normalised, in ``targets`` order."""
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
        if "masks" in batch[0]:
            masks = [s["masks"] for s in batch]
            collated["masks"] = torch.stack(masks) if masks[0].dim() == 2 else torch.cat(masks)
        if "keypoints" in batch[0]:
            collated["keypoints"] = torch.cat([s["keypoints"] for s in batch])
        return collated
