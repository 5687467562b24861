"""YOLOv9 -> GELAN conversion and fusion: exact structures, identical predictions, official parameter counts."""

from __future__ import annotations

import pytest
import torch

from focalyolo import build_model, load_model
from focalyolo.cli import main
from focalyolo.models import load_model_config
from focalyolo.models.edit import insert_layer
from focalyolo.models.parser import read_rows
from focalyolo.models.summary import count_parameters
from focalyolo.nn import DDetect, DualDDetect, FocalModulationBlock, Silence
from focalyolo.weights.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from focalyolo.weights.convert import convert_to_gelan, fuse_model, gelan_config


def structure(cfg: dict) -> list[tuple]:
    """Rows as (absolute sources, repeats, module, args): what decides the built network."""
    return [(r.sources, r.repeats, r.module, r.args) for r in read_rows(cfg, "test")]


@pytest.mark.parametrize("dual, single", [
    ("yolov9-t", "gelan-t"), ("yolov9-s", "gelan-s"), ("yolov9-m", "gelan-m"), ("yolov9-c", "gelan-c"),
    ("yolov9-e", "gelan-e"), ("yolov9-c-focal", "gelan-c-focal"), ("yolov9-e-attn", "gelan-e-attn"),
])
def test_config_conversion_reproduces_the_gelan_config(dual, single):
    converted, _ = gelan_config(load_model_config(dual)[0])
    reference = load_model_config(single)[0]
    assert structure(converted) == structure(reference)  # the backbone/head split is cosmetic


def test_index_maps_follow_the_official_reparameterization():
    _, c = gelan_config(load_model_config("yolov9-c")[0])
    assert c == {**{i: i - 1 for i in range(1, 23)}, 38: 22}  # Silence and the aux branch 23-37 dropped
    _, e = gelan_config(load_model_config("yolov9-e")[0])
    assert e == {**{i: i for i in range(29)}, **{i: i - 7 for i in range(36, 49)}, 49: 42}  # Silence kept
    cfg, t = gelan_config(load_model_config("gelan-t")[0])
    assert t == {i: i for i in range(23)} and structure(cfg) == structure(load_model_config("gelan-t")[0])


def _inserted_config() -> dict:
    """yolov9-t with a focal block inserted in the backbone at layer 4 (every later index shifts)."""
    return insert_layer(load_model_config("yolov9-t")[0], 4, "FocalModulationBlock", [])


@pytest.mark.parametrize("cfg", ["yolov9-t-focal", "inserted"])
def test_converted_model_predicts_like_the_main_branch(cfg, images, perturb):
    dual = perturb(build_model(_inserted_config() if cfg == "inserted" else cfg, nc=3)).eval()
    gelan = convert_to_gelan(dual)
    assert isinstance(gelan.head, DDetect) and not isinstance(gelan.head, DualDDetect)
    with torch.no_grad():
        torch.testing.assert_close(gelan(images), dual(images), rtol=0, atol=1e-5)
    if cfg == "inserted":
        assert isinstance(gelan.model[4], FocalModulationBlock) and len(gelan.model) == 24


def test_tiny_conversion_fusion_and_copy_semantics(tiny_dual, images):
    gelan = convert_to_gelan(tiny_dual)
    assert structure(gelan.yaml) == structure(load_model_config("gelan-t")[0])
    assert not gelan.training and gelan.names == tiny_dual.names
    fused_dual, fused_gelan = fuse_model(tiny_dual), fuse_model(gelan)
    assert count_parameters(fused_gelan) < count_parameters(gelan)
    with torch.no_grad():
        want = tiny_dual(images)
        torch.testing.assert_close(gelan(images), want, rtol=0, atol=1e-5)
        torch.testing.assert_close(fused_dual(images), want, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(fused_gelan(images), want, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(convert_to_gelan(fused_dual)(images), fused_dual(images), rtol=0, atol=1e-5)
    again = convert_to_gelan(gelan)  # single head: an independent copy
    assert again is not gelan and again.model[0].conv.weight is not gelan.model[0].conv.weight
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), gelan.state_dict().values()))


def test_yolov9_c_converts_to_gelan_c_with_the_official_fused_parameter_count(perturb):
    torch.manual_seed(0)
    dual = perturb(build_model("yolov9-c")).eval()
    gelan = convert_to_gelan(dual)
    converted = gelan.state_dict()
    reference = build_model("gelan-c").state_dict()
    assert list(converted) == list(reference)
    assert all(converted[k].shape == reference[k].shape for k in reference)
    assert isinstance(dual.model[0], Silence) and not isinstance(gelan.model[0], Silence)
    fused = fuse_model(gelan)
    assert abs(count_parameters(fused) - 25_288_768) / 25_288_768 < 0.01  # official gelan-c fused: 25,288,768
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want = dual(x)
        torch.testing.assert_close(gelan(x), want, rtol=0, atol=1e-5)
        torch.testing.assert_close(fused(x), want, rtol=1e-4, atol=1e-4)


def test_convert_command_writes_loadable_gelan_checkpoints(tiny_dual, images, tmp_path, capsys):
    source = save_checkpoint({"model_yaml": tiny_dual.copy_config(), "names": ["a", "b", "c"],
                              "model": tiny_dual.state_dict(), "ema": None}, tmp_path / "yolov9-t.pt")
    assert main(["convert", "--model", str(source)]) == 0
    assert "dual head -> GELAN" in capsys.readouterr().out
    plain = load_model(tmp_path / "yolov9-t-converted.pt")
    assert plain.names == ["a", "b", "c"] and not plain.is_dual
    assert main(["convert", "--model", str(source), "--fuse", "--output", str(tmp_path / "fused.pt")]) == 0
    data = read_checkpoint(tmp_path / "fused.pt")
    assert data["fused"] is True and not any(".bn." in k for k in data["model"])
    fused = model_from_checkpoint(data).eval()
    with torch.no_grad():
        want = tiny_dual(images)
        torch.testing.assert_close(plain(images), want, rtol=0, atol=1e-5)
        torch.testing.assert_close(fused(images), want, rtol=1e-4, atol=1e-4)


def test_convert_command_rejects_mixed_options(tmp_path, capsys):
    assert main(["convert", "--model", str(tmp_path / "x.pt"), "--model-cfg", "gelan-t"]) == 2
    assert capsys.readouterr().err.strip() == "focalyolo convert: error: --model-cfg goes with --from-official"
