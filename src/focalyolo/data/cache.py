"""Decoded-image caching: an LRU store bounded in bytes, and the memory check of ``--cache ram``.

Without ``--cache`` each process keeps a small LRU of decoded, resized images (a mosaic reads four images, so
this saves most decodes of a small dataset). ``--cache ram`` makes the same store hold the whole dataset for the
run: the dataset estimates what that takes from a few decoded images, :func:`ram_cache_capacity` checks it
against the memory available, and the dataset fills the store in the main process before any loader worker
forks, so the workers share the decoded images instead of each decoding (and holding) its own copy.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from typing import Any

__all__ = ["RAM_SHARE", "ImageCache", "available_memory", "format_bytes", "ram_cache_capacity"]

LOGGER = logging.getLogger("focalyolo")
RAM_SHARE = 0.75
"""The largest share of the available memory a RAM cache may take (the rest: the model, the workers, the OS)."""


class ImageCache:
    """Least-recently-used store of decoded, resized images, bounded in bytes (0 turns it off).

    Entries are exactly what decoding would return, so results do not depend on what is cached. ``capacity``
    may be raised at any time (``--cache ram`` raises it to hold the whole dataset).
    """

    def __init__(self, capacity_bytes: int):
        self.capacity = capacity_bytes
        self.used = 0
        self.entries: OrderedDict[int, tuple[Any, int]] = OrderedDict()

    def get(self, key: int) -> Any | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.entries.move_to_end(key)
        return entry[0]

    def put(self, key: int, value: Any, size: int) -> None:
        if size > self.capacity or key in self.entries:
            return
        while self.used + size > self.capacity:
            _, (_, freed) = self.entries.popitem(last=False)
            self.used -= freed
        self.entries[key] = (value, size)
        self.used += size


def available_memory() -> int | None:
    """Bytes of memory available to new allocations without swapping (Linux ``MemAvailable``, which counts the
    reclaimable page cache; elsewhere the free pages), or None when the system does not say."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def format_bytes(n: float) -> str:
    """``55.3 kB``, ``12.3 MB``, ``20.1 GB`` (decimal units)."""
    for scale, unit in ((1e9, "GB"), (1e6, "MB")):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.1f} kB"


def ram_cache_capacity(images: int, estimate: int, prefix: str = "", verbose: bool = True) -> int | None:
    """The byte capacity of a cache for ``images`` decoded images estimated at ``estimate`` bytes in all, once it is
    checked to fit: at most :data:`RAM_SHARE` of the available memory, counting one copy per training process on
    this machine (torchrun's ``LOCAL_WORLD_SIZE``). When ``verbose``, logs ``caching 400 images in RAM: 12.3 MB of
    20.1 GB available``, or warns in one line that it does not fit; then returns None (the caller keeps its small
    cache)."""
    copies = max(int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1), 1)
    available = available_memory()
    need = f"{format_bytes(estimate * copies)}" + (f" ({copies} processes)" if copies > 1 else "")
    if available is None or estimate * copies > RAM_SHARE * available:
        if verbose:
            why = ("the available memory is unknown on this system" if available is None else
                   f"more than {RAM_SHARE:.0%} of the {format_bytes(available)} available")
            LOGGER.warning(f"{prefix}--cache ram: {images} images need {need}, {why}; images not cached")
        return None
    if verbose:
        LOGGER.info(f"{prefix}caching {images} images in RAM: {need} of {format_bytes(available)} available")
    return int(RAM_SHARE * available / copies)
