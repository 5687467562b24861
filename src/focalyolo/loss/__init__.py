"""Training losses: task-aligned assignment, the YOLOv9 detection loss (single and dual branch), the
segmentation loss built on it, and the classifiers' cross-entropy."""

from .assigner import TaskAlignedAssigner, anchors_inside_boxes
from .classification import ClassificationLoss
from .detection import Assignment, DetectionLoss, dfl_loss, expected_distances, pad_targets
from .segmentation import SegmentationLoss, mask_loss

__all__ = [
    "Assignment", "ClassificationLoss", "DetectionLoss", "SegmentationLoss", "TaskAlignedAssigner",
    "anchors_inside_boxes", "dfl_loss", "expected_distances", "mask_loss", "pad_targets",
]
