"""INT8 export (onnxruntime static quantization) and running exported ONNX files behind the model interface."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from focalyolo import YOLO
from focalyolo.cli import main
from focalyolo.deploy.export import export_onnx
from focalyolo.deploy.onnx_model import LETTERBOX_GREY, OnnxModel
from focalyolo.deploy.quantize import calibration_batches, calibration_dataset
from focalyolo.weights.convert import convert_to_gelan, fuse_model


def _ops(path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def test_int8_export_quantizes_convs_but_not_box_decoding(gelan_t5, tiny_data_yaml, tmp_path, capsys):
    fp32 = tmp_path / "gelan-t.onnx"
    code = main(["export", "--model", str(_checkpoint(gelan_t5, tmp_path)), "--imgsz", "64", "--int8",
                 "--data", str(tiny_data_yaml), "--calib-images", "8", "--output", str(fp32)])
    assert code == 0
    int8 = tmp_path / "gelan-t-int8.onnx"
    assert f"wrote {int8}" in capsys.readouterr().out
    ops = _ops(int8)
    graph = onnx.load(str(int8)).graph
    n_conv = _ops(fp32)["Conv"]
    assert ops["Conv"] == n_conv and ops["DequantizeLinear"] >= n_conv  # every conv has dequantized inputs
    quantized = {n.input[1] for n in graph.node if n.op_type == "Conv"} & {n.output[0] for n in graph.node
                                                                         if n.op_type == "DequantizeLinear"}
    dfl = [n for n in graph.node if n.op_type == "Conv" and "/dfl/" in n.name]
    assert len(quantized) == n_conv - 1 and len(dfl) == 1 and dfl[0].input[1] not in quantized
    meta = {p.key: p.value for p in onnx.load(str(int8)).metadata_props}
    assert meta["stride"] == "8,16,32" and len(json.loads(meta["names"])) == 5
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size  # int8 weights

    x = torch.rand(2, 3, 64, 64)
    want = OnnxModel(fp32)(x)
    got = OnnxModel(int8)(x)
    boxes, scores = (got - want)[:, :4].abs(), (got - want)[:, 4:].abs()
    assert boxes.median() < 1.0 and scores.median() < 0.02  # pixels; probabilities


def _checkpoint(model, tmp_path):
    from focalyolo.weights.checkpoint import save_checkpoint

    names = ["circle", "triangle", "square", "star", "cross"]
    return save_checkpoint({"model_yaml": model.copy_config(), "names": names, "model": model.state_dict(),
                            "ema": None}, tmp_path / "w.pt")


def test_int8_needs_calibration_data(tmp_path, capsys):
    assert main(["export", "--model", "gelan-t", "--imgsz", "64", "--int8", "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--data" in err


def test_calibration_images_are_letterboxed_like_validation(tiny_data_yaml):
    batches = list(calibration_batches(calibration_dataset("detect", tiny_data_yaml, 96), count=5, batch=2))
    assert [b.shape for b in batches] == [(2, 3, 96, 96)] * 2  # the odd image out is left over
    assert all(b.dtype == np.float32 and 0.0 <= b.min() and b.max() <= 1.0 for b in batches)


def test_static_onnx_takes_smaller_images_and_any_batch(gelan_t5, tmp_path):
    """A (2, 3, 96, 96) export run on 3 images of 64x64: padded with grey at the bottom/right, cut into batches
    of 2 (the last one filled); each output equals PyTorch on the same padded image."""
    path = export_onnx(gelan_t5, tmp_path / "static.onnx", imgsz=96, batch=2)
    detector = OnnxModel(path)
    assert detector.input_shape == (2, 3, 96, 96) and detector.nc == 5 and detector.stride.tolist() == [8, 16, 32]
    x = torch.rand(3, 3, 64, 64)
    padded = torch.full((3, 3, 96, 96), LETTERBOX_GREY)
    padded[:, :, :64, :64] = x
    with torch.no_grad():
        want = fuse_model(convert_to_gelan(gelan_t5))(padded)
    torch.testing.assert_close(detector(x), want, rtol=1e-4, atol=2e-3)
    with pytest.raises(Exception, match="exported for 96x96"):
        detector(torch.rand(1, 3, 128, 96))


def test_val_and_api_run_an_onnx_file(gelan_t5, tiny_data_yaml, tmp_path, capsys):
    ckpt = _checkpoint(gelan_t5, tmp_path)
    paths = YOLO(str(ckpt)).export(output=tmp_path / "api", imgsz=64)
    assert paths == [tmp_path / "api.onnx"]
    code = main(["val", "--model", str(paths[0]), "--data", str(tiny_data_yaml), "--imgsz", "96", "--batch", "2",
                 "--workers", "0", "--no-plots", "--project", str(tmp_path / "runs")])
    assert code == 0
    out = capsys.readouterr().out
    assert "takes 64x64 inputs: evaluating at imgsz 64" in out and "mAP50-95" in out
    metrics = json.loads((tmp_path / "runs" / "exp" / "metrics.json").read_text())
    assert "coco/AP50-95" in metrics
    images = tiny_data_yaml.parent / "images" / "val"
    code = main(["predict", "--model", str(paths[0]), "--source", str(images), "--imgsz", "64", "--save-txt",
                 "--project", str(tmp_path / "pred")])
    assert code == 0 and len(list((tmp_path / "pred" / "exp").glob("*.jpg"))) == 4
