"""Training losses: task-aligned assignment, the YOLOv9 detection loss (single and dual branch) and the
segmentation loss built on it."""

from .assigner import TaskAlignedAssigner, anchors_inside_boxes
from .detection import Assignment, DetectionLoss, dfl_loss, expected_distances, pad_targets
from .segmentation import SegmentationLoss, mask_loss

__all__ = [
    "Assignment", "DetectionLoss", "SegmentationLoss", "TaskAlignedAssigner", "anchors_inside_boxes",
    "dfl_loss", "expected_distances", "mask_loss", "pad_targets",
]
