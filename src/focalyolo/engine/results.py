"""Detections of one image or video frame (:class:`Result`) and how a predict run saves them (:class:`ResultWriter`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from ..metrics import COCO80_TO_COCO91, detections_to_coco
from ..utils.plotting import class_colour

_WRITABLE = frozenset({".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})


@dataclass
class Result:
    """Detections of one image (``frame`` None) or one video frame, in original-image pixels.

    Attributes:
        path: the source file.
        frame: 0-based frame index in a video, None for an image.
        orig_shape: (h, w) of the original image.
        boxes: (n, 4) float xyxy boxes, best score first.
        scores: (n,) confidences.
        classes: (n,) int64 class indices.
        names: class names, index = class id.
        orig_img: the original (h, w, 3) uint8 BGR image (for :meth:`plot`).
        speed: ms per image of its batch for ``preprocess``, ``inference`` and ``nms``.
    """

    path: str
    frame: int | None
    orig_shape: tuple[int, int]
    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor
    names: Sequence[str]
    orig_img: np.ndarray = field(repr=False)
    speed: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    def label(self, i: int) -> str:
        """``"name 0.87"`` of detection ``i``."""
        c = int(self.classes[i])
        name = self.names[c] if c < len(self.names) else str(c)
        return f"{name} {float(self.scores[i]):.2f}"

    def plot(self) -> np.ndarray:
        """A copy of the original image with every box and its label drawn (BGR uint8, OpenCV only)."""
        img = self.orig_img.copy()
        h, w = img.shape[:2]
        lw = max(round((h + w) / 2 * 0.003), 2)
        font_scale = lw / 3
        for i, (x1, y1, x2, y2) in enumerate(self.boxes.round().int().tolist()):
            colour = class_colour(int(self.classes[i]))
            cv2.rectangle(img, (x1, y1), (x2, y2), colour, lw, cv2.LINE_AA)
            text = self.label(i)
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(lw - 1, 1))
            inside = y1 - th - base >= 0  # label above the box if it fits, else inside its top
            top = y1 - th - base if inside else y1
            cv2.rectangle(img, (x1, top), (x1 + tw, top + th + base), colour, -1, cv2.LINE_AA)
            luminance = 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2]
            cv2.putText(img, text, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                        (0, 0, 0) if luminance > 140 else (255, 255, 255), max(lw - 1, 1), cv2.LINE_AA)
        return img

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """YOLO label lines ``cls cx cy w h [conf]``, box normalised to the original image."""
        h, w = self.orig_shape
        xyxy = self.boxes.detach().double().cpu() / torch.tensor([w, h, w, h], dtype=torch.float64)
        cxcy, wh = (xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]
        rows = []
        for c, (x, y), (bw, bh), s in zip(self.classes.tolist(), cxcy.tolist(), wh.tolist(), self.scores.tolist()):
            rows.append(f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}" + (f" {s:.5f}" if conf else ""))
        return rows

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """COCO results rows ``{image_id, category_id, bbox (top-left xywh), score}``."""
        return detections_to_coco(self.boxes, self.scores, self.classes, image_id, label_to_category)


def result_stem(result: Result) -> str:
    """File stem of a result's outputs: the source's stem, plus ``_<frame>`` for video frames."""
    stem = Path(result.path).stem
    return stem if result.frame is None else f"{stem}_{result.frame}"


def coco_image_id(stem: str) -> int | str:
    """COCO image id of a file stem: an int when numeric (``000000000139`` -> 139, COCO's own ids), else the stem."""
    return int(stem) if stem.isnumeric() else stem


def coco_category_map(names: Sequence[str]) -> tuple[int, ...] | None:
    """``COCO80_TO_COCO91`` when ``names`` are COCO's 80 classes (person ... toothbrush), else None (keep the index)."""
    if len(names) == 80 and (names[0], names[-1]) == ("person", "toothbrush"):
        return COCO80_TO_COCO91
    return None


def annotated_name(path: str) -> str:
    """File name of an annotated copy of image ``path``: the same name when OpenCV writes that format, else .jpg."""
    p = Path(path)
    return p.name if p.suffix.lower() in _WRITABLE else f"{p.stem}.jpg"


class ResultWriter:
    """Saves a predict run into ``save_dir``: annotated images (same file names; unless ``save_images`` is
    False), one annotated ``.mp4`` per video, ``labels/<stem>.txt`` (``save_txt``; images without detections get no file) and
    ``predictions.json`` (``save_json``; image ids are file stems, ``<stem>_<frame>`` for video frames).

    Use as a context manager, or call :meth:`close` to finish the videos and write the json.
    """

    def __init__(self, save_dir: str | Path, save_txt: bool = False, save_json: bool = False,
                 label_to_category: Sequence[int] | None = None, save_images: bool = True) -> None:
        self.save_dir = Path(save_dir)
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self.save_txt, self.save_json, self.label_to_category = save_txt, save_json, label_to_category
        self.save_images = save_images
        self._videos: dict[str, cv2.VideoWriter] = {}
        self._rows: list[dict] = []

    def __enter__(self) -> "ResultWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _video(self, result: Result) -> cv2.VideoWriter:
        """The open writer of ``result``'s video (created at its first frame, source fps, mp4v codec)."""
        if result.path not in self._videos:
            capture = cv2.VideoCapture(result.path)
            fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
            capture.release()
            out = self.save_dir / f"{Path(result.path).stem}.mp4"
            h, w = result.orig_shape
            self._videos[result.path] = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        return self._videos[result.path]

    def write(self, result: Result) -> None:
        """Save one result's annotated image or video frame, label file and json rows."""
        if self.save_images:
            annotated = result.plot()
            if result.frame is None:
                cv2.imwrite(str(self.save_dir / annotated_name(result.path)), annotated)
            else:
                self._video(result).write(annotated)
        stem = result_stem(result)
        if self.save_txt and len(result):
            label = self.save_dir / "labels" / f"{stem}.txt"
            label.parent.mkdir(exist_ok=True)
            label.write_text("\n".join(result.to_txt_rows()) + "\n")
        if self.save_json:
            self._rows += result.to_coco(coco_image_id(stem), self.label_to_category)

    def close(self) -> None:
        """Finish the videos and write ``predictions.json``."""
        for writer in self._videos.values():
            writer.release()
        self._videos.clear()
        if self.save_json:
            (self.save_dir / "predictions.json").write_text(json.dumps(self._rows))
