"""timm backbones in model YAMLs: TimmBackbone + Index rows, the packaged gelan-c-focalnet-t, local pretrained
weights, one-line config errors, and a tiny timm-backbone detector that trains, converts and exports."""

from __future__ import annotations

import copy
import csv
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from focalyolo import ConfigError, build_model
from focalyolo.cfg import default_hyperparameters
from focalyolo.cli import main
from focalyolo.deploy.export import export_onnx
from focalyolo.loss.detection import DetectionLoss
from focalyolo.nn import Index, TimmBackbone
from focalyolo.weights.checkpoint import load_model
from focalyolo.weights.convert import convert_to_gelan, fuse_model, is_fused

HYP = default_hyperparameters()

TINY_YAML = Path(__file__).with_name("tiny-timm-gelan.yaml")
TINY_KWARGS = {"dims": [16, 24, 32, 48]}  # the kwargs of the tiny YAML's TimmBackbone row
FOCALNET_T_PARAMS = 44_745_028  # `focalyolo info --model gelan-c-focalnet-t` (nc 80), as docs/models.md says
FOCALNET_T_BACKBONE_PARAMS = 27_656_580  # timm's focalnet_tiny_srf, features_only, out_indices (1, 2, 3)
# Tolerances, with a margin over measured values: ONNX vs PyTorch boxes differ by ~2.5e-7 of the box scale
# (float32 rounding of pixel coordinates up to ~480), class probabilities by ~1e-7; BatchNorm folding by ~3e-8.
BOX_REL_TOL, CLS_ABS_TOL = 1e-5, 1e-5


def _assert_outputs_match(got: np.ndarray, want: np.ndarray) -> None:
    """(B, 4 + nc, A) predictions: boxes within BOX_REL_TOL of their scale, class scores within CLS_ABS_TOL."""
    assert got.shape == want.shape
    box_scale = float(np.abs(want[:, :4]).max())
    assert box_scale > 1.0  # pixel coordinates: a zero output would pass any tolerance
    assert float(np.abs(got[:, :4] - want[:, :4]).max()) <= BOX_REL_TOL * box_scale
    assert float(np.abs(got[:, 4:] - want[:, 4:]).max()) <= CLS_ABS_TOL


def _run_onnx(path: Path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output0"], {"images": x.numpy()})[0]


@pytest.fixture(scope="module")
def timm():
    """The timm package; tests that build a timm backbone skip without it (the missing-timm test does not)."""
    return pytest.importorskip("timm")


@pytest.fixture(scope="module")
def focalnet_t(timm):
    """The packaged gelan-c-focalnet-t (random weights, nc 80) in eval mode; tests must deepcopy to modify it."""
    torch.manual_seed(0)
    return build_model("gelan-c-focalnet-t").eval()


def _tiny_cfg_file(tmp_path: Path, mutate=None) -> Path:
    """The tiny YAML, optionally changed by ``mutate(cfg)``, written to ``tmp_path``."""
    cfg = yaml.safe_load(TINY_YAML.read_text())
    if mutate:
        mutate(cfg)
    path = tmp_path / "tiny-timm.yaml"
    path.write_text(yaml.safe_dump(cfg, default_flow_style=None))
    return path


def _config_error(path: Path, layer: int, module: str) -> str:
    """The one-line ConfigError building ``path`` raises; checks it names the file, line, layer and module."""
    with pytest.raises(ConfigError) as info:
        build_model(path)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(rf"{re.escape(str(path))}:\d+: layer {layer} \({module}\)", message), message
    return message


# --- the packaged gelan-c-focalnet-t -------------------------------------------------------------------------------


def test_packaged_model_wires_timm_widths_into_the_gelan_neck(focalnet_t):
    backbone = focalnet_t.model[0]
    assert isinstance(backbone, TimmBackbone) and type(backbone.body).__module__.startswith("timm.")
    assert backbone.body.feature_info.channels() == [192, 384, 768]
    assert backbone.body.feature_info.reduction() == [8, 16, 32]
    assert focalnet_t.stride.tolist() == [8.0, 16.0, 32.0]
    picks = focalnet_t.model[1:4]
    assert all(isinstance(m, Index) and m.np == 0 for m in picks) and [m.index for m in picks] == [0, 1, 2]
    assert focalnet_t.model[4].cv1.conv.in_channels == 768  # SPPELAN on P5
    assert focalnet_t.model[7].cv1.conv.in_channels == 512 + 384  # upsampled P5 ++ P4
    assert focalnet_t.model[10].cv1.conv.in_channels == 512 + 192  # upsampled P4 ++ P3
    assert backbone.np == FOCALNET_T_BACKBONE_PARAMS
    assert sum(p.numel() for p in focalnet_t.parameters()) == FOCALNET_T_PARAMS
    with torch.no_grad():
        maps = backbone(torch.rand(1, 3, 64, 96))
    assert [tuple(m.shape) for m in maps] == [(1, 192, 8, 12), (1, 384, 4, 6), (1, 768, 2, 3)]


def test_info_prints_the_timm_backbone_row_and_totals(timm, capsys):
    assert main(["info", "--model", "gelan-c-focalnet-t", "--imgsz", "64"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "TimmBackbone" in line)
    assert row.split()[:4] == ["0", "-1", "1", f"{FOCALNET_T_BACKBONE_PARAMS:,}"] and "focalnet_tiny_srf" in row
    assert sum(" Index " in line for line in out.splitlines()) == 3
    assert re.search(rf"gelan-c-focalnet-t summary: \d+ layers, {FOCALNET_T_PARAMS:,} parameters, .* GFLOPs at 64",
                     out)


def test_train_step_reaches_the_timm_backbone(focalnet_t):
    model = copy.deepcopy(focalnet_t).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.4, 0.3], [1, 7, 0.3, 0.6, 0.2, 0.5]])
    loss, items = DetectionLoss(model.head, HYP)(model(torch.rand(2, 3, 64, 64)), targets)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0 and items.shape == (3,)
    stem = model.model[0].body.stem.proj.weight  # the first layer: gradients reach through the whole backbone
    before = stem.detach().clone()
    assert stem.grad is not None and stem.grad.abs().sum() > 0
    optimizer.step()
    assert not torch.equal(stem.detach(), before)


def test_conversion_and_onnx_export_match_pytorch(focalnet_t, tmp_path):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = focalnet_t(x).numpy()
        fused = fuse_model(convert_to_gelan(focalnet_t))
        assert is_fused(fused) and sum(p.numel() for p in fused.parameters()) < FOCALNET_T_PARAMS
        _assert_outputs_match(fused(x).numpy(), want)
    path = export_onnx(focalnet_t, tmp_path / "gelan-c-focalnet-t.onnx", imgsz=64)
    _assert_outputs_match(_run_onnx(path, x), want)


def test_channels_last_timm_features_reach_the_neck_as_nchw(timm, tmp_path):
    path = _tiny_cfg_file(tmp_path, lambda c: c["backbone"][0].__setitem__(3, ["test_mambaout", [1, 2, 3]]))
    model = build_model(path).eval()  # timm's MambaOut returns (B, H, W, C) features
    assert model.model[0].nhwc and model.model[4].cv1.conv.in_channels == 64  # P5 width of test_mambaout
    with torch.no_grad():
        assert [tuple(m.shape) for m in model.model[0](torch.rand(1, 3, 64, 96))] == [
            (1, 32, 8, 12), (1, 48, 4, 6), (1, 64, 2, 3)]
        assert model(torch.rand(1, 3, 64, 96)).shape == (1, 4 + 5, 8 * 12 + 4 * 6 + 2 * 3)


def test_a_timm_backbone_under_a_classify_head(timm):
    cfg = yaml.safe_load(TINY_YAML.read_text())
    cfg["head"] = [[3, 1, "Classify", ["nc", 64]]]  # the stride-32 level of the timm model
    model = build_model(cfg).eval()
    assert model.stride.tolist() == [32.0] and model.nc == 5
    with torch.no_grad():
        probs = model(torch.rand(2, 3, 64, 96))
    assert probs.shape == (2, 5) and torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5)


# --- pretrained_file -----------------------------------------------------------------------------------------------


def _full_model_key(backbone_key: str) -> str:
    """A key of timm's feature wrapper -> the classifier model's: ``stages_1.x`` -> ``stages.1.x`` (the
    wrapper flattens the top-level Sequential modules into ``name_index``)."""
    return re.sub(r"^([A-Za-z]+)_(\d+)\.", r"\1.\2.", backbone_key)


def test_pretrained_file_loads_a_downloaded_classifier_state_dict(timm, tmp_path):
    classifier = timm.create_model("test_convnext", **TINY_KWARGS)  # what a user downloads: head included
    with torch.no_grad():
        for p in classifier.parameters():
            p.add_(torch.randn_like(p))  # no random initialisation can reproduce these
    weights = classifier.state_dict()
    file = tmp_path / "test_convnext_in1k.pth"
    torch.save(weights, file)
    path = _tiny_cfg_file(tmp_path, lambda c: c["backbone"][0][3].__setitem__(2, str(file)))
    loaded = build_model(path).model[0].body.state_dict()
    head_keys = [k for k in weights if k.startswith("head.")]
    assert head_keys and len(loaded) == len(weights) - len(head_keys)  # everything but the classifier
    for key, tensor in loaded.items():
        torch.testing.assert_close(tensor, weights[_full_model_key(key)], rtol=0, atol=0, msg=key)


def test_checkpoint_keeps_the_weights_not_the_pretrained_file(timm, tmp_path):
    from focalyolo.weights.checkpoint import save_checkpoint

    file = tmp_path / "test_convnext_in1k.pth"
    torch.save(timm.create_model("test_convnext", **TINY_KWARGS).state_dict(), file)
    path = _tiny_cfg_file(tmp_path, lambda c: c["backbone"][0][3].__setitem__(2, str(file)))
    model = build_model(path)
    stored = model.copy_config()
    assert stored["backbone"][0][3][2] is None and model.yaml["backbone"][0][3][2] == str(file)
    save_checkpoint({"model_yaml": stored, "names": model.names, "model": model.state_dict()}, tmp_path / "m.pt")
    file.unlink()  # the checkpoint loads without it, with the weights it holds
    loaded = load_model(tmp_path / "m.pt")
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key


def test_timm_layers_keep_their_own_normalisation_settings(timm, tmp_path):
    path = _tiny_cfg_file(tmp_path, lambda c: c["backbone"][0].__setitem__(3, ["resnet10t", [2, 3, 4], None, {}]))
    model = build_model(path)  # a BatchNorm CNN: strides 8/16/32 are its feature levels 2-4
    timm_bn = [m for m in model.model[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    ours = [m for m in model.model[4:].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert timm_bn and all((m.eps, m.momentum) == (1e-5, 0.1) for m in timm_bn)
    assert ours and all((m.eps, m.momentum) == (1e-3, 0.03) for m in ours)


def test_missing_pretrained_file_is_one_line_naming_it(timm, tmp_path):
    missing = tmp_path / "weights" / "focalnet_tiny_srf.pth"
    path = _tiny_cfg_file(tmp_path, lambda c: c["backbone"][0][3].__setitem__(2, str(missing)))
    assert f"pretrained_file not found: {missing}" in _config_error(path, 0, "TimmBackbone")


# --- config errors -------------------------------------------------------------------------------------------------


def test_unknown_timm_model_is_named(timm, tmp_path):
    path = _tiny_cfg_file(tmp_path, lambda c: c["backbone"][0][3].__setitem__(0, "focalnet_teeny"))
    assert "unknown timm model 'focalnet_teeny'" in _config_error(path, 0, "TimmBackbone")


def test_index_out_of_range_names_the_widths(timm, tmp_path):
    path = _tiny_cfg_file(tmp_path, lambda c: c["backbone"][3].__setitem__(3, [3]))
    message = _config_error(path, 3, "Index")
    assert "index 3 is out of range" in message and "[24, 32, 48]" in message


def test_index_needs_a_list_producing_input(timm, tmp_path):
    path = _tiny_cfg_file(tmp_path, lambda c: c["head"].insert(0, [-1, 1, "Index", [0]]))
    assert "outputs a list of maps" in _config_error(path, 4, "Index")


def test_missing_timm_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now raises ImportError
    message = _config_error(_tiny_cfg_file(tmp_path), 0, "TimmBackbone")
    assert 'pip install "focalyolo[timm]"' in message


# --- acceptance: train an epoch, convert, export, compare on an image -----------------------------------------------


def test_tiny_timm_detector_trains_converts_and_exports(timm, tmp_path, tiny_data_yaml, one_thread, capsys):
    from focalyolo.cfg import TrainConfig
    from focalyolo.data.image_io import read_image
    from focalyolo.deploy.inference import load_inference_model
    from focalyolo.engine.trainer import Trainer

    cfg = TrainConfig(model=str(TINY_YAML), data=str(tiny_data_yaml), epochs=1, imgsz=64, batch=8, workers=0,
                      device="cpu", project=str(tmp_path / "runs"), name="timm", plots=False, verbose=False,
                      close_mosaic=0, nbs=16, warmup_epochs=0)
    trainer = Trainer(cfg)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items() if k.startswith("model.0.body.")}
    save_dir = trainer.train()

    rows = list(csv.DictReader((save_dir / "results.csv").open()))
    assert [r["epoch"] for r in rows] == ["1"] and all(np.isfinite(float(rows[0][f"train/{k}_loss"]))
                                                      for k in ("box", "cls", "dfl"))
    trained = torch.load(save_dir / "weights" / "last.pt", map_location="cpu", weights_only=True)["model"]
    changed = [k for k, v in initial.items() if v.is_floating_point() and not torch.equal(v, trained[k])]
    assert len(changed) > len(initial) // 2  # the timm backbone was trained, not frozen

    best = save_dir / "weights" / "best.pt"
    converted, onnx_path = tmp_path / "best-fused.pt", tmp_path / "best.onnx"
    assert main(["convert", "--model", str(best), "--fuse", "--output", str(converted)]) == 0
    assert "already single-head, fused" in capsys.readouterr().out
    assert main(["export", "--model", str(best), "--imgsz", "64", "--output", str(onnx_path)]) == 0

    image = read_image(next((tiny_data_yaml.parent / "images" / "val").glob("*.jpg")))  # (64, 64, 3) BGR
    x = torch.from_numpy(np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1)))[None].float() / 255
    reference = load_model(best)
    with torch.no_grad():
        want = reference(x).numpy()
        _assert_outputs_match(load_model(converted)(x).numpy(), want)
        _assert_outputs_match(load_inference_model(onnx_path)(x).numpy(), want)
