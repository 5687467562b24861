"""Training losses: task-aligned assignment and the YOLOv9 detection loss (single and dual branch)."""

from .assigner import TaskAlignedAssigner, anchors_inside_boxes
from .detection import DetectionLoss, dfl_loss, expected_distances, pad_targets

__all__ = [
    "DetectionLoss", "TaskAlignedAssigner", "anchors_inside_boxes", "dfl_loss", "expected_distances", "pad_targets",
]
