"""File-system helpers shared by the run commands (train, val, predict)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["increment_path", "write_atomically"]


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling renamed into place, so a reader (or a crash) never
    sees half a file; the parent folder is created. Raises OSError when the location is not writable (the
    temporary file is removed)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _numbered(path: Path, n: int, keep_suffix: bool) -> Path:
    """``path`` with ``n`` appended to its name (before the suffix when ``keep_suffix``); n=1 is ``path`` itself."""
    if n == 1:
        return path
    if keep_suffix:
        return path.with_name(f"{path.stem}{n}{path.suffix}")
    return path.with_name(f"{path.name}{n}")


def increment_path(path: str | Path, exist_ok: bool = False, mkdir: bool = False) -> Path:
    """The first free path among ``path``, ``path2``, ``path3``, ... (``runs/val/exp`` -> ``runs/val/exp2``).

    Args:
        path: the wanted path, e.g. ``runs/train/exp``; for an existing file the number goes before the
            suffix (``preds.json`` -> ``preds2.json``).
        exist_ok: return ``path`` itself even if it exists (reuse the run folder).
        mkdir: create the returned path as a directory (with parents). The directory is claimed with an
            exclusive ``mkdir``, so two processes started together never get the same folder.

    Returns:
        The chosen path.
    """
    path = Path(path)
    if exist_ok:
        if mkdir:
            path.mkdir(parents=True, exist_ok=True)
        return path
    keep_suffix = path.is_file()
    n = 1
    while True:
        candidate = _numbered(path, n, keep_suffix)
        if mkdir:
            try:
                candidate.mkdir(parents=True, exist_ok=False)
                return candidate
            except FileExistsError:
                pass
        elif not candidate.exists():
            return candidate
        n += 1
