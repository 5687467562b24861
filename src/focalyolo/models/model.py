"""DetectionModel: the network built from a YAML config, with the official ``model.N.*`` state_dict layout."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn as nn

from ..nn.head import DDetect
from .parser import LayerRow, build_layers, load_model_config

__all__ = ["DetectionModel"]


class DetectionModel(nn.Module):
    """A YOLOv9/GELAN model assembled from a config: a detector, or (with a segmentation head) a segmenter.

    ``forward(x)`` with x (B, 3, H, W), H and W multiples of 32: in train mode the head's raw outputs
    (``[aux, main]`` for dual heads), in eval mode decoded main-branch predictions: (B, 4 + nc, A) for detection,
    ``(predictions (B, 4 + nc + nm, A), protos)`` for segmentation (see :mod:`focalyolo.nn.segment`).
    ``forward(x, return_raw=True)`` in eval mode returns ``(predictions, raw)`` (the validator needs both).

    Attributes:
        names: class names, index = class id.
        train_args: the configuration of the training run the weights come from (a checkpoint's record; empty
            for a new model): inference takes its ``imgsz`` and ``data`` as defaults.
    """

    def __init__(self, cfg: str | Path | dict = "gelan-c", ch: int = 3, nc: int | None = None):
        super().__init__()
        self.yaml, source = load_model_config(cfg)
        lines = self.yaml.pop("_lines", None)
        if nc is not None:
            self.yaml["nc"] = nc
        self.yaml.setdefault("nc", 80)
        self.model, self.save, self.rows = build_layers({**self.yaml, "_lines": lines}, source, ch,
                                                        int(self.yaml["nc"]))
        self.names = [str(i) for i in range(self.nc)]
        self.train_args: dict = {}
        if not isinstance(self.head, DDetect):
            raise ValueError(f"{source}: the last layer must be a detection or segmentation head, got "
                             f"{type(self.head).__name__}")
        self._init_batchnorm()
        self.head.stride = self._measure_strides(ch)
        self.head.bias_init()

    @property
    def head(self) -> DDetect:
        """The detection head (the last layer)."""
        return self.model[-1]

    @property
    def nc(self) -> int:
        return int(self.yaml["nc"])

    @property
    def stride(self) -> torch.Tensor:
        """Stride of each detection level in input pixels, e.g. tensor([8., 16., 32.])."""
        return self.head.stride

    @property
    def is_dual(self) -> bool:
        """True when the head has an auxiliary (PGI) branch."""
        return bool(getattr(self.head, "is_dual", False))

    def _init_batchnorm(self) -> None:
        """Official BatchNorm settings (eps 1e-3, momentum 0.03) and in-place activations."""
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps, m.momentum = 1e-3, 0.03
            elif isinstance(m, (nn.SiLU, nn.ReLU, nn.LeakyReLU, nn.Hardswish)):
                m.inplace = True

    @torch.no_grad()
    def _measure_strides(self, ch: int, size: int = 256) -> torch.Tensor:
        """Level strides from one forward pass on zeros (eval mode, so BatchNorm statistics are untouched)."""
        was_training = self.training
        self.eval()
        _, raw = self.forward(torch.zeros(1, ch, size, size), return_raw=True)
        self.train(was_training)
        return torch.tensor([size / f.shape[-1] for f in self.head.first_maps(raw)], dtype=torch.float32)

    def forward(self, x: torch.Tensor, return_raw: bool = False):
        outputs: list[torch.Tensor | None] = []
        head = self.model[-1]
        for layer in self.model:
            if layer.f != -1:
                x = outputs[layer.f] if isinstance(layer.f, int) else [x if j == -1 else outputs[j] for j in layer.f]
            if layer is head:
                if self.training:
                    return head(x)
                raw = head.forward_raw(x)
                y = head.decode(head.main_raw(raw)) if head.stride.any() else None
                return (y, raw) if return_raw else y
            x = layer(x)
            outputs.append(x if layer.i in self.save else None)
        raise RuntimeError("model has no head")

    def fuse(self) -> "DetectionModel":
        """Fold BatchNorm into convolutions and merge RepConvN branches, in place (inference only)."""
        for m in self.modules():
            if m is not self and hasattr(m, "fuse"):
                m.fuse()
        return self

    def layer_rows(self) -> list[LayerRow]:
        """The parsed YAML rows, one per layer (for the ``info`` table)."""
        return self.rows

    def copy_config(self) -> dict:
        """The model config dict (YAML content, nc set), safe to store in checkpoints."""
        return copy.deepcopy(self.yaml)
