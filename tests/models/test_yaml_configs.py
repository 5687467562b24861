"""YAML parsing: the seed config, user-registered blocks, clear one-line errors, and the variant generator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import yaml

from focalyolo import ConfigError, build_model, register_module
from focalyolo.cli import main
from focalyolo.models import load_model_config, packaged_configs
from focalyolo.models.edit import insert_after
from focalyolo.nn import FocalModulationBlock
from focalyolo.nn.registry import LayerPlan
from repo_scripts import load_script

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "src" / "focalyolo" / "models" / "configs"

TINY = {
    "nc": 2, "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "Conv", [32, 3, 2]], [-1, 1, "Conv", [32, 3, 2]],
                 [-1, 1, "ADown", [64]], [-1, 1, "ADown", [64]]],
    "head": [[[2, 3, 4], 1, "DDetect", ["nc"]]],
}


def test_seed_yaml_is_shipped_unchanged(shared_dir):
    seed = (shared_dir / "seed" / "yolov9-c-FocalModulationBlock.yaml").read_bytes()
    assert (CONFIG_DIR / "yolov9-c-focal.yaml").read_bytes() == seed


def test_seed_model_has_the_block_at_layer_10_and_runs_non_square():
    model = build_model("yolov9-c-focal").eval()
    assert isinstance(model.model[10], FocalModulationBlock)
    assert model.model[11].type == "SPPELAN" and model.model[39].f == [32, 35, -1, 17, 20, 23]
    with torch.no_grad():
        for h, w in [(64, 96), (128, 64)]:
            assert model(torch.rand(1, 3, h, w)).shape == (1, 84, (h * w // 64) * 21 // 16)


def test_variant_configs_are_in_sync_with_the_generator():
    generator = load_script("tools/make_variant_configs.py")
    for name in ("gelan-t-focal", "yolov9-s-attn", "yolov9-e-focal", "yolov9-c-dseg-focal"):
        base, suffix = name.rsplit("-", 1)
        cfg, position = generator.variant(base, generator.BLOCKS[suffix])
        packaged, _ = load_model_config(name)
        assert packaged["backbone"] + packaged["head"] == cfg["backbone"] + cfg["head"], name
    for name in ("gelan-t-focal-p4", "gelan-e-attn-p4"):
        base, suffix, _ = name.rsplit("-", 2)
        cfg, position = generator.p4_variant(base, suffix)
        packaged, _ = load_model_config(name)
        assert packaged["backbone"] + packaged["head"] == cfg["backbone"] + cfg["head"], name
    bases = set(generator.base_configs())
    assert {"gelan-c-seg", "gelan-t-dseg", "yolov9-e-dseg", "yolov9-s"} <= bases
    assert {f"{base}-{v}" for base in bases for v in ("focal", "attn")} | bases <= set(packaged_configs())


def test_insert_after_lets_the_new_layer_stand_in_for_its_source():
    cfg = insert_after(TINY, 2, "FocalModulationBlock", [32, 3])
    rows = cfg["backbone"] + cfg["head"]
    assert rows[3] == [-1, 1, "FocalModulationBlock", [32, 3]] and len(cfg["backbone"]) == 6
    assert rows[4][0] == -1 and rows[-1][0] == [3, 4, 5]  # the next stage and the head both read the block
    assert TINY["head"][0][0] == [2, 3, 4]  # the input config is left as it was
    with pytest.raises(ValueError, match="outside"):
        insert_after(TINY, 5, "FocalModulationBlock", [])


@pytest.mark.parametrize("name", ["gelan-t-focal-p4", "gelan-t-attn-p4"])
def test_p4_variant_puts_the_block_on_the_stride_16_level_everywhere(name):
    from focalyolo.models.parser import read_rows

    rows = read_rows(*load_model_config(name))
    assert [r.index for r in rows if r.module in ("FocalModulationBlock", "SelfAttentionBlock")] == [7]
    assert [r.index for r in rows if 6 in r.sources] == [7]  # the P4 stage feeds only the block ...
    assert [r.index for r in rows if 7 in r.sources] == [8, 12]  # ... which feeds the next stage and the neck
    model = build_model(name).eval()
    shapes = []
    model.model[7].register_forward_hook(lambda module, inputs, output: shapes.append(output.shape))
    with torch.no_grad():
        model(torch.zeros(1, 3, 160, 160))
    assert shapes == [(1, 96, 10, 10)]  # stride 16
    if "focal" in name:
        assert model.model[7].modulation.focal_level == 3


def test_user_block_registered_outside_the_package(tmp_path):
    @register_module(channels="preserved", overwrite=True)
    class GatedIdentity(nn.Module):
        def __init__(self, c1: int, c2: int, init: float = 0.0):
            super().__init__()
            self.gate = nn.Parameter(torch.full((c1, 1, 1), init))

        def forward(self, x):
            return x * (1 + self.gate)

    def widen(ctx):
        c1 = ctx.single_input()
        return LayerPlan([c1, 2 * c1], 2 * c1)

    @register_module(channels=widen, overwrite=True)
    class Doubler(nn.Module):
        def __init__(self, c1: int, c2: int):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, 1)

        def forward(self, x):
            return self.conv(x)

    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    cfg["backbone"] += [[-1, 1, "GatedIdentity", [0.5]], [-1, 1, "Doubler", []]]
    cfg["head"] = [[[2, 3, 6], 1, "DDetect", ["nc"]]]
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(cfg))
    model = build_model(path).eval()
    assert model.model[5].gate.mean().item() == 0.5
    assert model.model[6].conv.out_channels == 128
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 6, 64 + 16 + 4)


def _error_for(tmp_path, mutate) -> str:
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    mutate(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg, default_flow_style=None))
    with pytest.raises(ConfigError) as info:
        build_model(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_errors_name_file_line_layer_and_fault(tmp_path):
    msg = _error_for(tmp_path, lambda c: c["backbone"].__setitem__(1, [-1, 1, "Conv2", [32, 3, 2]]))
    assert re.search(r"bad\.yaml:\d+: layer 1 \(Conv2\): unknown module 'Conv2'", msg)
    msg = _error_for(tmp_path, lambda c: c["head"][0].__setitem__(0, [2, 3, 9]))
    assert "layer 5" in msg and "bad 'from' index 9" in msg
    msg = _error_for(tmp_path, lambda c: c["backbone"].__setitem__(3, [-1, 1, "ADown", [64, 3, 2, 1]]))
    assert "layer 3 (ADown)" in msg and "argument" in msg
    msg = _error_for(tmp_path, lambda c: c["backbone"].append([-1, 1, "FocalModulationBlock", [128]]))
    assert "layer 5 (FocalModulationBlock)" in msg and "must equal c1" in msg
    msg = _error_for(tmp_path, lambda c: c["backbone"].__setitem__(0, [-1, 1, "Conv"]))
    assert "layer 0" in msg and "[from, repeats, module, args]" in msg


def test_unknown_packaged_name_lists_choices():
    with pytest.raises(ConfigError, match="unknown model 'gelan-x'.*gelan-c"):
        build_model("gelan-x")


def test_activation_key_is_scoped_to_one_model():
    relu = build_model({**TINY, "activation": "nn.ReLU()"})
    silu = build_model(TINY)
    assert isinstance(relu.model[0].act, nn.ReLU) and isinstance(silu.model[0].act, nn.SiLU)


def test_depth_multiple_scales_repeats():
    cfg = {**TINY, "depth_multiple": 0.5}
    cfg["backbone"] = [*TINY["backbone"][:2], [-1, 4, "RepNCSP", [32]], *TINY["backbone"][2:]]
    cfg["head"] = [[[3, 4, 5], 1, "DDetect", ["nc"]]]
    assert len(build_model(cfg).model[2].m) == 2


def test_info_cli_prints_table_and_totals(capsys):
    assert main(["info", "--model", "yolov9-c-focal", "--imgsz", "64"]) == 0
    out = capsys.readouterr().out
    assert "FocalModulationBlock" in out and "54,354,435 parameters" in out and "GFLOPs at 64" in out


def test_cli_reports_bad_config_in_one_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("nc: 2\nbackbone:\n  - [-1, 1, Nope, []]\nhead: []\n")
    assert main(["info", "--model", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.yaml:3: layer 0" in err and "Nope" in err


@pytest.mark.parametrize("name", [f"{f}-{s}-{v}" for f in ("gelan", "yolov9") for s in "tsmce"
                                  for v in ("focal", "attn")])
def test_context_block_sits_on_the_inference_path(name):
    from focalyolo.models.parser import layer_dependencies, main_head_inputs, read_rows

    cfg, source = load_model_config(name)
    rows = read_rows(cfg, source)
    main_path = layer_dependencies(rows, main_head_inputs(rows))
    blocks = [r.index for r in rows if r.module in ("FocalModulationBlock", "SelfAttentionBlock")]
    assert len(blocks) == 1 and blocks[0] in main_path
