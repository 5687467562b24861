"""Detection metrics: COCO numbers through pycocotools (reported) and a fast in-training mAP (logged), also of
rotated boxes (:class:`OBBMetrics`)."""

from focalyolo.metrics.coco_eval import STAT_KEYS, evaluate, per_class_stats, run_cocoeval
from focalyolo.metrics.coco_json import (
    COCO80_TO_COCO91,
    build_coco_gt,
    coco_from_dict,
    coco_results,
    detections_to_coco,
    save_json,
)
from focalyolo.metrics.confusion import ConfusionMatrix
from focalyolo.metrics.detection import DetectionMetrics
from focalyolo.metrics.obb import OBBMetrics

__all__ = [
    "COCO80_TO_COCO91",
    "STAT_KEYS",
    "ConfusionMatrix",
    "DetectionMetrics",
    "OBBMetrics",
    "build_coco_gt",
    "coco_from_dict",
    "coco_results",
    "detections_to_coco",
    "evaluate",
    "per_class_stats",
    "run_cocoeval",
    "save_json",
]
