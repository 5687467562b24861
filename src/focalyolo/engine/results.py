"""How a predict run saves its results (:class:`ResultWriter`): annotated images and videos, label files, json.

Works with any task's result objects: they draw themselves (``plot()``), write their label rows
(``to_txt_rows()``) and their COCO rows (``to_coco()``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import cv2

from ..metrics.coco_json import coco_image_id

__all__ = ["ResultWriter", "annotated_name", "result_stem"]

_WRITABLE = frozenset({".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})


def result_stem(result: Any) -> str:
    """File stem of a result's outputs: the source's stem, plus ``_<frame>`` for video frames."""
    stem = Path(result.path).stem
    return stem if result.frame is None else f"{stem}_{result.frame}"


def annotated_name(path: str) -> str:
    """File name of an annotated copy of image ``path``: the same name when OpenCV writes that format, else .jpg."""
    p = Path(path)
    return p.name if p.suffix.lower() in _WRITABLE else f"{p.stem}.jpg"


class ResultWriter:
    """Saves a predict run into ``save_dir``: annotated images (same file names; unless ``save_images`` is
    False), one annotated ``.mp4`` per video, ``labels/<stem>.txt`` (``save_txt``; images without detections get no
    file) and ``predictions.json`` (``save_json``; image ids are file stems, ``<stem>_<frame>`` for video frames).

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

    def _video(self, result: Any) -> cv2.VideoWriter:
        """The open writer of ``result``'s video (created at its first frame, source fps, mp4v codec)."""
        if result.path not in self._videos:
            capture = cv2.VideoCapture(result.path)
            fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
            capture.release()
            out = self.save_dir / f"{Path(result.path).stem}.mp4"
            h, w = result.orig_shape
            self._videos[result.path] = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        return self._videos[result.path]

    def write(self, result: Any) -> None:
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
