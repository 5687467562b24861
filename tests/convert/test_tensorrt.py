"""TensorRT export (``--format engine``) and running an engine behind the model interface.

Building and running engines needs an NVIDIA GPU with CUDA and the ``tensorrt`` package: those tests skip without
them. What runs anywhere: the one-line error saying so, the engine file's metadata header, and the INT8 Q/DQ graph
TensorRT is built from (calibrated by onnxruntime, checked here in onnxruntime).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from focalyolo.cli import main
from focalyolo.deploy.export import export_model, export_onnx
from focalyolo.deploy.onnx_model import OnnxModel
from focalyolo.deploy.quantize import calibration_dataset, quantize_int8
from focalyolo.deploy.tensorrt import TensorRTModel, import_tensorrt, read_engine, write_engine
from focalyolo.errors import FocalYoloError
from focalyolo.weights.convert import deployment_form
from focalyolo.weights.sources import load_source, source_kind

HAVE_TENSORRT = import_tensorrt() is not None
needs_tensorrt = pytest.mark.skipif(not HAVE_TENSORRT, reason="needs CUDA and the tensorrt package")


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is usable here")
def test_without_cuda_or_tensorrt_export_and_run_fail_in_one_line(tmp_path, capsys):
    args = ["export", "--model", "gelan-t", "--format", "engine", "--imgsz", "64", "--output", str(tmp_path / "m")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()  # the last line; before it: "gelan-t ... random weights"
    assert "TensorRT export needs an NVIDIA GPU with CUDA and the tensorrt package" in err[-1]
    assert not any("TensorRT" in line for line in err[:-1]) and not list(tmp_path.iterdir())
    write_engine(tmp_path / "m.engine", b"plan", {"task": "detect"})
    with pytest.raises(FocalYoloError, match="running a TensorRT engine needs an NVIDIA GPU"):
        TensorRTModel(tmp_path / "m.engine")


def test_engine_file_carries_the_metadata_and_is_a_model_source(tmp_path):
    meta = {"task": "pose", "names": ["a"], "stride": [8, 16, 32], "kpt_shape": [5, 3], "skeleton": [[0, 1]]}
    path = write_engine(tmp_path / "m.engine", b"\x00plan bytes", meta)
    assert read_engine(path) == (meta, b"\x00plan bytes")
    (tmp_path / "plain.engine").write_bytes(b"built by trtexec")
    assert read_engine(tmp_path / "plain.engine") == ({}, b"built by trtexec")
    assert source_kind(path) == source_kind("missing.ENGINE") == "engine"
    with pytest.raises(FocalYoloError, match="TensorRT engine runs in val and predict only"):
        load_source(path)


def test_int8_graph_for_tensorrt_is_symmetric_qdq_with_float_decoding(gelan_t5, tiny_data_yaml, tmp_path):
    """TensorRT's explicit quantization: int8 Q/DQ with zero point 0 for activations and weights, biases and the
    DFL left in float; the graph still predicts what the fp32 one does (checked in onnxruntime)."""
    fp32 = export_onnx(gelan_t5, tmp_path / "m.onnx", imgsz=64)
    int8 = quantize_int8(fp32, tmp_path / "m-int8.onnx", calibration_dataset("detect", tiny_data_yaml, 64), 8,
                         symmetric=True)
    graph = onnx.load(str(int8)).graph
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    dequantize = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    zero_points = [constants[n.input[2]] for n in dequantize if len(n.input) > 2]
    assert dequantize and all(z.dtype == np.int8 and not z.any() for z in zero_points)
    assert not any(constants.get(n.input[0], np.zeros(1, np.int8)).dtype == np.int32 for n in dequantize)  # biases
    dfl = [n for n in graph.node if n.op_type == "Conv" and "/dfl/" in n.name]
    assert len(dfl) == 1 and dfl[0].input[1] in constants  # fp32 weights, no DequantizeLinear
    meta = {p.key: p.value for p in onnx.load(str(int8)).metadata_props}
    assert meta["stride"] == "8,16,32" and len(json.loads(meta["names"])) == 5
    x = torch.rand(2, 3, 64, 64)
    diff = OnnxModel(int8)(x) - OnnxModel(fp32)(x)
    assert diff[:, :4].abs().median() < 1.0 and diff[:, 4:].abs().median() < 0.02  # pixels; probabilities


@needs_tensorrt
@pytest.mark.parametrize("dynamic", [False, True])
def test_engine_matches_pytorch(gelan_t5, dynamic, tmp_path):
    """fp32 engines (TF32 convolutions) against PyTorch's fp32 deployment form; a static (2, 3, 96, 96) engine
    takes 3 images of 64x64 (padded, cut into batches of 2), a dynamic one a 96x64 batch of 3 (in 2 + 1)."""
    path = export_model(gelan_t5, "engine", tmp_path / "m", imgsz=96, batch=2, dynamic=dynamic)[0]
    assert path == tmp_path / "m.engine" and source_kind(path) == "engine"
    detector = TensorRTModel(path)
    assert (detector.nc, detector.stride.tolist(), detector.task) == (5, [8, 16, 32], "detect")
    assert detector.input_shape == ((None, 3, None, None) if dynamic else (2, 3, 96, 96))
    x = torch.rand(3, 3, 64, 96) if dynamic else torch.rand(3, 3, 64, 64)
    net = deployment_form(gelan_t5)
    reference = x if dynamic else torch.nn.functional.pad(x, (0, 32, 0, 32), value=114 / 255)
    with torch.no_grad():
        want = net(reference)
    got = detector(x)
    assert got.device == x.device and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-2, atol=5e-2)


@needs_tensorrt
def test_fp16_and_int8_engines_stay_close(gelan_t5, tiny_data_yaml, tmp_path):
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want = deployment_form(gelan_t5)(x)
    half = TensorRTModel(export_model(gelan_t5, "engine", tmp_path / "half", imgsz=64, half=True)[0])
    assert half.input_dtype == torch.float16
    diff = half(x) - want
    assert diff[:, :4].abs().max() < 1.0 and diff[:, 4:].abs().max() < 0.01
    int8 = TensorRTModel(export_model(gelan_t5, "engine", tmp_path / "int8", imgsz=64, int8=True,
                                         data=str(tiny_data_yaml), calib_images=8)[0])
    diff = int8(x) - want
    assert diff[:, :4].abs().median() < 1.0 and diff[:, 4:].abs().median() < 0.02


@needs_tensorrt
def test_val_runs_an_engine(gelan_t5, tiny_data_yaml, tmp_path):
    path = export_model(gelan_t5, "engine", tmp_path / "m", imgsz=64, dynamic=True, batch=2)[0]
    assert main(["val", "--model", str(path), "--data", str(tiny_data_yaml), "--imgsz", "64", "--batch", "2",
                 "--workers", "0", "--no-plots", "--project", str(tmp_path / "runs")]) == 0
    assert "coco/AP50-95" in json.loads((tmp_path / "runs" / "exp" / "metrics.json").read_text())
