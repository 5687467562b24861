"""``YOLO``: one model and the jobs the command line runs on it, with the same options and the same code.

Each method takes the options of its command as keywords (``YOLO.train(epochs=5, lr0=0.01)`` is
``focalyolo train --epochs 5 --lr0 0.01``), checks them against :mod:`focalyolo.cfg` (an unknown keyword is one
error naming the closest valid one) and calls the job function the CLI calls, so both give the same numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

from torch import nn

from .cfg import ExportConfig, PredictConfig, ValConfig
from .deploy.inference import load_inference_model
from .errors import FocalYoloError
from .utils.logging import setup_logging
from .weights.sources import EXPORTED_KINDS, load_source, source_kind

__all__ = ["YOLO"]

LOGGER = logging.getLogger("focalyolo")


class YOLO:
    """A model by packaged config name, YAML, checkpoint or exported ONNX file.

    ``YOLO("yolov9-t-focal").train(data="synthetic", epochs=5)`` trains and then holds the best weights;
    ``YOLO("runs/train/exp/weights/best.pt")("image.jpg")`` predicts.

    Attributes:
        source: what the model was loaded from (after training: the run's best.pt).
        model: the model (a :class:`Model` in its training form, or an :class:`OnnxModel`).
    """

    def __init__(self, model: str | Path = "yolov9-t-focal"):
        setup_logging()
        self.source = str(model)
        self.model: nn.Module = self._load()

    def _load(self) -> nn.Module:
        if source_kind(self.source) in EXPORTED_KINDS:
            return load_inference_model(self.source)
        return load_source(self.source)

    @property
    def untrained(self) -> bool:
        """Whether the weights are a config's random initialisation."""
        return source_kind(self.source) == "config"

    def _warn_if_untrained(self) -> None:
        if self.untrained:
            LOGGER.warning(f"{self.source} is a model config, not trained weights: the model has random weights")

    def info(self, imgsz: int = 640) -> str:
        """The layer table and totals, as ``focalyolo info`` prints them."""
        from .models.summary import format_summary

        return format_summary(self.model, Path(self.source).stem, imgsz)

    def train(self, **options: Any) -> Path:
        """Train (options as ``focalyolo train``, hyper-parameters included); afterwards this object holds the
        run's best.pt. Returns the run folder."""
        from .engine.trainer import train

        save_dir = train(**{"model": self.source, **options})
        best = save_dir / "weights" / "best.pt"
        if best.exists():
            self.source = str(best)
            self.model = self._load()
        return save_dir

    def val(self, **options: Any) -> dict[str, Any]:
        """Validate (options as ``focalyolo val``; data and image size default to the training run's); returns
        the metrics dict, COCO figures included, and writes the run folder as the CLI does."""
        from .engine.validator import val

        self._warn_if_untrained()
        return val(ValConfig.from_mapping({"model": self.source, **options}), model=self.model)

    def predict(self, source: Any, stream: bool = False, **options: Any) -> list | Iterator:
        """Predictions for an image, folder, glob, video or a list of those (options as ``focalyolo predict``;
        unlike the CLI nothing is saved unless ``save=True``). ``stream=True`` returns an iterator (a video's
        frames are not all kept in memory), else a list of results (:class:`DetectResult`
        and its kin)."""
        from .engine.predictor import PredictRun

        self._warn_if_untrained()
        listed = isinstance(source, (list, tuple))
        cfg = PredictConfig.from_mapping({"model": self.source, "source": None if listed else source,
                                          "save": False, **options})
        run = PredictRun(cfg, model=self.model, source=source if listed else None)
        return iter(run) if stream else list(run)

    __call__ = predict

    def export(self, **options: Any) -> list[Path]:
        """Export the converted, fused model (options as ``focalyolo export``). Returns the written files (the
        INT8 one last)."""
        from .deploy.export import export

        self._warn_if_untrained()
        if not hasattr(self.model, "copy_config"):
            raise FocalYoloError(f"{self.source}: an exported ONNX file cannot be exported again")
        return export(ExportConfig.from_mapping({"model": self.source, **options}), model=self.model)
