"""Run an exported ONNX model (fp32 or INT8) behind the eval interface of :class:`DetectionModel`.

``OnnxDetector(path)(images)`` maps (B, 3, h, w) float images in [0, 1] to (B, 4 + nc, A) exactly as the
PyTorch model in eval mode does (a segmentation export: to ``(predictions (B, 4 + nc + nm, A), protos
(B, nm, h / 4, w / 4))``; a pose export: to (B, 4 + nc + nk * ndim, A); a classifier's: to (B, nc) probabilities), so
:func:`focalyolo.engine.validator.validate` scores an ONNX file the same way it scores a checkpoint.
A file exported with a fixed input shape still takes any batch of images that fit in it: each
image is padded at the bottom/right with the letterbox grey (which moves no box; the prototypes of the padding are
cut off again) and batches are cut or filled to the exported batch size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import FocalYoloError

__all__ = ["INPUT_AXES", "INPUT_NAME", "LETTERBOX_GREY", "OnnxDetector"]

INPUT_NAME = "images"
"""The graph's input (B, 3, H, W) float in [0, 1], as export writes it (the outputs are the task's)."""
INPUT_AXES = {0: "batch", 2: "height", 3: "width"}
LETTERBOX_GREY = 114 / 255


class OnnxDetector(nn.Module):
    """An onnxruntime session on the CPU provider, called like a DetectionModel in eval mode.

    Attributes: ``nc`` (classes, from the output width), ``names`` (from the metadata), ``stride`` (tensor of the
    export's strides, from the file's metadata), ``input_shape`` ((B, 3, H, W) with ``None`` for dynamic axes),
    ``train_args`` (the training record's ``imgsz`` and ``data`` when the export wrote them), ``task`` (the exporting
    model's), ``kpt_shape`` and ``skeleton`` (a pose model's, else None).
    """

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
        self.input_shape = tuple(d if isinstance(d, int) else None for d in model_input.shape)
        if not all(isinstance(o.shape[1], int) for o in outputs):
            raise FocalYoloError(f"{self.path}: an output has no fixed channel size (4 + classes [+ coefficients], "
                                 f"or a classifier's classes)")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.task: str = meta.get("task", "detect")
        self.kpt_shape: list[int] | None = json.loads(meta["kpt_shape"]) if "kpt_shape" in meta else None
        self.skeleton: list[list[int]] | None = json.loads(meta.get("skeleton", "null"))
        self.nm = outputs[1].shape[1] if len(outputs) > 1 else 0
        keypoint_columns = self.kpt_shape[0] * self.kpt_shape[1] if self.kpt_shape else 0
        self.nc = outputs[0].shape[1] - (0 if self.task == "classify" else 4 + self.nm + keypoint_columns)
        self.names: list[str] = json.loads(meta["names"]) if "names" in meta else [str(i) for i in range(self.nc)]
        self.train_args: dict = json.loads(meta.get("train_args", "{}"))
        self.register_buffer("stride", torch.tensor([float(s) for s in meta.get("stride", "32").split(",")]),
                             persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, h, w) float in [0, 1] -> (B, 4 + nc, A) xywh input pixels + class scores, on ``images.device``
        (segmentation: ``(predictions, protos)``, see the module docstring)."""
        batch, _, height, width = images.shape
        fixed_batch, _, fixed_h, fixed_w = self.input_shape
        if (fixed_h and height > fixed_h) or (fixed_w and width > fixed_w):
            raise FocalYoloError(f"{self.path}: exported for {fixed_h}x{fixed_w} inputs, got {height}x{width}; "
                                 f"validate/predict at --imgsz {max(fixed_h or 0, fixed_w or 0)} "
                                 "or export with --dynamic")
        array = images.detach().float().cpu().numpy()
        if (fixed_h and height < fixed_h) or (fixed_w and width < fixed_w):
            padded = np.full((batch, 3, fixed_h or height, fixed_w or width), LETTERBOX_GREY, np.float32)
            padded[:, :, :height, :width] = array
            array = padded
        chunk = fixed_batch or batch
        parts: list[list[np.ndarray]] = [[] for _ in self.output_names]
        for start in range(0, batch, chunk):
            part = array[start:start + chunk]
            filled = len(part)
            if filled < chunk:
                part = np.concatenate([part, np.full((chunk - filled, *part.shape[1:]), LETTERBOX_GREY, np.float32)])
            for k, out in enumerate(self.session.run(self.output_names, {self.input_name: part})):
                parts[k].append(out[:filled])
        outputs = [torch.from_numpy(np.concatenate(p)).to(images.device) for p in parts]
        if len(outputs) == 1:
            return outputs[0]
        predictions, protos = outputs
        scale = protos.shape[-1] / array.shape[-1]  # the prototypes' grid over the (padded) input
        return predictions, protos[..., : round(height * scale), : round(width * scale)]

