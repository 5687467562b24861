"""Structural edits of model configs: a layer inserted with every ``from`` reference kept on the layer it named
(:func:`insert_layer`), or standing in for its source in every reference after it (:func:`insert_after`)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["insert_after", "insert_layer"]


def _absolute(frm: int | list[int], index: int) -> list[int]:
    return [index + f if f < 0 else f for f in (frm if isinstance(frm, list) else [frm])]


def _rewrite(original: int | list[int], sources: list[int], index: int) -> int | list[int]:
    """Write absolute ``sources`` back in the row's own style: entries that were relative stay relative."""
    styles = original if isinstance(original, list) else [original]
    rel = [s - index if style < 0 else s for s, style in zip(sources, styles)]
    return rel if isinstance(original, list) else rel[0]


def insert_layer(cfg: dict, position: int, module: str, args: list[Any], repeats: int = 1) -> dict:
    """Insert ``[from, repeats, module, args]`` so it becomes layer ``position`` and feeds the layer that was there.

    The new layer reads what the displaced layer read (its single input); the displaced layer now reads
    the new one; every absolute index >= ``position`` elsewhere shifts by one. Rows stay in their section
    (backbone/head); the new row joins the section of the layer it reads. Returns a new config dict.
    """
    cfg = copy.deepcopy(cfg)
    n_backbone = len(cfg["backbone"])
    rows = list(cfg["backbone"]) + list(cfg["head"])
    if not 0 < position < len(rows):
        raise ValueError(f"position {position} is outside 1..{len(rows) - 1}")
    target_sources = _absolute(rows[position][0], position)
    if len(target_sources) != 1:
        raise ValueError(f"layer {position} has several inputs; insert before a single-input layer")
    new_rows = []
    for old_index, row in enumerate(rows):
        frm, n, name, row_args = row
        new_index = old_index + (old_index >= position)
        if old_index == position:
            new_rows.append([_rewrite(frm, target_sources, position), repeats, module, list(args)])
            new_rows.append([-1, n, name, row_args])
            continue
        sources = [s + (s >= position) for s in _absolute(frm, old_index)]
        new_rows.append([_rewrite(frm, sources, new_index), n, name, row_args])
    split = n_backbone + (position <= n_backbone)
    cfg["backbone"], cfg["head"] = new_rows[:split], new_rows[split:]
    return cfg


def insert_after(cfg: dict, source: int, module: str, args: list[Any], repeats: int = 1) -> dict:
    """Insert ``[source, repeats, module, args]`` as layer ``source + 1`` and let it stand in for layer ``source``.

    Every later layer that read ``source`` reads the new layer instead, so the new layer's output replaces that
    level everywhere (e.g. a context block at P4 feeds both the next backbone stage and the neck's P4 skip);
    every absolute index > ``source`` shifts by one. The new row joins the section of layer ``source``.
    Returns a new config dict.
    """
    cfg = copy.deepcopy(cfg)
    n_backbone = len(cfg["backbone"])
    rows = list(cfg["backbone"]) + list(cfg["head"])
    if not 0 <= source < len(rows) - 1:
        raise ValueError(f"source {source} is outside 0..{len(rows) - 2}")
    position = source + 1
    new_rows = [list(row) for row in rows[:position]] + [[-1, repeats, module, list(args)]]
    for old_index in range(position, len(rows)):
        frm, n, name, row_args = rows[old_index]
        sources = [position if s == source else s + (s >= position) for s in _absolute(frm, old_index)]
        new_rows.append([_rewrite(frm, sources, old_index + 1), n, name, row_args])
    split = n_backbone + (source < n_backbone)
    cfg["backbone"], cfg["head"] = new_rows[:split], new_rows[split:]
    return cfg
