"""Data pipeline: dataset configs, label scanning, annotation kinds, augmentation, datasets and loaders."""

from .annotations import AnnotationKind, Annotations, annotation_kind, register_annotation_kind
from .augment import letterbox
from .coco import flip_idx_from_names
from .config import DataConfig, load_data_config
from .dataset import YOLODataset
from .dota import convert_dota_labels
from .keypoints import Keypoints, hide_keypoints_outside
from .loader import build_dataloader, release_workers, seed_worker
from .paths import focalyolo_home, img2label_path
from .polygons import Polygons
from .rotated_boxes import RotatedBoxes
from .sampling import EpochSampler, SampleKey
from .synthetic import CLASS_NAMES as SYNTHETIC_NAMES
from .synthetic import POSE_NAMES as SYNTHETIC_POSE_NAMES
from .synthetic import ensure_synthetic, generate_synthetic

__all__ = [
    "AnnotationKind", "Annotations", "DataConfig", "EpochSampler", "Keypoints", "Polygons", "RotatedBoxes",
    "SYNTHETIC_NAMES", "SYNTHETIC_POSE_NAMES", "SampleKey", "YOLODataset", "annotation_kind", "build_dataloader",
    "convert_dota_labels", "ensure_synthetic", "flip_idx_from_names", "focalyolo_home", "generate_synthetic",
    "hide_keypoints_outside", "img2label_path", "letterbox", "load_data_config", "register_annotation_kind",
    "release_workers", "seed_worker",
]
