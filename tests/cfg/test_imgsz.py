"""Image sizes: the tasks' training defaults, and one rule for a size that is not a multiple of the model's stride."""

from __future__ import annotations

import types

import pytest
import torch

from focalyolo.cfg import PredictConfig, ValConfig
from focalyolo.cfg.imgsz import INFERENCE_IMGSZ, stride_multiple
from focalyolo.cfg.recorded import inference_config
from focalyolo.errors import ConfigError
from focalyolo.tasks import get_task

RULE = "imgsz {} is not a multiple of the model's stride {}: using {}"


def _model(stride: int = 32, **record) -> types.SimpleNamespace:
    return types.SimpleNamespace(stride=torch.tensor([8.0, 16.0, float(stride)]), train_args=record)


def test_stride_multiple_rounds_up_with_one_warning(focalyolo_log):
    assert stride_multiple(64, 32) == 64 and stride_multiple(65, 32) == 96 and stride_multiple(1, 64) == 64
    assert [r.getMessage() for r in focalyolo_log if r.levelname == "WARNING"] == [RULE.format(65, 32, 96),
                                                                                   RULE.format(1, 64, 64)]
    with pytest.raises(ConfigError, match="imgsz 0"):
        stride_multiple(0, 32)


def test_training_defaults_are_the_tasks():
    def size(task: str, data: str) -> int:
        return get_task(task).default_imgsz(data)

    assert size("detect", "synthetic") == 160 and size("segment", "data.yaml") == 640
    assert size("classify", "synthetic-cls") == 96 and size("classify", "images/") == 224
    assert size("obb", "synthetic-obb") == 160 and size("obb", "dota.yaml") == 1024


def test_inference_takes_the_record_then_the_rule_and_leaves_the_given_config(focalyolo_log):
    given = ValConfig(model="m.pt", imgsz=100)
    used = inference_config(given, _model(data="synthetic"), need_data=True)
    assert (used.imgsz, used.data) == (128, "synthetic") and (given.imgsz, given.data) == (100, None)
    assert RULE.format(100, 32, 128) in [r.getMessage() for r in focalyolo_log]
    assert inference_config(PredictConfig(model="m.pt"), _model(imgsz=96)).imgsz == 96
    assert inference_config(PredictConfig(model="m.pt"), _model()).imgsz == INFERENCE_IMGSZ
    assert inference_config(PredictConfig(model="m.pt"), _model(stride=64, imgsz=96)).imgsz == 128
