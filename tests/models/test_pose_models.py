"""The packaged pose models: the detection model of the same size with its head swapped for DPose / DualDPose,
kpt_shape from the config (or the data), the focal / attention variants, and PGI conversion to DPose."""

from __future__ import annotations

import pytest
import torch

from focalyolo import build_model
from focalyolo.errors import ConfigError
from focalyolo.models import config_task, load_model_config
from focalyolo.models.summary import count_parameters
from focalyolo.nn import DPose, DualDPose, FocalModulationBlock
from focalyolo.weights.convert import deployment_form
from repo_scripts import load_script


def test_pose_configs_are_in_sync_with_the_generator():
    generator = load_script("tools/make_variant_configs.py")
    for name, detection in generator.pose_configs():
        packaged, _ = load_model_config(name)
        made = generator.pose_config(detection)
        assert packaged["backbone"] + packaged["head"] == made["backbone"] + made["head"], name
        assert packaged["kpt_shape"] == [17, 3] and packaged["nc"] == 1 and config_task(name) == "pose"
        for suffix, block in generator.BLOCKS.items():
            variant, _ = generator.variant(name, block)
            shipped, _ = load_model_config(f"{name}-{suffix}")
            assert shipped["backbone"] + shipped["head"] == variant["backbone"] + variant["head"], (name, suffix)


@pytest.mark.parametrize("size", ["t", "s"])
def test_pose_model_is_the_detector_plus_keypoint_branches(size):
    detector = count_parameters(build_model(f"gelan-{size}", nc=1))
    pose = build_model(f"gelan-{size}-pose")
    assert isinstance(pose.head, DPose) and pose.kpt_shape == [17, 3]
    assert count_parameters(pose) - detector == count_parameters(pose.head.cv4)
    dual = build_model(f"yolov9-{size}-pose-focal", kpt_shape=[4, 2])
    assert isinstance(dual.head, DualDPose) and dual.kpt_shape == [4, 2]
    assert any(isinstance(m, FocalModulationBlock) for m in dual.model)
    assert dual.head.cv7[0][-1].out_channels == 8 and dual.head.cv6[0][-1].out_channels == 8


def test_train_and_eval_outputs_and_conversion_keep_the_main_branch():
    model = build_model("yolov9-t-pose", nc=3, kpt_shape=[5, 3])
    x = torch.rand(2, 3, 64, 96)
    model.train()
    maps, keypoints = model(x)
    anchors = 8 * 12 + 4 * 6 + 2 * 3
    assert len(maps) == 2 and [k.shape for k in keypoints] == [(2, 15, anchors)] * 2
    model.eval()
    with torch.no_grad():
        predictions = model(x)
        gelan = deployment_form(model)
        converted = gelan(x)
    assert predictions.shape == (2, 4 + 3 + 15, anchors)
    assert isinstance(gelan.head, DPose) and torch.allclose(predictions, converted, atol=1e-4)
    visibility = predictions[:, 4 + 3 + 2::3]
    assert visibility.min() >= 0 and visibility.max() <= 1


def test_a_bad_kpt_shape_is_a_config_error_naming_the_layer():
    with pytest.raises(ConfigError, match=r"layer \d+ \(DPose\).*kpt_shape must be"):
        build_model("gelan-t-pose", kpt_shape=[5, 4])
