"""Training losses: task-aligned assignment, the YOLOv9 detection loss (single and dual branch), the
segmentation, pose and oriented-box losses built on it, and the classifiers' cross-entropy."""

from .assigner import TaskAlignedAssigner, anchors_inside_boxes
from .classification import ClassificationLoss
from .detection import Assignment, DetectionLoss, dfl_loss, expected_distances, group_by_image, pad_targets
from .obb import OBBLoss, RotatedTaskAlignedAssigner, anchors_inside_rotated_boxes, pad_rotated_targets
from .pose import PoseLoss, keypoint_terms
from .segmentation import SegmentationLoss, mask_loss

__all__ = [
    "Assignment", "ClassificationLoss", "DetectionLoss", "OBBLoss", "PoseLoss", "RotatedTaskAlignedAssigner",
    "SegmentationLoss", "TaskAlignedAssigner", "anchors_inside_boxes", "anchors_inside_rotated_boxes", "dfl_loss",
    "expected_distances", "group_by_image", "keypoint_terms", "mask_loss", "pad_rotated_targets", "pad_targets",
]
