"""ONNX and TorchScript export of the inference form (GELAN, fused), checked against PyTorch."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from focalyolo.cli import main
from focalyolo.deploy.export import ExportError, export_onnx, export_torchscript, to_half, write_onnx
from focalyolo.weights.convert import convert_to_gelan, fuse_model


def _run_onnx(path, x: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output0"], {"images": x.numpy()})[0]


@pytest.mark.parametrize("dynamic", [False, True])
def test_onnx_export_matches_pytorch(tiny_dual, dynamic, tmp_path, focalyolo_log):
    path = export_onnx(tiny_dual, tmp_path / "model.onnx", imgsz=64, batch=1, dynamic=dynamic)
    assert any("max abs difference" in r.getMessage() for r in focalyolo_log)
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["images"] and [o.name for o in graph.output] == ["output0"]
    shapes = [(1, 3, 64, 64)] + ([(2, 3, 96, 128)] if dynamic else [])
    for shape in shapes:
        x = torch.rand(*shape)
        with torch.no_grad():
            want = tiny_dual(x).numpy()  # the dual model's main branch
        got = _run_onnx(path, x)
        assert got.shape == want.shape == (shape[0], 4 + 3, shape[2] * shape[3] * 21 // 1024)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # PyTorch deprecates torch.jit; the export still works
def test_torchscript_export_matches_pytorch(tiny_dual, images, tmp_path):
    path = export_torchscript(tiny_dual, tmp_path / "model.torchscript", imgsz=64)
    traced = torch.jit.load(str(path))
    with torch.no_grad():
        torch.testing.assert_close(traced(images), tiny_dual(images), rtol=1e-4, atol=1e-4)


def test_export_options_fail_or_degrade_clearly(tiny_dual, tmp_path, focalyolo_log):
    if not torch.cuda.is_available():
        with pytest.raises(ExportError, match="CUDA"):
            export_onnx(tiny_dual, tmp_path / "half.onnx", imgsz=64, half=True)
    try:
        import onnxsim  # noqa: F401
    except ImportError:
        export_onnx(tiny_dual, tmp_path / "simple.onnx", imgsz=64, simplify=True)
        assert any("onnxsim is not installed" in r.getMessage() for r in focalyolo_log)


def test_a_size_off_the_stride_is_rounded_up_with_a_warning(tiny_dual, tmp_path, focalyolo_log):
    """The rule of every command: the export's input is the next multiple of the model's largest stride."""
    path = export_onnx(tiny_dual, tmp_path / "round.onnx", imgsz=100)
    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 128, 128]
    warned = [r.getMessage() for r in focalyolo_log if r.levelname == "WARNING"]
    assert warned.count("imgsz 100 is not a multiple of the model's stride 32: using 128") == 1


def test_export_command_accepts_a_config_name(tmp_path, capsys):
    output = tmp_path / "gelan-t.onnx"
    assert main(["export", "--model", "gelan-t", "--imgsz", "64", "--dynamic", "--output", str(output)]) == 0
    captured = capsys.readouterr()
    assert "random weights" in captured.err and "max abs difference" in captured.out and output.is_file()
    assert main(["export", "--model", "gelan-t", "--imgsz", "64", "--half", "--output", str(output)]) == (
        0 if torch.cuda.is_available() else 2)


def test_fp16_graph_is_valid_onnx_with_fp32_box_decoding(tiny_dual, tmp_path):
    net = to_half(fuse_model(convert_to_gelan(tiny_dual)))  # what --half does on CUDA; fp16 also runs on CPU
    x = torch.rand(1, 3, 64, 64)
    write_onnx(net, x.half(), tmp_path / "half.onnx", dynamic=True)
    got = _run_onnx(tmp_path / "half.onnx", x.half())
    with torch.no_grad():
        want = tiny_dual(x).numpy()
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=1e-2, atol=0.1)
