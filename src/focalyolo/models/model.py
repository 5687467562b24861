"""Model: the network built from a YAML config, with the official ``model.N.*`` state_dict layout.

Every task's model is this class; the head (the last row) decides the task. A head speaks a small protocol:
``task`` (its task's name), ``nl`` (how many of its first inputs are feature levels, on which the strides are
measured), a ``stride`` buffer, ``forward_raw`` (inputs -> raw outputs, both branches of a dual head),
``main_raw`` (the inference branch's part of them), ``decode`` (that part -> predictions), and optionally
``is_dual`` and ``bias_init`` (prior biases, once the strides are known).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..nn.registry import lookup
from .parser import LayerRow, build_layers, load_model_config

__all__ = ["Model"]


class Model(nn.Module):
    """A YOLOv9/GELAN model assembled from a config: a detector, or (with a segmentation, pose or classification head)
    a segmenter, pose estimator or classifier.

    ``forward(x)`` with x (B, 3, H, W), H and W multiples of 32: in train mode the head's raw outputs
    (``[aux, main]`` for dual heads), in eval mode decoded main-branch predictions: (B, 4 + nc, A) for detection,
    ``(predictions (B, 4 + nc + nm, A), protos)`` for segmentation (see :mod:`focalyolo.nn.segment`), (B, nc)
    class probabilities for classification, (B, 4 + nc + nk * ndim, A) for pose (see :mod:`focalyolo.nn.pose`).
    ``forward(x, return_raw=True)`` in eval mode returns ``(predictions, raw)`` (the validator needs both).

    ``config`` sets top-level keys of the config that the data decides, given by the task's ``model_options`` (pose:
    ``kpt_shape`` ``[nk, ndim]``, read by its head's row, and ``skeleton``, recorded for drawing predictions); a value
    of None leaves the config's own. The model itself names no task's keys.

    Attributes:
        names: class names, index = class id.
        train_args: the configuration of the training run the weights come from (a checkpoint's record; empty
            for a new model): inference takes its ``imgsz`` and ``data`` as defaults.
    """

    def __init__(self, cfg: str | Path | dict = "gelan-c", ch: int = 3, nc: int | None = None, **config: Any):
        super().__init__()
        self.yaml, source = load_model_config(cfg)
        lines = self.yaml.pop("_lines", None)
        if nc is not None:
            self.yaml["nc"] = nc
        self.yaml.update(copy.deepcopy({key: value for key, value in config.items() if value is not None}))
        self.yaml.setdefault("nc", 80)
        self.model, self.save, self.rows = build_layers({**self.yaml, "_lines": lines}, source, ch,
                                                        int(self.yaml["nc"]))
        self.names = [str(i) for i in range(self.nc)]
        self.train_args: dict = {}
        if not all(hasattr(self.head, a) for a in ("task", "nl", "forward_raw", "main_raw", "decode")):
            raise ValueError(f"{source}: the last layer must be a head (detection, segmentation, pose or "
                             f"classification), got {type(self.head).__name__}")
        self._init_batchnorm()
        self.head.stride = self._measure_strides(ch)
        if hasattr(self.head, "bias_init"):
            self.head.bias_init()

    @property
    def head(self) -> nn.Module:
        """The head (the last layer): DDetect, a segmentation head, Classify ..."""
        return self.model[-1]

    @property
    def nc(self) -> int:
        return int(self.yaml["nc"])

    @property
    def stride(self) -> torch.Tensor:
        """Stride of each detection level in input pixels, e.g. tensor([8., 16., 32.]) (a classifier: its input
        map's, e.g. tensor([32.]))."""
        return self.head.stride

    @property
    def kpt_shape(self) -> list[int] | None:
        """``[nk, ndim]`` of a pose model's head, None for other tasks."""
        shape = getattr(self.head, "kpt_shape", None)
        return list(shape) if shape is not None else None

    @property
    def skeleton(self) -> list[list[int]] | None:
        """The keypoint pairs predictions are drawn with (recorded from the training data), or None."""
        return self.yaml.get("skeleton")

    @property
    def is_dual(self) -> bool:
        """True when the head has an auxiliary (PGI) branch."""
        return bool(getattr(self.head, "is_dual", False))

    def _own_layers(self) -> list[nn.Module]:
        """The layers built by focalyolo's modules: not those that wrap another library's network and keep its
        settings (``own_settings``, e.g. TimmBackbone, whose pretrained BatchNorms expect timm's eps)."""
        return [layer for layer in self.model if not getattr(layer, "own_settings", False)]

    def _init_batchnorm(self) -> None:
        """Official BatchNorm settings (eps 1e-3, momentum 0.03) and in-place activations."""
        for m in (m for layer in self._own_layers() for m in layer.modules()):
            if isinstance(m, nn.BatchNorm2d):
                m.eps, m.momentum = 1e-3, 0.03
            elif isinstance(m, (nn.SiLU, nn.ReLU, nn.LeakyReLU, nn.Hardswish)):
                m.inplace = True

    @torch.no_grad()
    def _measure_strides(self, ch: int, size: int = 256) -> torch.Tensor:
        """Level strides from one pass of the layers below the head on zeros: the input size over the width of
        each of the head's first ``nl`` inputs (eval mode, so BatchNorm statistics are untouched)."""
        was_training = self.training
        self.eval()
        try:
            x = self._head_input(torch.zeros(1, ch, size, size))
        except (AssertionError, RuntimeError, ValueError) as exc:  # e.g. a backbone built for one input size
            message = " ".join(str(exc).split())[:200]
            raise ConfigError(f"{self.yaml.get('yaml_file', 'model')}: a forward pass of a {size}x{size} image "
                              f"fails ({type(exc).__name__}: {message})") from None
        self.train(was_training)
        levels = x if isinstance(x, list) else [x]
        return torch.tensor([size / f.shape[-1] for f in levels[: self.head.nl]], dtype=torch.float32)

    def _head_input(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Run every layer but the head; returns what the head reads (a tensor, or a list for several inputs)."""
        outputs: list[torch.Tensor | None] = []
        for layer in self.model:
            if layer.f != -1:
                x = outputs[layer.f] if isinstance(layer.f, int) else [x if j == -1 else outputs[j] for j in layer.f]
            if layer is self.model[-1]:
                return x
            x = layer(x)
            outputs.append(x if layer.i in self.save else None)
        raise RuntimeError("model has no head")

    def forward(self, x: torch.Tensor, return_raw: bool = False):
        head = self.head
        x = self._head_input(x)
        if self.training:
            return head(x)
        raw = head.forward_raw(x)
        y = head.decode(head.main_raw(raw)) if head.stride.any() else None
        return (y, raw) if return_raw else y

    def fuse(self) -> "Model":
        """Fold BatchNorm into convolutions and merge RepConvN branches, in place (inference only; layers that
        keep another library's settings are left as they are)."""
        for m in (m for layer in self._own_layers() for m in layer.modules()):
            if hasattr(m, "fuse"):
                m.fuse()
        return self

    def layer_rows(self) -> list[LayerRow]:
        """The parsed YAML rows, one per layer (for the ``info`` table)."""
        return self.rows

    def copy_config(self) -> dict:
        """The model config dict (YAML content, nc set), safe to store in checkpoints: a row whose module says how
        its args read once the checkpoint holds the weights (``checkpoint_args``; TimmBackbone drops its
        ``pretrained_file``) is stored that way, so loading the checkpoint needs no other file."""
        config = copy.deepcopy(self.yaml)
        for section in ("backbone", "head"):
            for row in config.get(section) or []:
                try:
                    rewrite = getattr(lookup(str(row[2])).cls, "checkpoint_args", None)
                except KeyError:
                    continue
                if rewrite is not None:
                    row[3] = rewrite(row[3])
        return config
