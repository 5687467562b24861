"""Dataset descriptions -> :class:`DataConfig`: Ultralytics-style data YAML, COCO JSON, or ``"synthetic"``.

A data YAML has ``path`` (the root; relative to the YAML's folder, default that folder), ``train``,
``val``, optional ``test`` (each a folder, a ``.txt`` list of image paths, a COCO ``.json``, an image,
or a list of those; relative to the root) and ``names`` (a list, or a dict with keys 0..n-1). A COCO
JSON given directly serves as both train and val split.

Pose data add ``kpt_shape`` ([keypoints, 2 or 3 values each]), optional ``flip_idx`` (keypoint i becomes keypoint
``flip_idx[i]`` in a mirror image) and ``skeleton`` (0-based [a, b] keypoint pairs, for drawing); a COCO keypoints
JSON brings its own, which the YAML's keys override.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import DataError
from .coco import CocoSplit, convert_coco
from .keypoints import check_flip_idx, check_kpt_shape, is_int
from .paths import is_image_file
from .synthetic import VERSIONS, ensure_synthetic

__all__ = [
    "DataConfig", "SPLITS", "check_skeleton", "load_data_config", "parse_names",
    "read_data_yaml", "resolve_split",
]

SPLITS = ("train", "val", "test")
_KEYPOINT_KEYS = ("kpt_shape", "flip_idx", "skeleton")


@dataclass
class DataConfig:
    """A resolved dataset: image file lists per split and the class names.

    Attributes:
        root: the dataset root folder.
        train, val, test: image files of each split (``test`` may be empty).
        names: class names, index = class id.
        nc: number of classes (``len(names)``).
        source: the file the config came from, for messages.
        kpt_shape: pose data: [nk, ndim], keypoints per object and values per keypoint (2: x y; 3: x y
            visibility); None for other tasks.
        flip_idx: pose data: a permutation of range(nk), keypoint i becomes ``flip_idx[i]`` in a mirror image
            (None: unknown, so keypoint data cannot be trained with flips).
        skeleton: pose data: 0-based [a, b] keypoint index pairs joined when drawing (None: none given).
    """

    root: Path
    train: list[Path]
    val: list[Path]
    test: list[Path]
    names: list[str]
    nc: int
    source: str
    kpt_shape: list[int] | None = None
    flip_idx: list[int] | None = None
    skeleton: list[list[int]] | None = None


def parse_names(names: Any, source: str) -> list[str]:
    """``names`` as a list of strings; a dict must have int keys 0..n-1 (any order)."""
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            keys = []
        if keys != list(range(len(names))):
            raise DataError(f"{source}: 'names' dict keys must be the class ids 0..{len(names) - 1}")
        names = [names[k] if k in names else names[str(k)] for k in keys]
    if not isinstance(names, list) or not names or not all(isinstance(n, (str, int, float)) for n in names):
        raise DataError(f"{source}: 'names' must be a non-empty list or dict of class names")
    return [str(n) for n in names]


def check_skeleton(value: Any, nk: int, source: str) -> list[list[int]]:
    """A data file's ``skeleton``: [a, b] pairs of 0-based keypoint indices."""
    if not (isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 and all(map(is_int, p))
                                            and 0 <= min(p) and max(p) < nk for p in value)):
        raise DataError(f"{source}: 'skeleton' must be a list of [a, b] keypoint index pairs in 0..{nk - 1}, "
                        f"got {value}")
    return [list(p) for p in value]


def _keypoint_fields(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """``kpt_shape``, ``flip_idx`` and ``skeleton`` of a data mapping (None where absent), checked; ``flip_idx``
    and ``skeleton`` need a ``kpt_shape``."""
    fields: dict[str, Any] = dict.fromkeys(_KEYPOINT_KEYS)
    if raw.get("kpt_shape") is None:
        extra = [k for k in ("flip_idx", "skeleton") if raw.get(k) is not None]
        if extra:
            raise DataError(f"{source}: '{extra[0]}' given without 'kpt_shape'")
        return fields
    fields["kpt_shape"] = check_kpt_shape(raw["kpt_shape"], source)
    nk = fields["kpt_shape"][0]
    if raw.get("flip_idx") is not None:
        fields["flip_idx"] = check_flip_idx(raw["flip_idx"], nk, source)
    if raw.get("skeleton") is not None:
        fields["skeleton"] = check_skeleton(raw["skeleton"], nk, source)
    return fields


def _read_list_file(path: Path) -> list[Path]:
    """Image paths listed one per line (blank and ``#`` lines skipped), relative to the list's folder."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read image list ({exc})") from exc
    entries = (ln.strip() for ln in lines)
    return [Path(os.path.normpath(path.parent / e)) for e in entries if e and not e.startswith("#")]


def _resolve_entry(entry: Path, source: str, key: str, coco_splits: list[CocoSplit]) -> list[Path]:
    if not entry.exists():
        raise DataError(f"{source}: '{key}' path not found: {entry}")
    if entry.is_dir():
        return sorted(p for p in entry.rglob("*") if is_image_file(p) and p.is_file())
    suffix = entry.suffix.lower()
    if suffix == ".txt":
        return [p for p in _read_list_file(entry) if is_image_file(p)]
    if suffix == ".json":
        split = convert_coco(entry)
        coco_splits.append(split)
        return split.images
    if is_image_file(entry):
        return [entry]
    raise DataError(f"{source}: '{key}' must be a folder, a .txt image list, a COCO .json or an image: {entry}")


def resolve_split(value: Any, root: Path, source: str, key: str, coco_splits: list[CocoSplit]) -> list[Path]:
    """All image files of one split entry (a path or a list of paths relative to ``root``); the COCO JSONs met
    are appended to ``coco_splits``."""
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, (str, Path)) for v in values):
        raise DataError(f"{source}: '{key}' must be a path or a list of paths")
    files: list[Path] = []
    for v in values:
        p = Path(v).expanduser()
        files += _resolve_entry(p if p.is_absolute() else root / p, source, key, coco_splits)
    if not files:
        raise DataError(f"{source}: no images found for '{key}' ({', '.join(map(str, values))})")
    return files


def read_data_yaml(path: Path) -> tuple[dict[str, Any], Path]:
    """A data YAML's mapping and its dataset root (``path``, relative to the YAML's folder, default that folder)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read data YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a mapping with train/val (and names)")
    root = Path(raw.get("path") or ".").expanduser()
    return raw, Path(os.path.abspath(root if root.is_absolute() else path.parent / root))


def _from_yaml(path: Path) -> DataConfig:
    source = str(path)
    raw, root = read_data_yaml(path)
    for key in ("train", "val"):
        if not raw.get(key):
            raise DataError(f"{source}: missing '{key}' entry")
    names = parse_names(raw["names"], source) if raw.get("names") is not None else None
    coco_splits: list[CocoSplit] = []
    splits = {k: resolve_split(raw[k], root, source, k, coco_splits) if raw.get(k) else [] for k in SPLITS}
    coco_names = [split.names for split in coco_splits]
    if any(n != coco_names[0] for n in coco_names):
        raise DataError(f"{source}: the COCO JSON files of the splits have different categories")
    if names is None and coco_names:
        names = coco_names[0]
    elif names is None and isinstance(raw.get("nc"), int) and raw["nc"] > 0:
        names = [f"class{i}" for i in range(raw["nc"])]
    elif names is None:
        raise DataError(f"{source}: missing 'names'")
    if coco_names and len(coco_names[0]) != len(names):
        raise DataError(f"{source}: {len(names)} names but the COCO JSON has {len(coco_names[0])} categories")
    if "nc" in raw and raw["nc"] != len(names):
        raise DataError(f"{source}: nc is {raw['nc']} but {len(names)} names are given")
    pose = next((split for split in coco_splits if split.kpt_shape), None)
    keypoint_keys = {k: getattr(pose, k) for k in _KEYPOINT_KEYS} if pose else {}
    keypoint_keys.update({k: raw[k] for k in _KEYPOINT_KEYS if raw.get(k) is not None})  # the YAML's keys win
    return DataConfig(root, splits["train"], splits["val"], splits["test"], names, len(names), source,
                      **_keypoint_fields(keypoint_keys, source))


def _from_json(path: Path) -> DataConfig:
    split = convert_coco(path)
    if not split.images:
        raise DataError(f"{path}: none of the listed images was found")
    return DataConfig(Path(os.path.abspath(path.parent)), split.images, list(split.images), [], split.names,
                      len(split.names), str(path), **_keypoint_fields(vars(split), str(path)))


def load_data_config(data: str | Path) -> DataConfig:
    """Resolve a dataset description into image lists and class names.

    Args:
        data: a data YAML, a COCO ``instances_*.json`` or ``person_keypoints_*.json``, or a built-in dataset name
            (``"synthetic"``, ``"synthetic-seg"``, ``"synthetic-pose"``, ``"synthetic-cls"``: generated once under
            ``$FOCALYOLO_HOME/datasets``).

    Raises:
        DataError: one line naming the file and the problem.
    """
    if str(data) in VERSIONS:
        return _from_yaml(ensure_synthetic(str(data)))
    path = Path(data).expanduser()
    if not path.is_file():
        built_in = "" if path.suffix else f", and not a built-in dataset ({', '.join(VERSIONS)})"
        raise DataError(f"{path}: data file not found{built_in}")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _from_yaml(path)
    if suffix == ".json":
        return _from_json(path)
    raise DataError(f"{path}: expected a data .yaml, a COCO .json or a built-in set ({', '.join(VERSIONS)})")
