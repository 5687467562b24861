"""Checkpoints as plain data: state_dicts, numbers, strings and lists that ``torch.load(weights_only=True)`` reads.

A checkpoint is a dict with ``format`` ("focalyolo/1"), ``model_yaml`` (the config dict), ``names``,
``model`` (state_dict), ``ema`` (state_dict or None), and for training runs ``optimizer``, ``scaler``,
``epoch``, ``best_fitness``, ``ema_updates`` and ``train_args`` (the run's resolved configuration; inference
takes its image size and data from it). Files are written atomically: to a temporary file in the same folder,
flushed to disk, then renamed over the target, so a crash mid-write leaves the previous checkpoint intact; they
get the permissions of any new file (``0666`` less the umask, so ``0644`` under the usual umask 022).
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, OfficialCheckpointError
from ..models import Model

__all__ = ["FORMAT", "load_model", "model_from_checkpoint", "read_checkpoint", "save_checkpoint"]

FORMAT = "focalyolo/1"


def save_checkpoint(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` to ``path`` atomically; on failure (e.g. disk full) the old file is kept and CheckpointError
    raised."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; a checkpoint is shared like any output
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


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_error_in(exc: BaseException | None) -> OSError | None:
    """The first OSError in an exception's chain (``torch.save`` wraps a failed write in a RuntimeError)."""
    while exc is not None and not isinstance(exc, OSError):
        exc = exc.__cause__ or exc.__context__
    return exc


def _why_unreadable(path: Path, exc: Exception) -> str:
    """A sentence saying why ``torch.load(path, weights_only=True)`` failed with ``exc``."""
    message = str(exc)
    blocked = re.search(r"GLOBAL ([\w.]+)", message)
    if blocked:
        name = blocked.group(1)
        return f"it holds pickled code ({name}), which focalyolo never runs"
    with path.open("rb") as handle:
        head = handle.read(64)
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            return (f"it is truncated or damaged: the zip archive ends early ({size:,} bytes; "
                    "copied or written only in part?)")
        return f"its zip archive is not a PyTorch checkpoint ({message.strip().splitlines()[0][:120]})"
    if "Weights only load failed" in message:
        return ("it is a pickle with objects other than tensors, numbers, strings and containers, "
                "which focalyolo does not load")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not a PyTorch file (neither a zip archive nor a pickle)"
    if text.isprintable() or all(c.isprintable() or c.isspace() for c in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"it is a text file, not a PyTorch checkpoint (it starts with {first!r})"
    return "it is not a PyTorch file (neither a zip archive nor a pickle)"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a focalyolo checkpoint safely (``weights_only=True``); one clear sentence for a missing, foreign,
    truncated or unsafe file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, KeyError, EOFError ... for bad files
        if re.search(r"GLOBAL (models|utils)\.", str(exc)):
            raise OfficialCheckpointError(f"{path}: an official YOLOv9 checkpoint (it pickles the model's classes); "
                                          f"import it with 'focalyolo convert --from-official {path}'") from None
        raise CheckpointError(f"{path}: not a loadable focalyolo checkpoint: {_why_unreadable(path, exc)}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a focalyolo checkpoint (no '{FORMAT}' format tag)")
    return data


def model_from_checkpoint(data: dict[str, Any], prefer_ema: bool = True) -> Model:
    """Rebuild the model of a checkpoint dict and load its (EMA, if present and preferred) weights.

    A checkpoint marked ``"fused": True`` holds BatchNorm-folded weights: the model is fused before loading.
    """
    model = Model(data["model_yaml"], nc=len(data["names"]))
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
        raise CheckpointError(f"checkpoint weights do not fit its model config: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    model.names = list(data["names"])
    model.train_args = dict(data.get("train_args") or {})
    return model


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Model:
    """Load any focalyolo checkpoint into a ready-to-use model in eval mode (EMA weights when present)."""
    data = read_checkpoint(path)
    try:
        model = model_from_checkpoint(data)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return model.to(device).eval()
