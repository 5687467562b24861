"""The packaged oriented-box models: the detection model of the same size with its head swapped for DOBB /
DualDOBB, nc 15 (DOTA v1), the focal / attention variants, and PGI conversion to the single-branch form."""

from __future__ import annotations

import torch

from focalyolo import build_model
from focalyolo.models import config_task, load_model_config
from focalyolo.models.summary import count_parameters
from focalyolo.nn import DOBB, DualDOBB, FocalModulationBlock
from focalyolo.weights.convert import convert_to_gelan
from repo_scripts import load_script


def test_obb_configs_are_in_sync_with_the_generator():
    generator = load_script("tools/make_variant_configs.py")
    names = [name for name, _ in generator.obb_configs()]
    assert names == [f"{family}-{size}-obb" for family in ("gelan", "yolov9") for size in "tsc"]
    for name, detection in generator.obb_configs():
        packaged, _ = load_model_config(name)
        made = generator.obb_config(detection)
        assert packaged["backbone"] + packaged["head"] == made["backbone"] + made["head"], name
        assert packaged["nc"] == 15 and config_task(name) == "obb"
        assert packaged["head"][-1][2] == ("DualDOBB" if name.startswith("yolov9") else "DOBB")
        for suffix, block in generator.BLOCKS.items():
            variant, _ = generator.variant(name, block)
            shipped, _ = load_model_config(f"{name}-{suffix}")
            assert shipped["backbone"] + shipped["head"] == variant["backbone"] + variant["head"], (name, suffix)
            assert config_task(f"{name}-{suffix}") == "obb"
    assert set(names) <= set(generator.base_configs())


def test_obb_model_is_the_detector_plus_angle_branches():
    detector = count_parameters(build_model("gelan-t", nc=15))
    obb = build_model("gelan-t-obb")
    assert isinstance(obb.head, DOBB) and obb.head.nc == 15
    assert count_parameters(obb) - detector == count_parameters(obb.head.cv4)
    dual = build_model("yolov9-s-obb-focal", nc=4)
    assert isinstance(dual.head, DualDOBB) and dual.head.nc == 4
    assert any(isinstance(m, FocalModulationBlock) for m in dual.model)


def test_pgi_conversion_keeps_the_main_branch():
    model = build_model("yolov9-t-obb-focal", nc=3)
    x = torch.rand(2, 3, 64, 96)
    model.train()
    maps, angles = model(x)
    anchors = 8 * 12 + 4 * 6 + 2 * 3
    assert len(maps) == 2 and [a.shape for a in angles] == [(2, 1, anchors)] * 2
    model.eval()
    gelan = convert_to_gelan(model)
    with torch.no_grad():
        predictions = model(x)
        converted = gelan(x)
    assert isinstance(gelan.head, DOBB) and not gelan.is_dual and gelan.head.task == "obb"
    single = build_model("gelan-t-obb-focal", nc=3).state_dict()
    assert {k: v.shape for k, v in gelan.state_dict().items()} == {k: v.shape for k, v in single.items()}
    assert predictions.shape == (2, 4 + 3 + 1, anchors)
    assert torch.allclose(predictions, converted, atol=1e-4)
