"""Moving weights into a model of another config: by tensor name, or by aligned layer structure; one report.

:func:`transfer_by_name` serves ``train --weights`` (same layout, perhaps another class count: tensors whose
shape differs are skipped and listed). :func:`transfer_weights` serves ``convert --from-official --model-cfg``
(e.g. official yolov9-c into ``yolov9-c-focal``, which has an extra layer): the two configs' layer rows are
aligned first, so inserted layers shift no weights.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..models import Model
from ..models.parser import LayerRow, read_rows
from .convert import gelan_config, gelan_state, single_form

__all__ = ["TransferReport", "align_rows", "transfer_by_name", "transfer_weights"]


@dataclass
class TransferReport:
    """What a transfer copied: ``transferred`` of the model's ``total`` tensors; ``skipped`` (name, source shape,
    model shape) for same-named tensors of another shape; for structure transfers the ``layer_map`` (model
    layer -> source layer) and the ``empty_layers`` that got no weights."""

    transferred: int
    total: int
    skipped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    layer_map: dict[int, int] = field(default_factory=dict)
    empty_layers: list[int] | None = None

    def summary(self, source: str | None = None, shown: int = 6) -> str:
        """One line: ``transferred 230/242 tensors from x.pt; 12 skipped (...): name (ckpt) -> (model), ...``."""
        text = f"transferred {self.transferred}/{self.total} tensors" + (f" from {source}" if source else "")
        if self.empty_layers is not None:
            text += f"; layers that got no weights: {', '.join(map(str, self.empty_layers)) or 'none'}"
        if self.skipped:
            listed = ", ".join(f"{name} {tuple(a)} -> {tuple(b)}" for name, a, b in self.skipped[:shown])
            more = f", ... and {len(self.skipped) - shown} more" if len(self.skipped) > shown else ""
            text += f"; {len(self.skipped)} skipped (shape differs, e.g. another class count): {listed}{more}"
        return text

    __str__ = summary


def transfer_by_name(model: nn.Module, checkpoint: dict[str, Any]) -> TransferReport:
    """Copy checkpoint tensors (EMA when present) into ``model`` where name and shape match."""
    source = checkpoint.get("ema") or checkpoint["model"]
    target = model.state_dict()
    matched = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    skipped = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in source.items()
               if k in target and target[k].shape != v.shape]
    model.load_state_dict(matched, strict=False)
    return TransferReport(len(matched), len(target), skipped)


def _signature(row: LayerRow) -> tuple[str, str, int]:
    """What must agree for two rows to be 'the same layer': module, YAML args and repeats (not ``from``)."""
    return row.module, repr(row.args), row.repeats


def align_rows(src: list[LayerRow], dst: list[LayerRow]) -> dict[int, int]:
    """Map destination layer index -> source layer index by sequence alignment of row signatures.

    Identical runs are matched in order; within a replaced run, rows of the same module are paired in
    order (their args differ, so only tensors whose shapes still match will move).
    """
    matcher = difflib.SequenceMatcher(None, [_signature(r) for r in src], [_signature(r) for r in dst], autojunk=False)
    mapping: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or tag == "replace":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                if src[i].module == dst[j].module:
                    mapping[j] = i
    return mapping


def transfer_weights(src_state: dict[str, torch.Tensor], src_cfg: dict[str, Any],
                     dst_model: Model) -> TransferReport:
    """Copy weights from a model of config ``src_cfg`` into ``dst_model`` (another config) by layer structure.

    Layers are aligned by :func:`align_rows`; each destination tensor whose source counterpart exists with
    the same shape is copied, the rest keep their initial values. A dual-head source going into a single-head
    destination is converted to its GELAN form first.
    """
    src_rows = read_rows(src_cfg, "source config")
    if single_form(src_rows[-1].module) and not dst_model.is_dual:
        src_cfg, index_map = gelan_config(src_cfg)
        src_state = gelan_state(src_state, index_map, src_rows[-1])
        src_rows = read_rows(src_cfg, "source config")
    layer_map = align_rows(src_rows, dst_model.rows)
    dst_state = dst_model.state_dict()
    copied: dict[str, torch.Tensor] = {}
    for key, tensor in dst_state.items():
        _, layer, rest = key.split(".", 2)
        source = layer_map.get(int(layer))
        candidate = src_state.get(f"model.{source}.{rest}") if source is not None else None
        if candidate is not None and candidate.shape == tensor.shape:
            copied[key] = candidate
    dst_model.load_state_dict(copied, strict=False)
    with_weights = sorted({int(k.split(".")[1]) for k in dst_state})
    filled = {int(k.split(".")[1]) for k in copied}
    return TransferReport(len(copied), len(dst_state), layer_map=layer_map,
                          empty_layers=[i for i in with_weights if i not in filled])
