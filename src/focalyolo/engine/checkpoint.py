"""Checkpoints as plain data: state_dicts, numbers, strings and lists that ``torch.load(weights_only=True)`` reads.

A checkpoint is a dict with ``format`` ("focalyolo/1"), ``model_yaml`` (the config dict), ``names``,
``model`` (state_dict), ``ema`` (state_dict or None), and for training runs ``optimizer``, ``scaler``,
``epoch``, ``best_fitness``, ``ema_updates``, ``train_args`` and ``rng`` (generator states). Files are written
atomically: to a temporary file in the same folder, flushed to disk, then renamed over the target, so a
crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..models import DetectionModel

FORMAT = "focalyolo/1"


def save_checkpoint(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` to ``path`` atomically; on failure (e.g. disk full) the old file is kept and CheckpointError raised."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({"format": FORMAT, **data}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write (disk full) as a RuntimeError
        Path(tmp_name).unlink(missing_ok=True)
        cause = _os_error_in(exc)
        reason = (cause.strerror or str(cause)) if cause else str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(f"{path}: could not write checkpoint ({reason}); "
                              f"the previous file is unchanged") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _os_error_in(exc: BaseException | None) -> OSError | None:
    """The first OSError in an exception's chain (``torch.save`` wraps a failed write in a RuntimeError)."""
    while exc is not None and not isinstance(exc, OSError):
        exc = exc.__cause__ or exc.__context__
    return exc


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a focalyolo checkpoint safely (``weights_only=True``); clear errors for missing, foreign or unsafe files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a loadable focalyolo checkpoint ({first[:200]}); official YOLOv9 files are imported "
            f"with 'focalyolo convert --from-official'"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a focalyolo checkpoint (no '{FORMAT}' format tag)")
    return data


def model_from_checkpoint(data: dict[str, Any], prefer_ema: bool = True) -> DetectionModel:
    """Rebuild the model of a checkpoint dict and load its (EMA, if present and preferred) weights.

    A checkpoint marked ``"fused": True`` holds BatchNorm-folded weights: the model is fused before loading.
    """
    model = DetectionModel(data["model_yaml"], nc=len(data["names"]))
    if data.get("fused"):
        model.fuse()
    state = data.get("ema") if prefer_ema and data.get("ema") is not None else data["model"]
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor's shape differs, e.g. weights of another class count than 'names'
        first = str(exc).strip().splitlines()[-1].strip()
        raise CheckpointError(f"checkpoint weights do not fit its model config ({len(data['names'])} classes): "
                              f"{first[:200]}") from None
    if missing or unexpected:
        raise CheckpointError(f"checkpoint weights do not fit its model config: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.names = list(data["names"])
    return model


def load_model(path: str | Path, device: str | torch.device = "cpu") -> DetectionModel:
    """Load any focalyolo checkpoint into a ready-to-use model in eval mode (EMA weights when present)."""
    data = read_checkpoint(path)
    try:
        model = model_from_checkpoint(data)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return model.to(device).eval()
