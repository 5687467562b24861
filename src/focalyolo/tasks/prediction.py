"""What the predictor (:func:`focalyolo.engine.predictor.predict`) hands a task's ``preprocess`` and
``postprocess`` hooks: the settings of a prediction run, and one batch.

Each task takes what it needs: detection letterboxes to ``stride`` and maps boxes back with each image's
letterbox; classification only resizes to ``imgsz`` and reads the class names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PredictBatch", "PredictSettings"]


@dataclass(frozen=True)
class PredictSettings:
    """The settings of a prediction run, the same for every batch.

    Attributes:
        imgsz: long side of the network input (a multiple of ``stride``).
        stride: the model's largest stride.
        names: the model's class names.
        conf, iou, max_det, classes, agnostic: NMS settings (one class per box), for tasks that use NMS.
        model_options: what the task's ``predict_options`` read from the model (pose: ``kpt_shape``, ``skeleton``).
    """

    imgsz: int
    stride: int
    names: Sequence[str] = ()
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    classes: Sequence[int] | None = None
    agnostic: bool = False
    model_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictBatch:
    """One batch, as ``postprocess`` receives it with the model's predictions.

    Attributes:
        frames: the decoded inputs, each with ``path``, ``index`` (video frame, or None) and ``image`` (h, w, 3)
            uint8 BGR.
        input_hw: (H, W) of the network input batch.
        layouts: per image, what ``preprocess`` returned with the batch to map results back to the image
            (detection: its letterbox ratio_pad; classification: None).
        speed: the batch's ms per image of each step, filled by the predictor once ``postprocess`` returns (the
            results hold it).
    """

    frames: Sequence[Any]
    input_hw: tuple[int, int]
    layouts: Sequence[Any]
    speed: dict[str, float]
