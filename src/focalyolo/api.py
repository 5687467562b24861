"""``YOLO``: the Python face of the command line (train, val, predict, export, info on one model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import FocalYoloError
from .models import DetectionModel, build_model
from .utils.logging import setup_logging


class YOLO:
    """A model by name, YAML or checkpoint, with the jobs the CLI runs.

    ``YOLO("yolov9-t-focal").train(data="synthetic", epochs=5)`` trains and then holds the best weights;
    ``YOLO("runs/train/exp/weights/best.pt")("image.jpg")`` predicts.
    """

    def __init__(self, model: str | Path = "yolov9-t-focal"):
        setup_logging()
        self.source = str(model)
        self.checkpoint: str | None = self.source if self.source.endswith(".pt") else None
        self.model: DetectionModel = self._load()

    def _load(self) -> DetectionModel:
        if self.checkpoint:
            from .engine.checkpoint import load_model

            return load_model(self.checkpoint)
        return build_model(self.source)

    def info(self, imgsz: int = 640) -> str:
        """The layer table and totals, as ``focalyolo info`` prints them."""
        from .models.summary import format_summary

        return format_summary(self.model, Path(self.source).stem, imgsz)

    def train(self, **kwargs: Any) -> Path:
        """Train (keywords as :class:`focalyolo.engine.trainer.TrainArgs`); afterwards this object holds best.pt."""
        from .engine.trainer import train

        save_dir = train(model=kwargs.pop("model", self.source), **kwargs)
        best = save_dir / "weights" / "best.pt"
        if best.exists():
            self.checkpoint = str(best)
            self.model = self._load()
        return save_dir

    def val(self, data: str = "synthetic", imgsz: int = 640, batch: int = 32, **kwargs: Any) -> dict[str, Any]:
        """Validate on ``data``'s val split; returns the metrics dict (COCO figures included)."""
        from .data import load_data_config
        from .engine.validator import build_val_loader, validate

        config = load_data_config(data)
        if self.model.nc != config.nc:
            raise FocalYoloError(f"{self.source} predicts {self.model.nc} classes but {config.source} has {config.nc}")
        loader = build_val_loader(self.model, config.val, imgsz, batch, kwargs.pop("workers", 2), config.nc)
        return validate(self.model, loader, names=config.names, coco=True, **kwargs)

    def predict(self, source: Any, **kwargs: Any) -> list:
        """Predictions for an image, folder, glob or video, as a list of results (no files written)."""
        from .engine.predictor import predict

        return list(predict(self.model, source, **kwargs))

    __call__ = predict

    def export(self, format: str = "onnx", output: str | Path | None = None, **kwargs: Any) -> list[Path]:
        """Export the converted, fused model; keywords as ``focalyolo export`` (imgsz, batch, dynamic, half,
        simplify, opset, int8, data, calib_images). Returns the written files (the INT8 one last)."""
        from .engine.export import export_model

        return export_model(self.model, format, output or Path(self.source).with_suffix(""), **kwargs)
