"""Segmentation models: the official configs' parameter counts and state_dict layout, the heads' outputs and
the focal/attention variants; heads name their task."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from focalyolo import build_model
from focalyolo.errors import ConfigError
from focalyolo.models.summary import count_gflops, count_parameters
from focalyolo.nn import DDetect
from focalyolo.tasks import task_of
from repo_scripts import load_script

# official code, nc=80, unfused; GFLOPs by thop at 640 (ours does not count BatchNorm and upsampling: within 1 %)
OFFICIAL = {"gelan-c-seg": (27_634_720, 146.0), "gelan-c-dseg": (27_668_256, 147.1),
            "yolov9-c-dseg": (57_991_744, 372.6)}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_parameter_count_and_gflops_match_official(name):
    model = build_model(name, nc=80)
    params, gflops = OFFICIAL[name]
    assert count_parameters(model) == params
    assert abs(count_gflops(model, 640) - gflops) / gflops < 0.01


def test_state_dict_keys_use_official_layout():
    seg = build_model("gelan-c-seg").state_dict()
    for key in ("model.22.proto.cv1.conv.weight", "model.22.proto.cv3.conv.weight", "model.22.cv4.2.1.bn.bias",
                "model.22.cv2.0.1.conv.weight", "model.22.dfl.conv.weight"):
        assert key in seg, key
    assert seg["model.22.cv4.0.2.weight"].shape == (32, 64, 1, 1)  # coefficients: width max(256 // 4, 32)
    assert seg["model.22.cv2.0.1.conv.weight"].shape == (64, 64, 3, 3)  # plain Detect: no groups in the box branch
    assert build_model("gelan-c-dseg").state_dict()["model.25.proto.conv.weight"].shape == (32, 256, 1, 1)
    dual = build_model("yolov9-c-dseg").state_dict()
    for key in ("model.44.proto.conv.weight", "model.44.proto2.conv.weight", "model.44.cv6.0.0.conv.weight",
                "model.44.cv7.2.2.bias", "model.44.cv5.0.2.weight", "model.44.dfl2.conv.weight"):
        assert key in dual, key
    assert dual["model.44.cv6.0.0.conv.weight"].shape == (128, 512, 3, 3)  # auxiliary P3 is 512 wide
    assert dual["model.44.cv7.0.0.conv.weight"].shape == (64, 256, 3, 3)


@pytest.mark.parametrize("name", ["gelan-c-seg", "gelan-c-dseg-focal", "yolov9-c-dseg-attn"])
def test_train_and_eval_outputs(name):
    model = build_model(name, nc=3)
    x = torch.rand(2, 3, 64, 96)
    anchors = 8 * 12 + 4 * 6 + 2 * 3
    maps, coefficients, protos = model.train()(x)
    branches = (maps, coefficients, protos) if model.is_dual else ([maps], [coefficients], [protos])
    for level_maps, coeff, proto in zip(*branches):
        assert [tuple(m.shape) for m in level_maps] == [(2, 67, 8, 12), (2, 67, 4, 6), (2, 67, 2, 3)]
        assert coeff.shape == (2, 32, anchors) and proto.shape == (2, 32, 16, 24)
    with torch.no_grad():
        predictions, protos = model.eval()(x)
    assert predictions.shape == (2, 4 + 3 + 32, anchors) and protos.shape == (2, 32, 16, 24)
    assert model.stride.tolist() == [8.0, 16.0, 32.0]


def test_dual_head_eval_uses_the_main_branch():
    model = build_model("yolov9-c-dseg", nc=2).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        predictions, protos = model(x)
        model.head.cv6[0][-1].bias += 3.0  # auxiliary coefficients
        model.head.proto.conv.weight += 1.0  # auxiliary prototypes
        again, protos_again = model(x)
        assert torch.equal(again, predictions) and torch.equal(protos_again, protos)
        model.head.cv7[0][-1].bias += 3.0
        model.head.proto2.conv.weight += 1.0
        changed, protos_changed = model(x)
        assert not torch.allclose(changed[:, -32:], predictions[:, -32:]) and not torch.allclose(protos_changed, protos)


def test_the_head_names_the_task_and_an_unregistered_one_is_a_clear_error():
    assert task_of(build_model("gelan-t", nc=2)).name == "detect"

    class OrbitHead(DDetect):
        task = "orbit"

    holder = nn.Module()
    holder.head = OrbitHead(2, [16, 32, 64])
    with pytest.raises(ConfigError, match="head OrbitHead declares the task 'orbit', which is not registered"):
        task_of(holder)


@pytest.mark.parametrize("size", ["c", "t"])
def test_yolov9_dseg_converts_to_gelan_dseg_with_the_same_outputs(size):
    from focalyolo.weights.convert import convert_to_gelan, fuse_model

    dual = build_model(f"yolov9-{size}-dseg", nc=3).eval()
    gelan = convert_to_gelan(dual)
    reference = build_model(f"gelan-{size}-dseg", nc=3)
    assert [r.module for r in gelan.rows] == [r.module for r in reference.rows]
    assert gelan.rows[-1].sources == [15, 18, 21, 24]
    # the official yolov9-c-dseg's main prototype ELAN has inner depth 2, gelan-c-dseg's 1: that layer differs
    differing = set(gelan.state_dict()) ^ set(reference.state_dict())
    assert differing and {key.split(".")[1] for key in differing} == {"22"}
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        (expected, expected_protos), (got, got_protos) = dual(x), gelan(x)
        fused, fused_protos = fuse_model(gelan)(x)
    assert torch.equal(got, expected) and torch.equal(got_protos, expected_protos)
    assert torch.allclose(fused, expected, atol=1e-3) and torch.allclose(fused_protos, expected_protos, atol=1e-4)


def test_the_generation_rule_reproduces_the_official_files_and_scales_with_p3():
    from focalyolo.models import load_model_config

    generator = load_script("tools/make_variant_configs.py")
    for name, detection, kind in [("gelan-c-seg", "gelan-c", "seg"), ("gelan-c-dseg", "gelan-c", "dseg"),
                                  ("yolov9-c-dseg", "yolov9-c", "dseg"), ("yolov9-t-dseg", "yolov9-t", "dseg")]:
        shipped, _ = load_model_config(name)
        assert generator.segment_config(detection, kind)["head"] == shipped["head"], name
    head = load_model_config("gelan-s-seg")[0]["head"][-1]
    assert head[2:] == ["Segment", ["nc", 32, 128]]  # prototypes as wide as gelan-s's P3
