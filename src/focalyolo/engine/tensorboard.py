"""TensorBoard logging of a run: each epoch's results.csv row as scalars, and the run's plots once at the end.

Used whenever the ``tensorboard`` package is installed (PyTorch's ``SummaryWriter`` needs it; ``pip install
'focalyolo[tensorboard]'``); there is no option. The event files go into the run folder itself, as Ultralytics
puts them, so ``tensorboard --logdir runs/train`` shows every run side by side. results.csv stays the record:
TensorBoard gets a copy of the same figures, and a writer that fails only stops the copy (one warning).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Callable, Mapping

import cv2

__all__ = ["OFF_MESSAGE", "TensorBoard"]

LOGGER = logging.getLogger("focalyolo")
OFF_MESSAGE = "TensorBoard logging is off (tensorboard is not installed): pip install 'focalyolo[tensorboard]'"
IMAGE_SUFFIXES = (".png", ".jpg")


class TensorBoard:
    """A ``SummaryWriter`` on the run folder that turns itself off, with one warning, at its first error."""

    def __init__(self, writer: Any):
        self.writer = writer
        self.last_step = 0

    @classmethod
    def open(cls, save_dir: Path, log: Callable[[str], None]) -> TensorBoard | None:
        """A logger writing into ``save_dir``; None when tensorboard is not installed (``log`` gets
        :data:`OFF_MESSAGE`) or the writer cannot start (a warning)."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log(OFF_MESSAGE)
            return None
        try:
            return cls(SummaryWriter(log_dir=str(save_dir)))
        except Exception as exc:  # a failing writer only costs the TensorBoard copy, never the run
            LOGGER.warning(f"TensorBoard logging off: cannot write to {save_dir}: {exc}")
            return None

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Log one epoch's results (the CSV columns and their values) at ``step`` (the epoch, from 1)."""
        self.last_step = step
        self._guarded(self._write_scalars, values, step)

    def images(self, folder: Path) -> None:
        """Log every .png and .jpg directly in ``folder`` (the run's plots) at the last epoch, tagged by file name."""
        self._guarded(self._write_images, folder)

    def close(self) -> None:
        """Flush and close the event file (nothing when the writer has already stopped)."""
        if self.writer is not None:
            self._guarded(self.writer.close)
            self.writer = None

    def _write_scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), step)
        self.writer.flush()  # a live TensorBoard sees each epoch as it ends, not after flush_secs

    def _write_images(self, folder: Path) -> None:
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
            image = cv2.imread(str(path))
            if image is not None:
                self.writer.add_image(path.name, image[..., ::-1].copy(), self.last_step, dataformats="HWC")
        self.writer.flush()

    def _guarded(self, write: Callable[..., None], *args: Any) -> None:
        """Run ``write``; on its first error warn once and stop logging (training goes on)."""
        if self.writer is None:
            return
        try:
            write(*args)
        except Exception as exc:  # a failing writer only costs the TensorBoard copy, never the run
            LOGGER.warning(f"TensorBoard logging stopped: {type(exc).__name__}: {exc}")
            writer, self.writer = self.writer, None
            with contextlib.suppress(Exception):  # it is broken already; the warning said so
                writer.close()
