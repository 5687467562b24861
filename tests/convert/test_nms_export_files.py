"""``export --nms`` writes ``<model>-nms.onnx`` by default, so a plain export of the same model next to it does not
replace it, and the NMS export prints no deprecation warning about TorchScript scripting."""

from __future__ import annotations

import json
import shutil
import warnings

import onnx

from focalyolo import build_model
from focalyolo.cli import main
from focalyolo.deploy.export import export_model


def _nms_setting(path) -> dict | None:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["nms"]) if "nms" in props else None


def test_a_plain_export_after_an_nms_export_keeps_both_files(tiny_model_yaml, tmp_path):
    model = shutil.copy(tiny_model_yaml, tmp_path / "tiny.yaml")
    assert main(["export", "--model", str(model), "--imgsz", "64", "--nms", "--max-det", "9"]) == 0
    assert main(["export", "--model", str(model), "--imgsz", "64"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["tiny-nms.onnx", "tiny.onnx"]
    assert _nms_setting(tmp_path / "tiny-nms.onnx")["max_det"] == 9 and _nms_setting(tmp_path / "tiny.onnx") is None


def test_the_nms_export_warns_about_no_jit_scripting(tmp_path):
    model = build_model("gelan-t", nc=3).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_model(model, "onnx", tmp_path / "m", imgsz=64, nms=(0.25, 0.7, 10))
    about_jit = [str(w.message) for w in caught
                 if issubclass(w.category, (DeprecationWarning, FutureWarning)) and "jit" in str(w.message)]
    assert not about_jit
