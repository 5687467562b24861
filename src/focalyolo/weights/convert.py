"""YOLOv9 -> GELAN conversion (drop PGI's auxiliary branch) and BatchNorm/RepConvN fusion for inference.

A dual-head model (``DualDDetect``, ``DualDSegment``, ``DualDPose``, ``DualDOBB``) predicts at inference time from
its main branch only. Conversion keeps the layers the main head inputs depend on, renumbers them, swaps the head for
its single form over the main inputs (``DDetect``, ``DSegment``, ``DPose``, ``DOBB``) and carries the weights over:
``model.{old}.*`` -> ``model.{new}.*``, head ``cv4/cv5/dfl2`` -> ``cv2/cv3/dfl`` (and ``cv7/proto2`` ->
``cv4/proto``). The head class
declares all three (``single_form``, ``main_inputs``, ``main_branches``); the rest works from the config alone,
so user YAMLs with inserted layers convert like the packaged ones (yolov9-c -> gelan-c, yolov9-e -> gelan-e,
which keeps both backbones, yolov9-c-dseg -> gelan-c-dseg).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from ..models import Model
from ..models.parser import LayerRow, layer_dependencies, main_head_inputs, read_rows
from ..nn.blocks import Silence
from ..nn.conv import Conv
from ..nn.registry import lookup

__all__ = [
    "convert_checkpoint", "convert_to_gelan", "converted_checkpoint", "deployment_form", "fuse_model",
    "gelan_config", "gelan_state", "is_fused", "single_form",
]


def single_form(module: str) -> str | None:
    """The single-branch head that replaces the dual head registered as ``module`` (None: not a dual head)."""
    try:
        return getattr(lookup(module).cls, "single_form", None)
    except KeyError:
        return None


def _input_alias_droppable(rows: list[LayerRow], keep: set[int]) -> bool:
    """True when layer 0 is a ``Silence`` that only the first other kept layer reads.

    That layer becomes the new layer 0 and reads the image directly; any later reader of the raw image
    (``from: 0``, as in yolov9-e's second backbone) needs the Silence layer to stay.
    """
    if 0 not in keep or lookup(rows[0].module).cls is not Silence:
        return False
    rest = sorted(keep - {0})
    readers = [i for i in rest if 0 in rows[i].sources]
    return all(i == rest[0] for i in readers)


def _write_from(sources: list[int], index: int) -> int | list[int]:
    """Absolute sources -> a YAML ``from``: -1 for the previous layer (or the image at layer 0), else absolute."""
    written = [-1 if s in (index - 1, -1) else s for s in sources]
    return written[0] if len(written) == 1 else written


def gelan_config(cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[int, int]]:
    """The single-head (GELAN) form of a model config, and the old -> new index of every kept layer.

    The head's last ``len(from) // 2`` inputs (the main branch) and everything they read are kept, in order;
    a layer-0 ``Silence`` goes when nothing but the next kept layer reads it; every ``from`` is rewritten; the
    dual head becomes its single counterpart over the main inputs. A config whose head is not dual comes back
    unchanged (a copy) with the identity map.
    """
    cfg = copy.deepcopy(cfg)
    cfg.pop("_lines", None)
    source = str(cfg.get("yaml_file", "<dict config>"))
    rows = read_rows(cfg, source)
    head = rows[-1]
    single = single_form(head.module)
    if single is None:
        return cfg, {row.index: row.index for row in rows}
    main = main_head_inputs(rows)
    keep = layer_dependencies(rows, main)
    if _input_alias_droppable(rows, keep):
        keep.discard(0)
    order = sorted(keep) + [head.index]
    index_map = {old: new for new, old in enumerate(order)}
    n_backbone = len(cfg.get("backbone") or [])
    backbone, neck = [], []
    for old in order:
        row = rows[old]
        new = index_map[old]
        sources = main if row is head else row.sources
        frm = _write_from([index_map.get(s, -1) for s in sources], new)
        module = single if row is head else row.module
        (backbone if old < n_backbone else neck).append([frm, row.repeats, module, copy.deepcopy(row.args)])
    cfg["backbone"], cfg["head"] = backbone, neck
    cfg["yaml_file"] = f"{source} (converted to GELAN)"
    return cfg, index_map


def gelan_state(state: dict[str, torch.Tensor], index_map: dict[int, int], head: LayerRow) -> dict[str, torch.Tensor]:
    """Rename a dual model's state_dict entries for its GELAN form (layers by ``index_map``; ``head`` its last row).

    ``model.{old}.rest`` -> ``model.{new}.rest`` for kept layers; in the head only the main branch survives,
    renamed as the head class's ``main_branches`` say (e.g. ``cv4 -> cv2``). Tensors are shared, not copied.
    """
    main_branches = lookup(head.module).cls.main_branches
    out = {}
    for key, tensor in state.items():
        _, layer, rest = key.split(".", 2)
        old = int(layer)
        if old not in index_map:
            continue
        if old == head.index:
            branch, _, tail = rest.partition(".")
            if branch not in main_branches:
                continue
            rest = f"{main_branches[branch]}.{tail}"
        out[f"model.{index_map[old]}.{rest}"] = tensor
    return out


def is_fused(model: torch.nn.Module) -> bool:
    """True when the model's BatchNorms have been folded (``fuse()`` was called)."""
    return any(isinstance(m, Conv) and m.bn is None for m in model.modules())


def convert_to_gelan(model: Model) -> Model:
    """A new single-head model computing exactly the main-branch predictions of a dual-head ``model``.

    The result has the GELAN structure (e.g. yolov9-c -> gelan-c keys and shapes), the same class names,
    training record, device, dtype, train/eval mode and fused state. A single-head model is returned as a deep copy.
    """
    if not model.is_dual:
        return copy.deepcopy(model)
    cfg, index_map = gelan_config(model.copy_config())
    gelan = Model(cfg)
    if is_fused(model):
        gelan.fuse()
    gelan.load_state_dict(gelan_state(model.state_dict(), index_map, model.rows[-1]))
    gelan.names = list(model.names)
    gelan.train_args = dict(model.train_args)
    reference = next(model.parameters())
    return gelan.to(device=reference.device, dtype=reference.dtype).train(model.training)


def fuse_model(model: Model) -> Model:
    """A fused copy in eval mode: BatchNorm folded into convs, RepConvN branches merged; ``model`` is untouched."""
    return copy.deepcopy(model).eval().fuse()


def deployment_form(model: Model, channels_last: bool = False) -> Model:
    """What inference runs: a GELAN-converted (when dual), fused copy in eval mode; in channels-last memory
    format when asked (12-22 % faster on x86 CPUs with oneDNN)."""
    net = fuse_model(convert_to_gelan(model))
    return net.to(memory_format=torch.channels_last) if channels_last else net


def converted_checkpoint(model: Model) -> dict[str, Any]:
    """Checkpoint data (for ``save_checkpoint``) of a converted model; ``fused`` tells loaders to fuse first."""
    return {
        "model_yaml": model.copy_config(),
        "names": list(model.names),
        "model": model.state_dict(),
        "ema": None,
        "fused": is_fused(model),
        "train_args": dict(model.train_args),
    }


def convert_checkpoint(path: str | Path, fuse: bool = False) -> tuple[dict[str, Any], str, Path]:
    """``convert --model``: a checkpoint's model in GELAN form (fused when asked), as checkpoint data; with a
    one-line note of what was done and the default output path (``<input>-converted.pt``)."""
    from .checkpoint import model_from_checkpoint, read_checkpoint

    original = model_from_checkpoint(read_checkpoint(path))
    model = convert_to_gelan(original)
    model = fuse_model(model) if fuse else model
    note = f"{'dual head -> GELAN' if original.is_dual else 'already single-head'}{', fused' if fuse else ''}"
    return converted_checkpoint(model), note, Path(path).with_name(f"{Path(path).stem}-converted.pt")
