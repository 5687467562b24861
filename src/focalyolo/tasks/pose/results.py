"""Poses of one image or video frame: :class:`PoseResult`, what the pose task's ``postprocess`` returns."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ...utils.plotting import draw_keypoints
from ..detect.results import DetectResult
from ..results import Keypoints

__all__ = ["PoseResult"]


class PoseResult(DetectResult):
    """A :class:`DetectResult` plus each detection's keypoints.

    Built with ``keypoints`` (n, nk, 3): x, y in original-image pixels and the visibility probability (1 for
    models of 2-value keypoints), in the order of ``boxes``; held as ``self.keypoints``, a
    :class:`~focalyolo.tasks.results.Keypoints` (``data``, ``xy``, ``xyn``, ``conf``). ``skeleton``: pairs of
    keypoint indices :meth:`plot` joins (the training data's ``skeleton``), or None.
    """

    per_detection = ("boxes", "keypoints")

    def __init__(self, *args: object, keypoints: torch.Tensor, skeleton: Sequence[Sequence[int]] | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.keypoints = Keypoints(keypoints, self.orig_shape)
        self.skeleton = skeleton

    def plot(self) -> np.ndarray:
        """The original image with the boxes and labels, and each pose's visible keypoints (probability >= 0.5)
        joined by the skeleton."""
        img = self.draw_boxes(self.orig_img.copy())
        return draw_keypoints(img, self.keypoints.data, self._class_ids(), self.skeleton)

    def summary(self, normalize: bool = False, decimals: int = 5) -> list[dict]:
        """:meth:`DetectResult.summary` rows plus ``"keypoints": {"x": [...], "y": [...], "visible": [...]}``."""
        rows = super().summary(normalize, decimals)
        xy = np.asarray(self.keypoints.xyn if normalize else self.keypoints.xy, np.float64).round(decimals)
        visible = np.asarray(self.keypoints.conf, np.float64).round(decimals)
        for row, points, v in zip(rows, xy, visible):
            row["keypoints"] = {"x": points[:, 0].tolist(), "y": points[:, 1].tolist(), "visible": v.tolist()}
        return rows

    def to_txt_rows(self, conf: bool = True) -> list[str]:
        """YOLO pose label lines ``cls cx cy w h x1 y1 v1 ... [conf]``, boxes and keypoints normalised to the
        image, ``v`` the predicted visibility probability."""
        h, w = self.orig_shape
        points = torch.as_tensor(self.keypoints.data).double() / torch.tensor([w, h, 1], dtype=torch.float64)
        rows = []
        for box_row, pose, score in zip(super().to_txt_rows(conf=False), points, self.boxes.conf.tolist()):
            values = " ".join(f"{v:.6f}" for v in pose.reshape(-1).tolist())
            rows.append(f"{box_row} {values}" + (f" {score:.5f}" if conf else ""))
        return rows

    def to_coco(self, image_id: int | str, label_to_category: Sequence[int] | None = None) -> list[dict]:
        """COCO results rows with ``keypoints`` ``[x1, y1, score1, ...]``."""
        rows = super().to_coco(image_id, label_to_category)
        for row, pose in zip(rows, torch.as_tensor(self.keypoints.data).double().cpu().numpy().round(3)):
            row["keypoints"] = pose.reshape(-1).tolist()
        return rows
