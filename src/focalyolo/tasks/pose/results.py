"""Poses of one image or video frame: :class:`PoseResult`, what the pose task's ``postprocess`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ...utils.plotting import draw_keypoints
from ..detect.results import Result

__all__ = ["PoseResult"]


@dataclass
class PoseResult(Result):
    """A detection :class:`Result` plus each detection's keypoints.

    Attributes:
        keypoints: (n, nk, 3) x, y in original-image pixels and the visibility probability (1 for models of
            2-value keypoints), in the order of ``boxes``.
        skeleton: pairs of keypoint indices :meth:`plot` joins (the training data's ``skeleton``), or None.
    """

    keypoints: torch.Tensor = field(kw_only=True, repr=False)
    skeleton: Sequence[Sequence[int]] | None = field(default=None, kw_only=True, repr=False)

    def plot(self) -> np.ndarray:
        """The original image with the boxes and labels, and each pose's visible keypoints (probability >= 0.5)
        joined by the skeleton."""
        img = self.draw_boxes(self.orig_img.copy())
        return draw_keypoints(img, self.keypoints, self.classes.tolist(), self.skeleton)

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """YOLO pose label lines ``cls cx cy w h x1 y1 v1 ... [conf]``, boxes and keypoints normalised to the
        image, ``v`` the predicted visibility probability."""
        h, w = self.orig_shape
        points = self.keypoints.detach().double().cpu() / torch.tensor([w, h, 1], dtype=torch.float64)
        rows = []
        for box_row, pose, score in zip(super().to_txt_rows(conf=False), points, self.scores.tolist()):
            values = " ".join(f"{v:.6f}" for v in pose.reshape(-1).tolist())
            rows.append(f"{box_row} {values}" + (f" {score:.5f}" if conf else ""))
        return rows

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """COCO results rows with ``keypoints`` ``[x1, y1, score1, ...]``."""
        rows = super().to_coco(image_id, label_to_category)
        for row, pose in zip(rows, self.keypoints.detach().double().cpu().numpy().round(3)):
            row["keypoints"] = pose.reshape(-1).tolist()
        return rows
