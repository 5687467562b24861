"""Run an exported model (ONNX fp32 or INT8 here; OpenVINO and TensorRT beside) behind the eval interface of
:class:`Model`.

``OnnxModel(path)(images)`` maps (B, 3, h, w) float images in [0, 1] to (B, 4 + nc, A) exactly as the
PyTorch model in eval mode does (a segmentation export: to ``(predictions (B, 4 + nc + nm, A), protos
(B, nm, h / 4, w / 4))``; a pose export: to (B, 4 + nc + nk * ndim, A); a classifier's: to (B, nc) probabilities), so
:func:`focalyolo.engine.evaluation.evaluate` scores an ONNX file the same way it scores a checkpoint.
A file exported with a fixed input shape still takes any batch of images that fit in it: each
image is padded at the bottom/right with the letterbox grey (which moves no box; the prototypes of the padding are
cut off again) and batches are cut or filled to the exported batch size.

:class:`ExportedModel` is that shared part (the export's metadata as attributes, padding, batching); a runtime's
subclass only loads the file and runs one batch (:class:`~focalyolo.deploy.openvino_model.OpenVinoModel`,
:class:`~focalyolo.deploy.tensorrt.TensorRTModel`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import FocalYoloError
from ..tasks import get_task

__all__ = ["INPUT_AXES", "INPUT_NAME", "LETTERBOX_GREY", "ExportedModel", "OnnxModel", "decode_metadata",
           "read_onnx_metadata"]

INPUT_NAME = "images"
"""The graph's input (B, 3, H, W) float in [0, 1], as export writes it (the outputs are the task's)."""
INPUT_AXES = {0: "batch", 2: "height", 3: "width"}
LETTERBOX_GREY = 114 / 255


def decode_metadata(props: Mapping[str, str]) -> dict[str, Any]:
    """An ONNX export's metadata strings as values: ``task``, ``names`` (list), ``stride`` (list of numbers),
    ``train_args`` (dict), for pose ``kpt_shape`` and ``skeleton``, and ``nms`` (an ``--nms`` export's conf, iou and
    max_det); absent keys are left out."""
    decoded: dict[str, Any] = {k: json.loads(props[k]) for k in ("names", "train_args", "kpt_shape", "skeleton", "nms")
                               if k in props}
    if "task" in props:
        decoded["task"] = props["task"]
    if "stride" in props:
        decoded["stride"] = [int(s) if s.isdigit() else float(s) for s in props["stride"].split(",")]
    return decoded


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The decoded metadata (:func:`decode_metadata`) an ONNX export carries in its ``metadata_props``."""
    import onnx

    return decode_metadata({p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props})


class ExportedModel(nn.Module):
    """An exported model called like a Model in eval mode; a subclass loads the file, calls
    :meth:`describe` and implements :meth:`run_batch`.

    Attributes: ``nc`` (classes, from the output width), ``names`` (from the metadata), ``stride`` (tensor of the
    export's strides, from the metadata), ``input_shape`` ((B, 3, H, W) with ``None`` for dynamic axes),
    ``max_batch`` (a dynamic batch's upper bound, if the runtime has one), ``train_args`` (the training record's
    ``imgsz`` and ``data`` when the export wrote them), ``task`` (the exporting model's), ``kpt_shape`` and
    ``skeleton`` (a pose model's, else None), ``nm`` (a segmentation model's mask coefficients, else 0).
    """

    path: Path
    max_batch: int | None = None

    def describe(self, metadata: Mapping[str, Any], input_shape: Sequence[int | None],
                 output_channels: Sequence[int | None]) -> None:
        """Set the attributes from the export's decoded metadata (:func:`decode_metadata`), the input's shape
        (None: dynamic) and each output's channel count (dimension 1). An export that ends in NMS is refused:
        val and predict run their own NMS on the raw predictions."""
        if "nms" in metadata:
            raise FocalYoloError(f"{self.path}: exported with --nms (outputs detections and count, for your own "
                                 "application); val and predict take an export without --nms")
        self.input_shape = tuple(input_shape)
        if not all(isinstance(c, int) for c in output_channels):
            raise FocalYoloError(f"{self.path}: an output has no fixed channel size (4 + classes [+ coefficients], "
                                 f"or a classifier's classes)")
        self.task: str = metadata.get("task", "detect")
        self.kpt_shape: list[int] | None = metadata.get("kpt_shape")
        self.skeleton: list[list[int]] | None = metadata.get("skeleton")
        self.nm = output_channels[1] if len(output_channels) > 1 else 0
        try:
            task = get_task(self.task)
        except KeyError as unknown:
            raise FocalYoloError(f"{self.path}: exported by a model of the {unknown.args[0]}") from None
        try:
            extra = task.extra_channels(metadata)
        except KeyError as missing:
            raise FocalYoloError(f"{self.path}: a {self.task} export whose metadata lacks {missing}") from None
        self.nc = output_channels[0] - task.box_channels - self.nm - extra
        self.names: list[str] = list(metadata.get("names") or [str(i) for i in range(self.nc)])
        self.train_args: dict = dict(metadata.get("train_args") or {})
        self.register_buffer("stride", torch.tensor([float(s) for s in metadata.get("stride", [32])]),
                             persistent=False)

    def run_batch(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The graph's outputs for one batch that fits the input shape, (B, 3, H, W) float32 contiguous."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, h, w) float in [0, 1] -> (B, 4 + nc, A) xywh input pixels + class scores, on ``images.device``
        (segmentation: ``(predictions, protos)``, see the module docstring)."""
        batch, _, height, width = images.shape
        fixed_batch, _, fixed_h, fixed_w = self.input_shape
        if (fixed_h and height > fixed_h) or (fixed_w and width > fixed_w):
            raise FocalYoloError(f"{self.path}: exported for {fixed_h}x{fixed_w} inputs, got {height}x{width}; "
                                 f"validate/predict at --imgsz {max(fixed_h or 0, fixed_w or 0)} "
                                 "or export with --dynamic")
        x = images.detach().float().contiguous()
        if (fixed_h and height < fixed_h) or (fixed_w and width < fixed_w):
            padded = x.new_full((batch, 3, fixed_h or height, fixed_w or width), LETTERBOX_GREY)
            padded[:, :, :height, :width] = x
            x = padded
        chunk = fixed_batch or self.max_batch or batch
        parts: list[list[torch.Tensor]] = []
        for start in range(0, batch, chunk):
            part = x[start:start + chunk]
            filled = len(part)
            if fixed_batch and filled < chunk:
                part = torch.cat([part, part.new_full((chunk - filled, *part.shape[1:]), LETTERBOX_GREY)])
            parts.append([out[:filled] for out in self.run_batch(part)])
        outputs = [torch.cat(p).to(images.device) for p in zip(*parts)]
        if len(outputs) == 1:
            return outputs[0]
        predictions, protos = outputs
        scale = protos.shape[-1] / x.shape[-1]  # the prototypes' grid over the (padded) input
        return predictions, protos[..., : round(height * scale), : round(width * scale)]


class OnnxModel(ExportedModel):
    """An onnxruntime session on the CPU provider, called like a Model in eval mode (attributes: see
    :class:`ExportedModel`; the metadata is the file's ``metadata_props``)."""

    def __init__(self, path: str | Path, threads: int | None = None):
        super().__init__()
        try:
            import onnxruntime
        except ImportError as exc:
            raise FocalYoloError("running an ONNX model needs onnxruntime (pip install onnxruntime)") from exc
        self.path = Path(path)
        if not self.path.is_file():
            raise FocalYoloError(f"{self.path}: no such ONNX file")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            raise FocalYoloError(f"{self.path}: onnxruntime cannot load it: {str(exc).splitlines()[0][:200]}") from exc
        model_input, outputs = self.session.get_inputs()[0], self.session.get_outputs()
        self.input_name, self.output_names = model_input.name, [o.name for o in outputs]
        self.describe(decode_metadata(self.session.get_modelmeta().custom_metadata_map),
                      [d if isinstance(d, int) else None for d in model_input.shape],
                      [o.shape[1] if len(o.shape) > 1 and isinstance(o.shape[1], int) else None for o in outputs])

    def run_batch(self, images: torch.Tensor) -> list[torch.Tensor]:
        array = images.cpu().numpy().astype(np.float32, copy=False)
        return [torch.from_numpy(out) for out in self.session.run(self.output_names, {self.input_name: array})]
