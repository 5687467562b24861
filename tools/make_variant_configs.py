"""Write the packaged generated configs: segmentation models of every size, the focal (``-focal``) and
self-attention (``-attn``) variants of every detection and segmentation config, and the classifiers.

Segmentation (``<gelan|yolov9>-<size>-<seg|dseg>``) from the detection config of the same size, by the rule
the official C models follow, with ``c`` the width of the main branch's P3 input: ``-seg`` swaps the head for
``Segment [nc, 32, c]``; ``-dseg`` adds a stride-4 prototype branch (``RepNCSPELAN4 [c, c, c/2, 1]`` on P3,
2x upsample, ``Conv [c, 3, 1]``) and a ``DSegment``; ``yolov9-<size>-dseg`` adds one such branch per PGI branch
(inner depth 2; the auxiliary one keeps the auxiliary P3's width) and a ``DualDSegment``. The official
``gelan-c-seg``, ``gelan-c-dseg`` and ``yolov9-c-dseg`` are shipped as written; this script checks that the rule
reproduces them.

The context block goes between the last backbone ELAN stage and the main neck's SPPELAN (the seed
article's placement), via :func:`focalyolo.models.edit.insert_layer`, so every later index shifts by one.
``yolov9-c-focal.yaml`` is the seed article's file, shipped unchanged; this script checks that the rule
reproduces it.

Pose models (``<gelan|yolov9>-<t|s|c>-pose``) are the detection config of that size with its head swapped for
``DPose [nc, kpt_shape]`` (``DualDPose`` for PGI), ``nc`` 1 and ``kpt_shape: [17, 3]`` (COCO person keypoints; a
data YAML's ``kpt_shape`` replaces it when training); their ``-focal`` / ``-attn`` variants follow the detection
rule.

Oriented-box models (``<gelan|yolov9>-<t|s|c>-obb``) follow the pose rule: the detection config of that size with
its head swapped for ``DOBB [nc]`` (``DualDOBB`` for PGI), ``nc`` 15 (DOTA v1's classes); their ``-focal`` /
``-attn`` variants follow the detection rule.

P4 variants (``gelan-<size>-<focal|attn>-p4``) put the block on the stride-16 level instead: right after the
backbone's last stride-16 layer (its P4 ELAN stage), via :func:`focalyolo.models.edit.insert_after`, so it feeds
both the next backbone stage and the neck's P4 skip. The focal block there has three focal levels (kernels 3, 5, 7:
FocalNet's large-receptive-field setting), which reach 6 cells, 96 px at stride 16; the default two reach 3 cells.

Classifiers (``gelan-<t|s|c>-cls``) are the GELAN backbone of that size (its rows 0-8, stride 32) under a
``Classify [nc]`` head, ``nc`` 1000 as for ImageNet; their ``-focal`` / ``-attn`` variants put the block right after
the backbone's last ELAN stage, as layer 9. Run: ``python tools/make_variant_configs.py`` (tests fail if the files
drift).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from focalyolo.models import build_model, load_model_config
from focalyolo.models.edit import insert_after, insert_layer
from focalyolo.models.parser import layer_dependencies, main_head_inputs, read_rows

CONFIG_DIR = Path(__file__).resolve().parents[1] / "src" / "focalyolo" / "models" / "configs"
SIZES = ("t", "s", "m", "c", "e")
SEGMENT_KINDS = {"gelan": ("seg", "dseg"), "yolov9": ("dseg",)}
OFFICIAL_FILES = ("gelan-c-seg", "gelan-c-dseg", "yolov9-c-dseg", "yolov9-c-focal")  # shipped as written
BLOCKS = {"focal": "FocalModulationBlock", "attn": "SelfAttentionBlock"}
CLASSIFIER_SIZES = ("t", "s", "c")
CLASSIFIER_NC = 1000
POSE_SIZES = ("t", "s", "c")
POSE_HEADS = {"DDetect": "DPose", "DualDDetect": "DualDPose"}
POSE_KPT_SHAPE = [17, 3]
OBB_SIZES = ("t", "s", "c")
OBB_HEADS = {"DDetect": "DOBB", "DualDDetect": "DualDOBB"}
OBB_NC = 15  # DOTA v1
P4_STRIDE = 16
P4_EXTRA_ARGS = {"focal": [3], "attn": []}  # the focal block's focal_level at P4 (see the module docstring)


def insertion_point(cfg: dict, source: str) -> int:
    """Index of the SPPELAN on the inference path (the one the head's main-branch inputs depend on)."""
    rows = read_rows(cfg, source)
    main_path = layer_dependencies(rows, main_head_inputs(rows))
    return max(i for i in main_path if rows[i].module == "SPPELAN")


def layer_tensors(name: str, size: int = 64) -> list[tuple[tuple, object]]:
    """(inputs, output) of every layer of config ``name`` in one forward pass of a ``size`` x ``size`` image
    (recorded with forward hooks); ``((), None)`` for a layer the pass skips (a PGI auxiliary branch)."""
    model = build_model(name).eval()
    seen: dict[int, tuple[tuple, object]] = {}
    for index, layer in enumerate(model.model):
        layer.register_forward_hook(lambda module, inputs, output, i=index: seen.__setitem__(i, (inputs, output)))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return [seen.get(i, ((), None)) for i in range(len(model.model))]


def input_channels(name: str, position: int) -> int:
    """Channels entering layer ``position`` of the base model (measured)."""
    inputs, _ = layer_tensors(name)[position]
    return int(inputs[0].shape[1])


def layer_outputs(name: str, size: int = 64) -> list[tuple[int, int]]:
    """(channels, stride) of every layer's output of config ``name`` ((0, 0) where it is not one tensor)."""
    return [(int(out.shape[1]), size // int(out.shape[-1])) if torch.is_tensor(out) else (0, 0)
            for _, out in layer_tensors(name, size)]


def render(cfg: dict, title: str) -> str:
    """YAML text in the official layout: one row per line, each with its index as a comment."""
    lines = [f"# {title}", "# Generated by tools/make_variant_configs.py; MIT.",
             f"nc: {cfg['nc']}  # number of classes"]
    if "kpt_shape" in cfg:
        lines.append(f"kpt_shape: {cfg['kpt_shape']}  # keypoints, values per keypoint (x, y, visibility)")
    lines += [f"depth_multiple: {cfg['depth_multiple']}", f"width_multiple: {cfg['width_multiple']}", ""]
    index = 0
    for section in ("backbone", "head"):
        lines += [f"{section}:", "  ["]
        for frm, n, module, args in cfg[section]:
            lines.append(f"   [{frm}, {n}, {module}, {args!r}],  # {index}".replace("'None'", "None"))
            index += 1
        lines += ["  ]", ""]
    return "\n".join(lines).replace("'nc'", "nc").replace("'kpt_shape'", "kpt_shape")


def p4_variant(base: str, suffix: str) -> tuple[dict, int]:
    """``<base>-<suffix>-p4``: the block after the backbone's last stride-16 layer (see the module docstring);
    returns the config and the block's layer index."""
    cfg, _ = load_model_config(base)
    cfg = {k: v for k, v in cfg.items() if k in ("nc", "depth_multiple", "width_multiple", "backbone", "head")}
    outputs = layer_outputs(base)[:len(cfg["backbone"])]
    source = max(i for i, (_, stride) in enumerate(outputs) if stride == P4_STRIDE)
    args = [outputs[source][0], *P4_EXTRA_ARGS[suffix]]
    return insert_after(cfg, source, BLOCKS[suffix], args), source + 1


def head_input_widths(name: str) -> list[int]:
    """Channels of each input of the detection head of config ``name`` (auxiliary levels first for PGI)."""
    head = build_model(name).head
    branches = list(head.cv2) + (list(head.cv4) if head.is_dual else [])
    return [int(branch[0].conv.in_channels) for branch in branches]


def _prototype_branch(source: int, c_in: int, c: int, depth: int) -> list[list]:
    return [[source, 1, "RepNCSPELAN4", [c_in, c, c // 2, depth]], [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
            [-1, 1, "Conv", [c, 3, 1]]]


def segment_config(detection: str, kind: str) -> dict:
    """The ``-seg`` / ``-dseg`` model of a detection config (see the module docstring for the rule)."""
    cfg, _ = load_model_config(detection)
    cfg = {k: v for k, v in cfg.items() if k in ("nc", "depth_multiple", "width_multiple", "backbone", "head")}
    head = cfg["head"][-1]
    sources, widths, index = head[0], head_input_widths(detection), len(cfg["backbone"]) + len(cfg["head"]) - 1
    rows = cfg["head"][:-1]
    if kind == "seg":
        rows.append([sources, 1, "Segment", ["nc", 32, widths[0]]])
    elif len(sources) == 3:
        c = widths[0]
        rows += _prototype_branch(sources[0], c, c, 1) + [[[*sources, index + 2], 1, "DSegment", ["nc", 32, c]]]
    else:
        c = widths[3]
        rows += _prototype_branch(sources[0], widths[0], c, 2) + _prototype_branch(sources[3], c, c, 2)
        rows.append([[*sources, index + 2, index + 5], 1, "DualDSegment", ["nc", 32, c]])
    return {**cfg, "head": rows}


def pose_config(detection: str) -> dict:
    """The ``-pose`` model of a detection config: its head swapped for the pose head (see the module docstring)."""
    cfg, _ = load_model_config(detection)
    cfg = {k: v for k, v in cfg.items() if k in ("depth_multiple", "width_multiple", "backbone", "head")}
    sources, _, module, _ = cfg["head"][-1]
    head = [sources, 1, POSE_HEADS[module], ["nc", "kpt_shape"]]
    return {"nc": 1, "kpt_shape": POSE_KPT_SHAPE, **cfg, "head": [*cfg["head"][:-1], head]}


def pose_configs() -> list[tuple[str, str]]:
    """(name, detection config) of every pose model."""
    return [(f"{family}-{size}-pose", f"{family}-{size}") for family in ("gelan", "yolov9") for size in POSE_SIZES]


def obb_config(detection: str) -> dict:
    """The ``-obb`` model of a detection config: its head swapped for the oriented-box head (module docstring)."""
    cfg, _ = load_model_config(detection)
    cfg = {k: v for k, v in cfg.items() if k in ("depth_multiple", "width_multiple", "backbone", "head")}
    sources, _, module, _ = cfg["head"][-1]
    return {"nc": OBB_NC, **cfg, "head": [*cfg["head"][:-1], [sources, 1, OBB_HEADS[module], ["nc"]]]}


def obb_configs() -> list[tuple[str, str]]:
    """(name, detection config) of every oriented-box model."""
    return [(f"{family}-{size}-obb", f"{family}-{size}") for family in ("gelan", "yolov9") for size in OBB_SIZES]


def segment_configs() -> list[tuple[str, str, str]]:
    """(name, detection config, kind) of every segmentation model."""
    return [(f"{family}-{size}-{kind}", f"{family}-{size}", kind)
            for family, kinds in SEGMENT_KINDS.items() for size in SIZES for kind in kinds]


def variant(size_name: str, block: str) -> tuple[dict, int]:
    cfg, source = load_model_config(size_name)
    cfg = {k: v for k, v in cfg.items()
           if k in ("nc", "kpt_shape", "depth_multiple", "width_multiple", "backbone", "head")}
    position = insertion_point(cfg, source)
    channels = input_channels(size_name, position)
    return insert_layer(cfg, position, block, [channels]), position


def classifier_config(size: str, block: str | None = None) -> dict:
    """``gelan-<size>-cls``: the detection config's backbone and a Classify head; with ``block`` that context block
    (as wide as the backbone's output) between them."""
    detection = f"gelan-{size}"
    cfg, _ = load_model_config(detection)
    backbone = list(cfg["backbone"])
    if block is not None:
        backbone.append([-1, 1, block, [input_channels(detection, len(backbone))]])
    return {"nc": CLASSIFIER_NC, "depth_multiple": cfg["depth_multiple"], "width_multiple": cfg["width_multiple"],
            "backbone": backbone, "head": [[-1, 1, "Classify", ["nc"]]]}


def base_configs() -> list[str]:
    """The configs that get variants: every detection size of both families, every segmentation, pose and
    oriented-box model."""
    return [f"{family}-{size}" for family in ("gelan", "yolov9") for size in SIZES] + [
        name for name, _, _ in segment_configs()] + [name for name, _ in pose_configs()] + [
        name for name, _ in obb_configs()]


def write(name: str, cfg: dict, title: str) -> bool:
    """Write a generated config, or, for a file shipped as written, check that the rule reproduces it."""
    if name in OFFICIAL_FILES:
        shipped, _ = load_model_config(name)
        if shipped["backbone"] + shipped["head"] != cfg["backbone"] + cfg["head"]:
            print(f"{name}: the rule no longer reproduces the shipped file", file=sys.stderr)
            return False
        return True
    (CONFIG_DIR / f"{name}.yaml").write_text(render(cfg, title), encoding="utf-8")
    return True


def main() -> int:
    for name, detection, kind in segment_configs():
        head = {"seg": "Segment", "dseg": "DSegment"}[kind] if detection.startswith("gelan") else "DualDSegment"
        if not write(name, segment_config(detection, kind), f"{detection.upper()} with a {head} head"):
            return 1
    for name, detection in pose_configs():
        head = POSE_HEADS["DualDDetect" if detection.startswith("yolov9") else "DDetect"]
        write(name, pose_config(detection), f"{detection.upper()} with a {head} head ({POSE_KPT_SHAPE[0]} keypoints)")
    for name, detection in obb_configs():
        head = OBB_HEADS["DualDDetect" if detection.startswith("yolov9") else "DDetect"]
        write(name, obb_config(detection), f"{detection.upper()} with a {head} head (oriented boxes, {OBB_NC} classes)")
    for base in base_configs():
        for suffix, block in BLOCKS.items():
            cfg, position = variant(base, block)
            title = f"{base.upper()} with a {block} as layer {position}, before the main neck's SPPELAN"
            if not write(f"{base}-{suffix}", cfg, title):
                return 1
    for size in SIZES:
        for suffix, block in BLOCKS.items():
            cfg, position = p4_variant(f"gelan-{size}", suffix)
            write(f"gelan-{size}-{suffix}-p4", cfg,
                  f"GELAN-{size.upper()} with a {block} as layer {position}, after the last stride-16 backbone stage")
    for size in CLASSIFIER_SIZES:
        title = f"GELAN-{size.upper()} classifier: the backbone and a Classify head"
        write(f"gelan-{size}-cls", classifier_config(size), title)
        for suffix, block in BLOCKS.items():
            title = f"GELAN-{size.upper()} classifier with a {block} after the last ELAN stage (layer 9)"
            write(f"gelan-{size}-cls-{suffix}", classifier_config(size, block), title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
