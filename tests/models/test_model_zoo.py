"""The packaged configs reproduce the official architectures exactly (parameters, keys, strides, FLOPs)."""

from __future__ import annotations

import pytest
import torch

from focalyolo import build_model
from focalyolo.models import packaged_configs
from focalyolo.models.summary import count_gflops, count_parameters

OFFICIAL_PARAMS = {
    "yolov9-t": 3_717_680, "yolov9-s": 9_804_512, "yolov9-m": 32_878_432, "yolov9-c": 51_182_080,
    "yolov9-e": 69_529_664, "gelan-t": 2_442_640, "gelan-s": 7_226_208, "gelan-m": 20_124_000,
    "gelan-c": 25_498_752, "gelan-e": 58_114_432,
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_parameter_count_matches_official(name):
    assert count_parameters(build_model(name, nc=80)) == OFFICIAL_PARAMS[name]


@pytest.mark.parametrize("name, entries", [("gelan-c", 937), ("yolov9-c", 1460), ("yolov9-e", 2172)])
def test_state_dict_entry_counts_match_official(name, entries):
    assert len(build_model(name).state_dict()) == entries


def test_state_dict_keys_use_official_layout():
    gelan = build_model("gelan-c").state_dict()
    for key in ("model.22.cv2.0.0.conv.weight", "model.22.cv2.0.2.bias", "model.22.cv3.2.2.weight",
                "model.22.dfl.conv.weight", "model.2.cv2.0.m.0.cv1.conv1.conv.weight", "model.2.cv2.1.conv.weight",
                "model.9.cv5.bn.running_var", "model.0.bn.num_batches_tracked"):
        assert key in gelan, key
    dual = build_model("yolov9-c").state_dict()
    for key in ("model.38.cv4.0.0.conv.weight", "model.38.cv5.2.2.bias", "model.38.dfl2.conv.weight",
                "model.23.conv.weight", "model.23.conv.bias"):
        assert key in dual, key
    assert dual["model.38.cv5.0.2.weight"].shape == (80, 256, 1, 1)
    assert dual["model.38.cv3.0.2.weight"].shape == (80, 512, 1, 1)


def test_class_count_changes_only_the_logit_layers():
    per_class = count_parameters(build_model("yolov9-c", nc=3)) - count_parameters(build_model("yolov9-c", nc=1))
    assert per_class == 2 * 2310


@pytest.mark.parametrize("name, official, tolerance", [
    ("gelan-c", 103.5, 0.01), ("yolov9-c", 239.9, 0.01), ("gelan-t", 10.1, 0.025), ("yolov9-t", 16.5, 0.025),
])
def test_gflops_close_to_official(name, official, tolerance):
    gflops = count_gflops(build_model(name), 640)
    assert abs(gflops - official) / official < tolerance, gflops


def test_every_packaged_config_builds_with_strides():
    for name in packaged_configs():
        if name.split("-")[1] in ("t", "s"):
            model = build_model(name, nc=5)
            levels = [32.0] if "-cls" in name else [8.0, 16.0, 32.0]  # a classifier: its one input map's
            assert model.stride.tolist() == levels, name


@pytest.mark.parametrize("name", ["gelan-t", "yolov9-t", "gelan-t-focal", "yolov9-t-attn"])
def test_forward_shapes_train_and_eval(name):
    model = build_model(name, nc=7)
    x = torch.rand(2, 3, 96, 64)
    model.train()
    raw = model(x)
    groups = raw if model.is_dual else [raw]
    for group in groups:
        assert [tuple(t.shape) for t in group] == [(2, 71, 12, 8), (2, 71, 6, 4), (2, 71, 3, 2)]
    model.eval()
    with torch.no_grad():
        y = model(x)
        y2, raw_eval = model(x, return_raw=True)
    assert y.shape == (2, 4 + 7, 12 * 8 + 6 * 4 + 3 * 2)
    assert torch.equal(y, y2)
    boxes = y[:, :4]
    assert (boxes[:, 2:] > 0).all() and y[:, 4:].min() >= 0 and y[:, 4:].max() <= 1


def test_dual_head_eval_decodes_the_main_branch():
    model = build_model("yolov9-t", nc=3).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y, (aux, main) = model(x, return_raw=True)
        assert torch.allclose(y, model.head.decode(main))
        model.head.cv3[0][-1].bias += 3.0
        assert torch.equal(model(x), y)
        model.head.cv5[0][-1].bias += 3.0
        assert not torch.allclose(model(x), y)


def test_bias_init_priors():
    head = build_model("gelan-t", nc=80).head
    assert torch.allclose(head.cv2[0][-1].bias, torch.ones(64))
    assert head.cv3[0][-1].bias[0].item() == pytest.approx(-11.5366, abs=1e-3)
    assert head.cv3[2][-1].bias[0].item() == pytest.approx(-8.7641, abs=1e-3)
