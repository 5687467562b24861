"""Model summaries: parameter counts, FLOPs (torch's own FLOP counter), the per-layer table, and the catalogue of
packaged configs by task and size."""

from __future__ import annotations

import re
import textwrap

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from .model import Model
from .parser import config_task, packaged_configs

__all__ = [
    "config_catalogue", "count_gflops", "count_parameters", "flop_counter", "format_catalogue", "format_summary",
    "layer_table",
]

TASK_ORDER = ("detect", "segment", "pose", "obb", "classify")
SIZE_ORDER = ("t", "s", "m", "c", "e")
_SIZE = re.compile(r"^(?:gelan|yolov9)-([a-z])(?:-|$)")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, like the official summaries, unless ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """Q K^T and softmax(.) V for (B, heads, N, d) queries over (B, heads, M, d) keys: 2 B h N M (d + d_v)."""
    b, h, n, d = query_shape
    m, d_v = key_shape[-2], value_shape[-1]
    return 2 * b * h * n * m * (d + d_v)


def _extra_formulas() -> dict:
    formulas = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        formulas[op] = _sdpa_flops
    return formulas


def flop_counter() -> FlopCounterMode:
    """A silent FlopCounterMode that also counts CPU scaled-dot-product attention."""
    return FlopCounterMode(display=False, custom_mapping=_extra_formulas())


@torch.no_grad()
def count_gflops(model: nn.Module, imgsz: int | tuple[int, int] = 640, ch: int = 3) -> float:
    """GFLOPs of one eval-mode forward pass on a (1, ch, H, W) input, counted by ``torch.utils.flop_counter``.

    A multiply-add counts as 2 FLOPs (the YOLO convention: thop MACs x 2). Convolutions, matmuls and
    attention (also the CPU kernel torch's table lacks, see :func:`flop_counter`) are counted;
    element-wise ops (activations, BatchNorm, pooling) are not.
    """
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    counter = flop_counter()
    with counter:
        model(torch.zeros(1, ch, h, w, device=param.device, dtype=param.dtype))
    model.train(was_training)
    return counter.get_total_flops() / 1e9


def layer_table(model: Model) -> list[dict]:
    """One dict per layer: index, from, n (repeats), params, module, args (the YAML args as written)."""
    return [
        {"index": row.index, "from": row.frm, "n": row.repeats, "params": layer.np, "module": row.module,
         "args": row.args}
        for row, layer in zip(model.layer_rows(), model.model)
    ]


def format_summary(model: Model, name: str, imgsz: int | None = 640) -> str:
    """The printable ``info`` output: the layer table, then totals (layers, parameters, gradients, GFLOPs)."""
    rows = layer_table(model)
    wide = max(20, *(len(str(row["from"])) + 2 for row in rows))  # a head's list of 8 inputs needs more room
    lines = [f"{'':>3}{'from':>{wide}}{'n':>4}{'params':>12}  {'module':<28}arguments"]
    for row in rows:
        lines.append(f"{row['index']:>3}{str(row['from']):>{wide}}{row['n']:>4}{row['params']:>12,}  "
                     f"{row['module']:<28}{row['args']}")
    n_layers = sum(1 for _ in model.modules())
    params, grads = count_parameters(model), count_parameters(model, trainable_only=True)
    total = f"{name} summary: {n_layers} layers, {params:,} parameters, {grads:,} gradients"
    if imgsz:
        total += f", {count_gflops(model, imgsz):.1f} GFLOPs at {imgsz}"
    lines.append(total)
    return "\n".join(lines)


def config_catalogue() -> dict[str, dict[str, list[str]]]:
    """The packaged configs as ``{task: {size: [names]}}``: the task is what each config's head declares (read
    without building the model), the size the letter after ``gelan-`` / ``yolov9-`` (``other`` when none); tasks
    and sizes in the order detect, segment, pose, obb, classify and t, s, m, c, e."""
    catalogue: dict[str, dict[str, list[str]]] = {}
    for name in packaged_configs():
        match = _SIZE.match(name)
        catalogue.setdefault(config_task(name), {}).setdefault(match.group(1) if match else "other", []).append(name)

    def rank(order: tuple[str, ...]):
        return lambda key: (order.index(key) if key in order else len(order), key)

    return {task: {size: catalogue[task][size] for size in sorted(catalogue[task], key=rank(SIZE_ORDER))}
            for task in sorted(catalogue, key=rank(TASK_ORDER))}


def format_catalogue(width: int = 118) -> str:
    """The printable ``info --list`` output: one block per task, one line per size (wrapped at ``width``)."""
    lines = []
    for task, sizes in config_catalogue().items():
        lines.append(f"{task} ({sum(map(len, sizes.values()))} configs)")
        for size, names in sizes.items():
            lines += textwrap.wrap("  ".join(names), width, initial_indent=f"  {size:<6}", subsequent_indent=" " * 8,
                                   break_on_hyphens=False)
    return "\n".join(lines)
