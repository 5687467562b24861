"""FocalModulationBlock is timm's FocalNetBlock weight for weight; SelfAttentionBlock is its drop-in peer."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
import torch.nn as nn

from focalyolo.nn import FocalModulation, FocalModulationBlock, SelfAttentionBlock

timm_focalnet = pytest.importorskip("timm.models.focalnet")


@pytest.mark.parametrize("kwargs, timm_kwargs", [
    ({}, {"layerscale_value": 1e-4}),
    ({"focal_level": 3, "layerscale": None}, {"focal_level": 3, "layerscale_value": None}),
    ({"normalize_modulator": True, "focal_window": 5}, {"normalize_modulator": True, "focal_window": 5,
                                                        "layerscale_value": 1e-4}),
    ({"post_norm": True, "post_norm_in_modulation": True, "layerscale": 0.5},
     {"use_post_norm": True, "use_post_norm_in_modulation": True, "layerscale_value": 0.5}),
])
@pytest.mark.parametrize("size", [(17, 23), (20, 20), (1, 1)])
def test_matches_timm_focalnet_block(kwargs, timm_kwargs, size):
    dim = 32
    norm = functools.partial(timm_focalnet.LayerNorm2d, eps=1e-5)  # as timm's FocalNet builds its blocks
    theirs = timm_focalnet.FocalNetBlock(dim, focal_level=kwargs.get("focal_level", 2), norm_layer=norm, **{
        k: v for k, v in timm_kwargs.items() if k != "focal_level"}).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.3)
    ours = FocalModulationBlock(dim, dim, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, dim, *size)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
    assert set(ours.state_dict()) == set(theirs.state_dict())


def test_layerscale_starts_near_identity():
    block = FocalModulationBlock(64).eval()
    x = torch.randn(1, 64, 10, 12)
    with torch.no_grad():
        assert (block(x) - x).abs().max() < 1e-2


def test_channel_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="must equal c1"):
        FocalModulationBlock(64, 128)


def test_even_window_is_rejected():
    with pytest.raises(ValueError, match="odd"):
        FocalModulation(16, focal_window=4)


def test_kernel_sizes_and_parameter_count():
    module = FocalModulation(256, focal_level=2, focal_window=3)
    assert module.kernel_sizes == [3, 5]
    assert sum(p.numel() for p in module.parameters()) == 272_643


@pytest.mark.parametrize("block", [FocalModulationBlock, SelfAttentionBlock])
def test_blocks_keep_shape_and_backpropagate(block):
    module = block(64, 64)
    x = torch.randn(2, 64, 7, 9, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("block", [FocalModulationBlock, SelfAttentionBlock])
def test_fuse_folds_layer_scales_without_changing_outputs(block) -> None:
    torch.manual_seed(0)
    net = block(64, layerscale=0.3).eval()
    x = torch.randn(2, 64, 9, 11)
    fused = copy.deepcopy(net)
    fused.fuse()
    assert isinstance(fused.ls1, nn.Identity) and isinstance(fused.ls2, nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), net(x), rtol=1e-5, atol=1e-5)
    post = FocalModulationBlock(64, layerscale=0.3, post_norm=True).eval()
    post.fuse()  # a norm between the conv and the scale: nothing to fold
    assert not isinstance(post.ls1, nn.Identity)
