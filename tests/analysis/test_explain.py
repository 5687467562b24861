"""``focalyolo explain``: the focal and attention maps, the effective receptive field against its exact value on a
conv stack, and the command's pictures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from focalyolo.analysis.explain import attention_maps, effective_receptive_field, focal_maps
from focalyolo.cli import main
from focalyolo.models import build_model

HERE = Path(__file__).parent
FOCAL, ATTN = HERE.parent / "engine" / "tiny-gelan-focal.yaml", HERE / "tiny-gelan-attn.yaml"


def test_focal_and_attention_maps_have_the_images_shape_and_are_finite() -> None:
    torch.manual_seed(0)
    image = torch.rand(1, 3, 96, 128)
    maps = focal_maps(build_model(FOCAL, nc=5).eval(), image)
    assert list(maps) == ["model.9.modulation"]
    levels = maps["model.9.modulation"]
    assert levels.shape == (4, 96, 128) and np.isfinite(levels).all() and (levels >= 0).all()  # L=2, global, h
    assert levels[0].std() > 0  # a map, not a constant
    attention = attention_maps(build_model(ATTN, nc=5).eval(), image, (20.0, 70.0))
    (weights,) = attention.values()
    assert weights.shape == (96, 128) and np.isfinite(weights).all()
    assert weights.mean() * 3 * 4 == pytest.approx(1, rel=0.05)  # a softmax over the 3x4 keys of P5


def test_focal_maps_leave_the_blocks_output_unchanged() -> None:
    torch.manual_seed(0)
    model, image = build_model(FOCAL, nc=5).eval(), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(image)
    focal_maps(model, image)
    with torch.no_grad():
        assert torch.equal(model(image), before)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())  # hooks removed


def test_erf_of_three_all_ones_convs_is_exact() -> None:
    """Three 3x3 convolutions of all-ones weights and no activation: the gradient of the centre output w.r.t. each
    input channel is the outer product of [1, 3, 6, 7, 6, 3, 1] with itself (support radius 3 px); 50 % of its mass
    lies within 2 px of the centre, 90 % within 3 px."""
    stack = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1, bias=False), nn.Conv2d(1, 1, 3, padding=1, bias=False),
                          nn.Conv2d(1, 1, 3, padding=1, bias=False))
    for conv in stack:
        nn.init.ones_(conv.weight)
    field = effective_receptive_field(stack, torch.rand(2, 3, 21, 21))
    kernel = np.array([1, 3, 6, 7, 6, 3, 1], np.float64)
    expected = np.zeros((21, 21))
    expected[7:14, 7:14] = 3 * np.outer(kernel, kernel)  # three input channels
    assert field.cell == (10, 10) and field.centre == (10.0, 10.0) and field.stride == 1
    np.testing.assert_array_equal(field.grad, expected)
    assert (field.support, field.radius50, field.radius90) == (3.0, 2.0, 3.0)


def test_explain_command_writes_its_pictures(tmp_path: Path, capsys) -> None:
    image = tmp_path / "shapes.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    for model, expected in ((FOCAL, ["erf_level1.png", "shapes_focal0_global.png", "shapes_focal0_level1.png",
                                     "shapes_focal0_level2.png", "shapes_focal0_modulator.png"]),
                            (ATTN, ["erf_level1.png", "shapes_attn0.png"])):
        out = tmp_path / model.stem
        assert main(["explain", "--model", str(model), "--source", str(image), "--output", str(out), "--imgsz", "64",
                     "--level", "1", "--location", "10,50"]) == 0
        assert sorted(p.name for p in out.iterdir()) == expected
        assert all(cv2.imread(str(p)).shape == (64, 64, 3) for p in out.iterdir())
        assert "90 % within" in capsys.readouterr().out
    assert main(["explain", "--model", str(FOCAL), "--source", str(image), "--level", "3",
                 "--output", str(tmp_path / "x")]) == 2
    assert "level 3 does not exist" in capsys.readouterr().err and not (tmp_path / "x").exists()
