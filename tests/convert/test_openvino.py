"""OpenVINO export (IR folder, fp32 and NNCF INT8) and running an IR behind the model interface.

Skipped without openvino and nncf (``pip install 'focalyolo[openvino]'``), except the test of the error that says
so. The INT8 comparison needs a model that detects something: a module fixture trains the 1M-parameter GELAN of the
learning test for 10 epochs on 64 synthetic images at 64 px (about 20 s on one thread), which reaches mAP50-95 about
0.05 on 32 held-out images (0.047 fp32, 0.046 INT8 on the development machine); an untrained model scores ~0, where
"within a point" would hold for any quantization.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from focalyolo.cfg import TrainConfig
from focalyolo.cli import main
from focalyolo.data import generate_synthetic
from focalyolo.deploy.export import ExportError, export_model
from focalyolo.deploy.inference import load_inference_model
from focalyolo.deploy.onnx_model import LETTERBOX_GREY
from focalyolo.engine.trainer import Trainer
from focalyolo.models import build_model
from focalyolo.weights.convert import deployment_form
from focalyolo.weights.sources import source_kind

ENGINE_TESTS = Path(__file__).parents[1] / "engine"
HAVE_OPENVINO = all(importlib.util.find_spec(m) is not None for m in ("openvino", "nncf"))
needs_openvino = pytest.mark.skipif(not HAVE_OPENVINO, reason="openvino / nncf not installed (focalyolo[openvino])")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(best.pt, data.yaml): the learning test's tiny GELAN after 10 epochs on 64 synthetic images of 64 px."""
    if not HAVE_OPENVINO:
        pytest.skip("openvino / nncf not installed")
    root = tmp_path_factory.mktemp("openvino")
    data = generate_synthetic(root / "data", n_train=64, n_val=32, imgsz=64, seed=1)
    cfg = TrainConfig(model=str(ENGINE_TESTS / "tiny-gelan-focal.yaml"), data=str(data), project=str(root / "runs"),
                      plots=False, verbose=False, epochs=10, imgsz=64, batch=8, workers=0, threads=1, device="cpu",
                      hyp="cpu-short", close_mosaic=0, val_interval=10, seed=0)
    trainer = Trainer(cfg)
    trainer.train()
    return root / "runs" / "exp" / "weights" / "best.pt", data


@pytest.fixture(scope="module")
def exported(trained) -> list[Path]:
    """The trained model exported by the CLI with a dynamic shape: [fp32 IR folder, INT8 IR folder]."""
    weights, data = trained
    output = weights.parent / "best"
    assert main(["export", "--model", str(weights), "--format", "openvino", "--dynamic", "--int8", "--data",
                 str(data), "--calib-images", "32", "--output", str(output)]) == 0
    return [weights.parent / "best_openvino_model", weights.parent / "best_int8_openvino_model"]


def _val(model: Path, data: Path, project: Path) -> dict:
    assert main(["val", "--model", str(model), "--data", str(data), "--imgsz", "64", "--batch", "8", "--workers",
                 "0", "--no-plots", "--project", str(project)]) == 0
    return json.loads(sorted(project.glob("exp*/metrics.json"), key=lambda p: p.stat().st_mtime)[-1].read_text())


@needs_openvino
def test_ir_folder_layout_and_metadata(exported, trained):
    from focalyolo.deploy.openvino_model import OpenVinoModel

    fp32, int8 = exported
    assert sorted(p.name for p in fp32.iterdir()) == ["best.bin", "best.xml", "metadata.yaml"]
    meta = yaml.safe_load((fp32 / "metadata.yaml").read_text())
    assert meta["task"] == "detect" and meta["stride"] == [8, 16, 32] and len(meta["names"]) == 5
    assert meta["train_args"] == {"imgsz": 64, "data": str(trained[1])}
    assert (int8 / "best.bin").stat().st_size < 0.5 * (fp32 / "best.bin").stat().st_size  # int8 weights
    for folder in (fp32, str(fp32) + "/", fp32 / "best.xml"):
        assert source_kind(folder) == "openvino"
    detector = load_inference_model(fp32)
    assert isinstance(detector, OpenVinoModel) and detector.input_shape == (None, 3, None, None)
    assert detector.nc == 5 and detector.names == meta["names"] and detector.stride.tolist() == [8, 16, 32]


@needs_openvino
def test_openvino_matches_pytorch_fixed_and_dynamic(exported, trained, tmp_path):
    """The dynamic IR on a 96x128 batch; a (2, 3, 96, 96) IR on 3 images of 64x64: padded with grey, cut into batches
    of 2 (the last one filled); both equal PyTorch's deployment form within 1e-3 relative."""
    from focalyolo.deploy.openvino_model import OpenVinoModel

    weights, _ = trained
    net = deployment_form(load_inference_model(weights))
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        want = net(x).numpy()
    got = OpenVinoModel(exported[0])(x).numpy()
    assert got.shape == want.shape == (2, 4 + 5, 12 * 16 + 6 * 8 + 3 * 4)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)

    folders = export_model(load_inference_model(weights), "openvino", tmp_path / "static", imgsz=96, batch=2)
    assert folders == [tmp_path / "static_openvino_model"]
    detector = OpenVinoModel(folders[0])
    assert detector.input_shape == (2, 3, 96, 96)
    x = torch.rand(3, 3, 64, 64)
    padded = torch.full((3, 3, 96, 96), LETTERBOX_GREY)
    padded[:, :, :64, :64] = x
    with torch.no_grad():
        want = net(padded).numpy()
    np.testing.assert_allclose(detector(x).numpy(), want, rtol=1e-3, atol=1e-4)


@needs_openvino
def test_val_and_predict_run_an_ir_folder(exported, trained, tmp_path):
    weights, data = trained
    reference = _val(weights, data, tmp_path / "pt")
    got = _val(exported[0], data, tmp_path / "ov")
    assert reference["metrics/mAP50-95(B)"] > 0.03  # the model detects shapes: the figures mean something
    for key in ("metrics/mAP50(B)", "metrics/mAP50-95(B)", "coco/AP50-95"):
        assert got[key] == pytest.approx(reference[key], abs=0.01)
    images = data.parent / "images" / "val"
    assert main(["predict", "--model", f"{exported[0]}/", "--source", str(images), "--imgsz", "64",
                 "--project", str(tmp_path / "pred")]) == 0
    assert len(list((tmp_path / "pred" / "exp").glob("*.jpg"))) == 32


@needs_openvino
def test_int8_ir_scores_within_a_point_and_keeps_box_decoding_fp32(exported, trained, tmp_path):
    import openvino

    _, data = trained
    fp32 = _val(exported[0], data, tmp_path / "fp32")
    int8 = _val(exported[1], data, tmp_path / "int8")
    print(f"\nOpenVINO mAP50-95 fp32 {fp32['metrics/mAP50-95(B)']:.4f}, int8 {int8['metrics/mAP50-95(B)']:.4f}")
    assert int8["metrics/mAP50-95(B)"] == pytest.approx(fp32["metrics/mAP50-95(B)"], abs=0.01)
    ops = openvino.Core().read_model(str(exported[1] / "best.xml")).get_ops()
    assert sum(op.get_type_name() == "FakeQuantize" for op in ops) > 50  # activations
    convs = [op for op in ops if op.get_type_name() == "Convolution"]
    int8_weights = [op for op in convs if _weight_source(op).get_output_element_type(0).get_type_name() == "i8"]
    dfl = [op for op in convs if "/dfl/" in op.get_friendly_name()]
    assert len(dfl) == 1 and dfl[0] not in int8_weights and len(int8_weights) == len(convs) - 1
    assert dfl[0].input_value(0).get_node().get_type_name() == "Softmax"  # no quantizer on the bin probabilities


def _weight_source(conv):
    """The constant a convolution's weights come from (int8 ones pass Convert and Multiply, the dequantization)."""
    node = conv.input_value(1).get_node()
    while node.get_type_name() != "Constant":
        node = node.input_value(0).get_node()
    return node


@needs_openvino
@pytest.mark.parametrize("config", ["tiny-gelan-seg-focal.yaml", "tiny-gelan-pose-focal.yaml"])
def test_segmentation_and_pose_irs_match_pytorch(config, perturb, tmp_path):
    from focalyolo.deploy.openvino_model import OpenVinoModel

    model = perturb(build_model(str(ENGINE_TESTS / config))).eval()
    if model.kpt_shape:
        model.yaml["skeleton"] = [[0, 1], [1, 2]]  # as training on pose data records it
    folder = export_model(model, "openvino", tmp_path / "m", imgsz=64, dynamic=True)[0]
    detector = OpenVinoModel(folder)
    assert (detector.task, detector.nc, detector.kpt_shape, detector.skeleton) == (
        "pose" if model.kpt_shape else "segment", model.nc, model.kpt_shape, model.skeleton)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        want = deployment_form(model)(x)
    got = detector(x)
    want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
    assert len(got) == len(want) == (2 if config.startswith("tiny-gelan-seg") else 1)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-3, atol=1e-4)


def test_missing_openvino_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    args = ["export", "--model", "gelan-t", "--format", "openvino", "--imgsz", "64", "--output", str(tmp_path / "m")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()  # the last line; before it: "gelan-t ... random weights"
    assert "pip install 'focalyolo[openvino]'" in err[-1] and not any("openvino" in line for line in err[:-1])
    with pytest.raises(ExportError, match="nncf"):
        monkeypatch.setitem(sys.modules, "openvino", sys.modules.get("os"))  # openvino "present", nncf not
        monkeypatch.setitem(sys.modules, "nncf", None)
        export_model(build_model("gelan-t", nc=2), "openvino", tmp_path / "m", imgsz=64, int8=True, data="x.yaml")
    assert not list(tmp_path.iterdir())
