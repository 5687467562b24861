"""Classification data: image folders (``<split>/<class>/*.jpg``, torchvision's ImageFolder layout), checked once and
augmented with ``torchvision.transforms.v2``.

A dataset is named by its root folder (holding ``train/``, ``val/`` and optionally ``test/``), by a data YAML whose
``train`` / ``val`` / ``test`` entries are such class folders (relative to its ``path``), or by ``synthetic-cls``.
Classes are the sub-folder names of ``train/``, sorted, or in the order of a data YAML's ``names`` (which must name
the same folders); a class folder of another split that ``train/`` lacks is an error (its images would get no
label). Every image is inspected when a split's dataset is built; unreadable ones are skipped and listed, as in
detection, and the result is cached beside the split folder (``train.focalyolo-cls.cache``, JSON) until a file
changes, so large folders are scanned once.

Training images get a random resized crop (area fraction ``[1 - scale, 1]`` of the image, aspect ratio 3/4-4/3), a
horizontal flip (``fliplr``) and colour jitter (brightness ``hsv_v``, saturation ``hsv_s``, hue ``hsv_h``);
evaluation images are resized (short side ``imgsz``) and centre-cropped to ``imgsz`` x ``imgsz``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from ..errors import DataError
from ..utils.files import write_atomically
from .config import parse_names, read_data_yaml
from .image_io import ImageReadError, inspect_image, read_image
from .paths import is_image_file
from .sampling import SampleKey
from .scan import cache_path_for, dataset_hash
from .synthetic import VERSIONS, ensure_synthetic

__all__ = ["ClassificationData", "ClassificationDataset", "eval_transform", "load_classification_data",
           "train_transform"]

LOGGER = logging.getLogger("focalyolo")
Sample = tuple[Path, int]
SPLITS = ("train", "val", "test")
CACHE_SUFFIX = ".focalyolo-cls.cache"  # JSON: the scan's key and its skipped files
_SUMMARY_LINES = 20


@dataclass
class ClassificationData:
    """A resolved classification dataset: ``(image, class index)`` samples per split and the class names (the
    attributes :class:`~focalyolo.data.DataConfig` has, with samples in place of image files)."""

    root: Path
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    names: list[str]
    nc: int
    source: str


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _samples(folder: Path, names: list[str], source: str) -> list[Sample]:
    """Every image under ``folder/<class>/`` (recursively), labelled by its class folder's index in ``names``."""
    index = {name: i for i, name in enumerate(names)}
    samples: list[Sample] = []
    for name in _class_folders(folder):
        if name not in index:
            raise DataError(f"{source}: class folder {folder / name} is not among the training classes "
                            f"({', '.join(names)})")
        samples += [(p, index[name]) for p in sorted((folder / name).rglob("*")) if p.is_file() and is_image_file(p)]
    return samples


def _split_folders(data: str | Path) -> tuple[Path, dict[str, Path | None], list[str] | None, str]:
    """(root, split -> folder or None, names the YAML gives or None, source) of a folder or a data YAML."""
    path = Path(data).expanduser()
    if path.is_dir():
        return path, {s: path / s if (path / s).is_dir() else None for s in SPLITS}, None, str(path)
    if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
        raise DataError(f"{path}: a classification dataset is an image-folder root (train/<class>/*.jpg, "
                        f"val/<class>/*.jpg), a data YAML naming such folders, or one of: synthetic-cls")
    raw, root = read_data_yaml(path)
    folders: dict[str, Path | None] = {}
    for split in SPLITS:
        entry = raw.get(split)
        if entry is None:
            folders[split] = None
            continue
        if not isinstance(entry, (str, Path)):
            raise DataError(f"{path}: '{split}' must be one folder of class sub-folders, got {entry!r}")
        folder = Path(entry).expanduser()
        folders[split] = folder if folder.is_absolute() else root / folder
        if not folders[split].is_dir():
            raise DataError(f"{path}: '{split}' folder not found: {folders[split]}")
    names = parse_names(raw["names"], str(path)) if raw.get("names") is not None else None
    return root, folders, names, str(path)


def load_classification_data(data: str | Path) -> ClassificationData:
    """Resolve a classification dataset (see the module docstring) into samples per split and class names.

    Without ``val/`` the ``test/`` split is validated on (with a message); without either it is an error, as is a
    YAML ``names`` list that does not name the class folders. A class folder of ``train/`` without images is a
    warning, and an error when the validation split has no image of that class either.

    Raises:
        DataError: one line naming the folder or file and the problem.
    """
    if str(data) in VERSIONS:
        if str(data) != "synthetic-cls":
            raise DataError(f"{data}: a detection dataset; classifiers train on image folders or synthetic-cls")
        data = ensure_synthetic("synthetic-cls")
    root, folders, yaml_names, source = _split_folders(data)
    if folders["train"] is None:
        raise DataError(f"{source}: no train/ folder of class sub-folders")
    names = _class_folders(folders["train"])
    if not names:
        raise DataError(f"{source}: {folders['train']} has no class sub-folders")
    if yaml_names is not None:
        if sorted(yaml_names) != names:
            raise DataError(f"{source}: names {yaml_names} are not the class folders of {folders['train']} ({names})")
        names = yaml_names
    if folders["val"] is None:
        if folders["test"] is None:
            raise DataError(f"{source}: no val/ (or test/) folder to validate on")
        LOGGER.info(f"{source}: no val/ folder; validating on test/")
        folders["val"] = folders["test"]
    splits = {s: _samples(f, names, source) if f is not None else [] for s, f in folders.items()}
    for split in ("train", "val"):
        if not splits[split]:
            raise DataError(f"{source}: no images in {folders[split]}")
    _check_empty_classes(splits, names, folders, source)
    return ClassificationData(root, splits["train"], splits["val"], splits["test"], names, len(names), source)


def _check_empty_classes(splits: Mapping[str, list[Sample]], names: list[str], folders: Mapping[str, Path | None],
                         source: str) -> None:
    """A class folder of ``train/`` without images: one warning line (the model never learns that class); a
    DataError when the class has no validation image either (nothing to learn it from or score it on)."""
    def without_images(split: str) -> set[int]:
        return set(range(len(names))) - {c for _, c in splits[split]}

    untrained = sorted(without_images("train"))
    if not untrained:
        return
    unseen = [names[c] for c in untrained if c in without_images("val")]
    if unseen:
        raise DataError(f"{source}: class folder(s) {', '.join(unseen)} of {folders['train']} hold no image, nor "
                        f"does {folders['val']}: remove them or add images")
    LOGGER.warning(f"{source}: class folder(s) {', '.join(names[c] for c in untrained)} of {folders['train']} hold "
                   f"no image: those classes get no training image (only validation images)")


def train_transform(imgsz: int, hyp: Mapping[str, Any]) -> v2.Compose:
    """Training augmentation of (3, H, W) uint8 RGB images -> (3, imgsz, imgsz) uint8 (see the module docstring)."""
    return v2.Compose([
        v2.RandomResizedCrop(imgsz, scale=(max(1.0 - float(hyp["scale"]), 0.01), 1.0), antialias=True),
        v2.RandomHorizontalFlip(float(hyp["fliplr"])),
        v2.ColorJitter(brightness=float(hyp["hsv_v"]), saturation=float(hyp["hsv_s"]),
                       hue=min(float(hyp["hsv_h"]), 0.5)),
    ])


def eval_transform(imgsz: int) -> v2.Compose:
    """Evaluation and prediction preprocessing: short side to ``imgsz``, centre crop ``imgsz`` x ``imgsz``."""
    return v2.Compose([v2.Resize(imgsz, antialias=True), v2.CenterCrop(imgsz)])


def _inspect(path: str) -> str | None:
    try:
        inspect_image(path)
    except ImageReadError as exc:
        return str(exc)
    return None


def scan_cache_path(samples: Sequence[Sample]) -> Path:
    """Where the scan of ``samples`` is cached: beside the folder that holds them all (a split folder:
    ``root/train.focalyolo-cls.cache``), or under ``$FOCALYOLO_HOME/cache`` when that is read-only."""
    return cache_path_for(Path(os.path.commonpath([str(p) for p, _ in samples])), CACHE_SUFFIX)


def _load_skipped(path: Path, key: str) -> list[tuple[str, str]] | None:
    """The cached (path, reason) list for exactly ``key``, None when there is none (or it is unreadable)."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("key") != key:
        return None
    return [(str(p), str(r)) for p, r in cached.get("skipped", [])]


def check_samples(samples: Sequence[Sample]) -> tuple[list[Sample], list[tuple[str, str]], Path | None]:
    """Inspect every image (threads), or reuse the cached result when no file changed (the key hashes every path,
    size and mtime). Returns the readable samples, (path, reason) of the skipped ones, and the cache file used or
    written (None when it could not be written)."""
    files = [str(p) for p, _ in samples]
    cache = scan_cache_path(samples)
    key = dataset_hash(files, [], None)
    skipped = _load_skipped(cache, key)
    if skipped is None:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            reasons = list(pool.map(_inspect, files))
        skipped = [(f, f"corrupt image skipped: {r}") for f, r in zip(files, reasons) if r is not None]
        try:
            write_atomically(cache, json.dumps({"key": key, "skipped": skipped}).encode())
        except OSError:
            cache = None
    bad = {path for path, _ in skipped}
    return [s for s in samples if str(s[0]) not in bad], skipped, cache


class ClassificationDataset(Dataset):
    """``(image, class)`` samples -> ``{"img": (3, imgsz, imgsz) uint8 RGB, "cls": int, "path": str}`` items.

    Args:
        samples: (image path, class index) pairs, e.g. a split of :func:`load_classification_data`.
        imgsz: side of the square network input.
        augment: training augmentation (:func:`train_transform`) instead of :func:`eval_transform`.
        hyp: the augmentation hyper-parameters (``scale``, ``fliplr``, ``hsv_h/s/v``); needed with ``augment``.
        prefix: text in front of messages (``"train: "``).
        verbose: log the scan summary.

    The transforms draw from torch's global generator: for a loader's :class:`SampleKey` it is seeded from the key
    for that sample alone (and restored afterwards), so a run's samples depend on its seed, epoch and index only,
    never on the number of workers; a bare index draws from the generator as it stands.
    """

    def __init__(self, samples: Sequence[Sample], imgsz: int, augment: bool = False,
                 hyp: Mapping[str, Any] | None = None, prefix: str = "", verbose: bool = True):
        if augment and hyp is None:
            raise ValueError("augment=True needs the augmentation hyper-parameters (hyp)")
        self.samples, self.report, self.cache_path = check_samples(samples)
        self.imgsz = imgsz
        self.transform = train_transform(imgsz, hyp) if augment else eval_transform(imgsz)
        if not self.samples:
            raise DataError(f"{prefix}none of the {len(samples)} images is readable: "
                            f"{self.report[0][0]}: {self.report[0][1]}")
        if verbose:
            LOGGER.info(self.summary(prefix))

    def summary(self, prefix: str = "") -> str:
        """``train: 1000 images, 998 kept; 2 corrupt images skipped`` and the first skipped files."""
        counts = np.bincount([c for _, c in self.samples])
        where = f"scan cached in {self.cache_path}" if self.cache_path else "scan not cached"
        lines = [f"{prefix}{len(self.samples) + len(self.report)} images, {len(self.samples)} kept in "
                 f"{np.count_nonzero(counts)} classes; {len(self.report)} corrupt images skipped; {where}"]
        lines += [f"{prefix}  {path}: {reason}" for path, reason in self.report[:_SUMMARY_LINES]]
        if len(self.report) > _SUMMARY_LINES:
            lines.append(f"{prefix}  ... and {len(self.report) - _SUMMARY_LINES} more (see dataset.report)")
        return "\n".join(lines)

    @property
    def labels(self) -> np.ndarray:
        """(n,) int64 class index of every kept image."""
        return np.array([c for _, c in self.samples], np.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | SampleKey) -> dict[str, Any]:
        path, cls = self.samples[key.index if isinstance(key, SampleKey) else key]
        image = torch.from_numpy(np.ascontiguousarray(read_image(path)[..., ::-1].transpose(2, 0, 1)))
        with key.torch_seeded() if isinstance(key, SampleKey) else contextlib.nullcontext():
            img = self.transform(image)
        return {"img": img, "cls": cls, "path": str(path)}

    @staticmethod
    def collate_fn(items: list[dict[str, Any]]) -> dict[str, Any]:
        """``{"img": (B, 3, imgsz, imgsz) uint8, "cls": (B,) int64, "paths": list of B str}``."""
        return {"img": torch.stack([it["img"] for it in items]),
                "cls": torch.tensor([it["cls"] for it in items], dtype=torch.int64),
                "paths": [it["path"] for it in items]}
