"""Any timm model as the backbone of a model YAML: ``TimmBackbone`` (image -> list of maps) and ``Index``.

Why: the GELAN neck and the detection heads only need feature maps at strides 8, 16 and 32, and timm has
hundreds of ImageNet backbones (FocalNet among them), so trying one is a YAML edit instead of new code::

    backbone:
      [
       [-1, 1, TimmBackbone, [focalnet_tiny_srf, [1, 2, 3]]],  # 0: [P3/8, P4/16, P5/32] maps
       [0, 1, Index, [0]],  # 1-P3/8, 192 channels
       [0, 1, Index, [1]],  # 2-P4/16, 384 channels
       [0, 1, Index, [2]],  # 3-P5/32, 768 channels
      ]

The widths are timm's (``feature_info.channels()``): ``width_multiple`` does not scale them. timm is an
optional dependency (``pip install "focalyolo[timm]"``), imported only when a ``TimmBackbone`` row is built;
nothing is ever downloaded: ImageNet weights come from a local file (``pretrained_file``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from .registry import LayerContext, LayerPlan, register_module

__all__ = ["Index", "TimmBackbone", "timm_feature_widths"]

_RESERVED_KWARGS = ("features_only", "out_indices", "in_chans", "pretrained", "pretrained_cfg_overlay")


def _import_timm() -> Any:
    """The timm module, or a RuntimeError saying how to install it (the parser adds file, line and layer)."""
    try:
        import timm
    except ImportError:
        raise RuntimeError('TimmBackbone needs the timm package: pip install "focalyolo[timm]"') from None
    return timm


def _one_line(exc: BaseException, limit: int = 240) -> str:
    """``Type: message`` of an exception on one line (timm's state_dict errors span many), at most ``limit``."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _timm_with(name: str) -> Any:
    """The timm module after checking that it knows the architecture ``name`` (a ValueError naming it if not)."""
    timm = _import_timm()
    if not timm.is_model(name):
        raise ValueError(f"unknown timm model {name!r} (timm {timm.__version__} has no such architecture; "
                         "see timm.list_models())")
    return timm


def _create_features(name: str, out_indices: Sequence[int], in_chans: int, kwargs: dict[str, Any]) -> nn.Module:
    """``timm.create_model(name, features_only=True, ...)`` with random weights."""
    timm = _timm_with(name)
    try:
        return timm.create_model(name, features_only=True, out_indices=tuple(out_indices), in_chans=in_chans,
                                 pretrained=False, **kwargs)
    except (IndexError, AssertionError) as exc:  # timm's answer to a level it lacks, and to some bad kwargs
        raise ValueError(f"out_indices {list(out_indices)} or kwargs {kwargs} do not fit {name} "
                         f"({_one_line(exc)})") from None


def _load_features(name: str, out_indices: Sequence[int], in_chans: int, kwargs: dict[str, Any],
                   file: Path) -> nn.Module:
    """As :func:`_create_features`, with the weights of the local ``file`` loaded by timm's own mechanism
    (classifier keys dropped, input conv adapted to ``in_chans``); nothing is fetched from the network."""
    timm = _timm_with(name)
    try:
        return timm.create_model(name, features_only=True, out_indices=tuple(out_indices), in_chans=in_chans,
                                 pretrained=True, pretrained_cfg_overlay={"file": str(file)}, **kwargs)
    except Exception as exc:  # torch.load and load_state_dict raise many types for a file that does not fit
        raise ValueError(f"cannot load {file} into {name}: {_one_line(exc)}") from None


def timm_feature_widths(name: str, out_indices: Sequence[int], in_chans: int = 3,
                        kwargs: dict[str, Any] | None = None) -> list[int]:
    """Channels of each feature map the timm model returns, read from a weightless copy on the meta device
    (building on the CPU would initialise every weight just to count channels)."""
    with torch.device("meta"):
        body = _create_features(name, out_indices, in_chans, dict(kwargs or {}))
    return [int(c) for c in body.feature_info.channels()]


def _timm_args(args: list[Any]) -> tuple[str, list[int], str | None, dict[str, Any]]:
    """Validate the YAML args ``[model_name, out_indices, pretrained_file, kwargs]`` (the last two optional)."""
    if not 2 <= len(args) <= 4:
        raise ValueError(f"args are [model_name, out_indices, pretrained_file, kwargs], got {args!r}")
    name, out_indices, pretrained_file, kwargs = [*args, None, None][:4]
    if not isinstance(name, str) or not name:
        raise ValueError(f"model_name must be a timm model name, got {name!r}")
    if (not isinstance(out_indices, list) or not out_indices
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in out_indices)):
        raise ValueError(f"out_indices must be a list of feature-level indices such as [1, 2, 3], got {out_indices!r}")
    if pretrained_file is not None and not isinstance(pretrained_file, str):
        raise ValueError(f"pretrained_file must be a path or null, got {pretrained_file!r}")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict):
        raise ValueError(f"kwargs must be a mapping of timm.create_model arguments, got {kwargs!r}")
    reserved = sorted(set(kwargs) & set(_RESERVED_KWARGS))
    if reserved:
        raise ValueError(f"kwargs may not set {reserved}: TimmBackbone sets them (pretrained weights: pretrained_file)")
    return name, out_indices, pretrained_file, kwargs


def _timm_rule(ctx: LayerContext) -> LayerPlan:
    """One tensor input (the image); output channel record: the list of timm's feature widths (unscaled)."""
    c1 = ctx.single_input()
    if ctx.repeats != 1:
        raise ValueError(f"repeats must be 1, got {ctx.repeats}")
    name, out_indices, pretrained_file, kwargs = _timm_args(ctx.args)
    widths = timm_feature_widths(name, out_indices, c1, kwargs)
    return LayerPlan([c1, name, out_indices, pretrained_file, kwargs], widths)


@register_module(channels=_timm_rule)
class TimmBackbone(nn.Module):
    """A timm model in feature-extraction mode: (B, c1, H, W) -> [(B, C_i, H / s_i, W / s_i) for each out index].

    YAML args ``[model_name, out_indices, pretrained_file, kwargs]``: a timm architecture name (a pretrained tag
    such as ``.ms_in1k`` may follow), the feature levels to return (``feature_info`` positions: for
    focalnet_tiny_srf, [1, 2, 3] gives strides 8/16/32 with 192/384/768 channels), an optional local weights file
    (a timm or ImageNet classifier state_dict; the classifier is dropped as timm does) and optional
    ``timm.create_model`` keyword arguments (e.g. ``{drop_path_rate: 0.1}``). Models whose features are
    channels-last (Swin, MambaOut) are permuted to (B, C, H, W), so the neck always reads NCHW maps.

    Args:
        c1: input channels (the image's, passed to timm as ``in_chans``).
        model_name, out_indices, pretrained_file, kwargs: the YAML args above.
    """

    own_settings = True  # the model keeps timm's BatchNorm eps/momentum and activations (its weights expect them)

    @staticmethod
    def checkpoint_args(args: list[Any]) -> list[Any]:
        """The YAML args a checkpoint stores: ``pretrained_file`` dropped (the checkpoint holds the weights)."""
        return [arg if i != 2 else None for i, arg in enumerate(args)]

    def __init__(self, c1: int, model_name: str, out_indices: Sequence[int], pretrained_file: str | None = None,
                 kwargs: dict[str, Any] | None = None):
        super().__init__()
        kwargs = dict(kwargs or {})
        if pretrained_file is None:
            self.body = _create_features(model_name, out_indices, c1, kwargs)
        else:
            file = Path(pretrained_file).expanduser()
            if not file.is_file():
                raise ValueError(f"pretrained_file not found: {file}")
            self.body = _load_features(model_name, out_indices, c1, kwargs, file)
        self.nhwc = getattr(self.body, "output_fmt", "NCHW") == "NHWC"  # Swin, MambaOut: (B, H, W, C) features

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = list(self.body(x))
        return [m.permute(0, 3, 1, 2) for m in maps] if self.nhwc else maps


def _index_rule(ctx: LayerContext) -> LayerPlan:
    """One list-producing input; output channel record: the width of the picked entry."""
    if len(ctx.ch_in) != 1 or not isinstance(ctx.ch_in[0], list):
        raise ValueError(f"reads one layer that outputs a list of maps (TimmBackbone, CBLinear), "
                         f"got inputs with channels {ctx.ch_in}")
    widths = ctx.ch_in[0]
    if len(ctx.args) != 1 or not isinstance(ctx.args[0], int) or isinstance(ctx.args[0], bool):
        raise ValueError(f"args are [index], got {ctx.args!r}")
    if ctx.repeats != 1:
        raise ValueError(f"repeats must be 1, got {ctx.repeats}")
    index = ctx.args[0]
    if not 0 <= index < len(widths):
        raise ValueError(f"index {index} is out of range: the input has {len(widths)} maps (0..{len(widths) - 1}) "
                         f"with widths {widths}")
    return LayerPlan([index], widths[index])


@register_module(channels=_index_rule)
class Index(nn.Module):
    """Pick map ``index`` of a list-producing layer: [(B, C_0, H_0, W_0), ...] -> (B, C_index, H_index, W_index).
    No parameters; YAML ``[0, 1, Index, [2]]`` is the third map of layer 0."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return xs[self.index]
