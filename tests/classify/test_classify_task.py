"""The classification task end to end: the packaged classifiers, the Classify head, the loss, and a tiny focal
classifier that trains, validates, predicts and exports from the API and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from focalyolo import YOLO
from focalyolo.cfg import load_hyp
from focalyolo.cli import main
from focalyolo.deploy.onnx_model import OnnxModel
from focalyolo.errors import ConfigError
from focalyolo.loss import ClassificationLoss
from focalyolo.models import build_model, config_task, load_model_config
from focalyolo.nn import Classify, FocalModulationBlock, SelfAttentionBlock
from focalyolo.tasks import get_task
from repo_scripts import load_script

CLS_COLUMNS = ["epoch", "train/loss", "metrics/accuracy_top1", "metrics/accuracy_top5", "val/loss", "lr/pg0", "lr/pg1",
               "lr/pg2"]
TINY_CLS_FOCAL = {  # a small focal classifier: stride 32, 24-channel map, focal block, a 64-wide embedding
    "nc": 5, "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "ADown", [16]],
                 [-1, 1, "ADown", [24]], [-1, 1, "ADown", [24]], [-1, 1, "FocalModulationBlock", [24]]],
    "head": [[-1, 1, "Classify", ["nc", 64]]],
}


@pytest.mark.parametrize("size", ["t", "s", "c"])
def test_packaged_classifiers_and_their_block_variants(size):
    x = torch.rand(2, 3, 64, 96)
    for suffix, block in (("", None), ("-focal", FocalModulationBlock), ("-attn", SelfAttentionBlock)):
        model = build_model(f"gelan-{size}-cls{suffix}", nc=7).eval()
        assert isinstance(model.head, Classify) and model.stride.tolist() == [32.0]
        assert config_task(f"gelan-{size}-cls{suffix}") == "classify" and model.nc == 7
        if block is not None:
            assert isinstance(model.model[9], block) and len(model.model) == 11
        with torch.no_grad():
            probs = model(x)
        assert probs.shape == (2, 7) and torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5)
    detector, _ = load_model_config(f"gelan-{size}")
    classifier, _ = load_model_config(f"gelan-{size}-cls")
    assert classifier["backbone"] == detector["backbone"] and classifier["nc"] == 1000


def test_classifier_configs_are_in_sync_with_the_generator():
    generator = load_script("tools/make_variant_configs.py")
    for size in generator.CLASSIFIER_SIZES:
        for suffix, block in (("", None), *((f"-{k}", v) for k, v in generator.BLOCKS.items())):
            packaged, _ = load_model_config(f"gelan-{size}-cls{suffix}")
            made = generator.classifier_config(size, block)
            assert packaged["backbone"] + packaged["head"] == made["backbone"] + made["head"], (size, suffix)


def test_head_shapes_train_logits_and_arguments():
    head = Classify(24, 5, embed=32, dropout=0.2)
    x = torch.rand(3, 24, 2, 3)
    logits = head.train()(x)
    assert logits.shape == (3, 5) and not torch.allclose(logits.sum(1), torch.ones(3))
    head.eval()
    with torch.no_grad():
        assert torch.allclose(head(x), head.forward_raw(x).softmax(1)) and torch.allclose(head(x).sum(1), torch.ones(3))
    with pytest.raises(ConfigError, match=r"layer 1 \(Classify\): needs the number of classes"):
        build_model({**TINY_CLS_FOCAL, "head": [[-1, 1, "Classify", []]],
                     "backbone": [[-1, 1, "Conv", [8, 3, 2]]]})
    with pytest.raises(ConfigError, match="the last row must be a head"):
        config_task({**TINY_CLS_FOCAL, "head": [[-1, 1, "Conv", [8, 1, 1]]]})


def test_loss_is_cross_entropy_with_label_smoothing():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    classes = torch.tensor([0, 2])
    loss, items = ClassificationLoss({"label_smoothing": 0.1})(logits, classes)
    log_p = logits.log_softmax(1)
    target = torch.full_like(log_p, 0.1 / 3)
    target[torch.arange(2), classes] += 0.9
    assert torch.isclose(loss, -(target * log_p).sum(1).mean()) and items.shape == (1,)
    plain, _ = ClassificationLoss({"label_smoothing": 0.0})(logits, classes)
    assert torch.isclose(plain, -log_p[torch.arange(2), classes].mean()) and plain < loss


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(run folder, data.yaml) of a 2-epoch run of the tiny focal classifier on a small synthetic-cls set."""
    import yaml

    from focalyolo.data import generate_synthetic

    root = tmp_path_factory.mktemp("cls")
    data = generate_synthetic(root / "data", n_train=40, n_val=10, imgsz=48, seed=2, name="synthetic-cls")
    model_yaml = root / "tiny-cls-focal.yaml"
    model_yaml.write_text(yaml.safe_dump(TINY_CLS_FOCAL))
    run = YOLO(str(model_yaml)).train(data=str(data), epochs=2, imgsz=32, batch=8, workers=0, project=str(root),
                                      name="run", verbose=False)
    return run, data


def test_training_writes_the_classification_columns_and_plots(trained):
    run, _ = trained
    with (run / "results.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == CLS_COLUMNS and [r[0] for r in rows[1:]] == ["1", "2"]
    assert all(0.0 <= float(r[2]) <= float(r[3]) <= 1.0 for r in rows[1:])  # top-1 <= top-5
    for name in ("labels.jpg", "train_batch0.jpg", "confusion_matrix.png", "val_batch0_pred.jpg", "results.png",
                 "weights/best.pt", "weights/last.pt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    matrix = torch.tensor(metrics["confusion_matrix"])
    assert matrix.shape == (5, 5) and int(matrix.sum()) == 10
    assert metrics["metrics/accuracy_top1"] == pytest.approx(float(matrix.trace()) / 10)


def test_val_predict_and_export_from_the_api(trained, tmp_path):
    run, data = trained
    model = YOLO(str(run / "weights" / "best.pt"))
    scores = model.val(data=str(data), project=str(tmp_path), name="val", verbose=False)
    assert set(scores) >= {"metrics/accuracy_top1", "metrics/accuracy_top5", "confusion_matrix", "per_class"}
    images = sorted((data.parent / "val").rglob("*.jpg"))[:3]
    results = model.predict([str(p) for p in images])
    assert len(results) == 3
    assert all(len(r.probs.top5) == 5 and abs(float(r.probs.data.sum()) - 1) < 1e-5 for r in results)
    assert results[0].describe().count(",") == 4 and results[0].plot().shape == results[0].orig_img.shape
    onnx_path = model.export(imgsz=32, output=str(tmp_path / "cls"))[0]
    exported = OnnxModel(onnx_path)
    assert exported.task == "classify" and exported.nc == 5 and exported.names == model.model.names
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(exported(x), model.model.eval()(x), atol=1e-5)
    onnx_scores = YOLO(str(onnx_path)).val(data=str(data), project=str(tmp_path), name="onnx", verbose=False)
    assert onnx_scores["confusion_matrix"] == scores["confusion_matrix"]


def test_cli_trains_a_classifier(trained, tmp_path):
    _, data = trained
    assert main(["train", "--model", "gelan-t-cls-focal", "--data", str(data), "--epochs", "1", "--imgsz", "32",
                 "--batch", "8", "--workers", "0", "--project", str(tmp_path), "--name", "cli", "--no-plots"]) == 0
    with (tmp_path / "cli" / "results.csv").open() as handle:
        assert next(csv.reader(handle)) == CLS_COLUMNS
    args = (tmp_path / "cli" / "args.yaml").read_text()
    assert "imgsz: 32" in args and "label_smoothing: 0.1" in args


def test_cli_val_and_predict_write_top5(trained, tmp_path, capsys):
    run, data = trained
    best = str(run / "weights" / "best.pt")
    assert main(["val", "--model", best, "--project", str(tmp_path), "--name", "v"]) == 0  # data from the run
    assert (tmp_path / "v" / "confusion_matrix_normalized.png").is_file()
    folder = data.parent / "val" / "star"
    assert main(["predict", "--model", best, "--source", str(folder), "--save-txt", "--project", str(tmp_path),
                 "--name", "p"]) == 0
    printed = capsys.readouterr()
    first = sorted(folder.iterdir())[0]
    assert f"{first}: " in printed.out + printed.err
    rows = (tmp_path / "p" / "labels" / f"{first.stem}.txt").read_text().splitlines()
    probabilities = [float(r.split()[0]) for r in rows]
    assert len(rows) == 5 and probabilities == sorted(probabilities, reverse=True)
    assert {r.split()[1] for r in rows} == set(get_task("classify").load_data(data).names)
    assert (tmp_path / "p" / first.name).is_file()


def test_convert_and_int8_export_of_a_classifier(trained, tmp_path, capsys):
    run, data = trained
    best = str(run / "weights" / "best.pt")
    assert main(["convert", "--model", best, "--fuse", "--output", str(tmp_path / "fused.pt")]) == 0
    assert "already single-head, fused" in capsys.readouterr().out
    paths = YOLO(best).export(imgsz=32, int8=True, data=str(data), calib_images=8, output=str(tmp_path / "q"))
    assert [p.name for p in paths] == ["q.onnx", "q-int8.onnx"]
    fp32, int8 = OnnxModel(paths[0]), OnnxModel(paths[1])
    x = torch.rand(4, 3, 32, 32)
    assert int8.task == "classify" and torch.allclose(int8(x).sum(1), torch.ones(4), atol=1e-3)
    assert (fp32(x) - int8(x)).abs().max() < 0.2  # quantised, not broken


def test_compare_tabulates_classifiers_and_refuses_mixed_tasks(trained, tmp_path, capsys):
    import yaml

    _, data = trained
    model_yaml = tmp_path / "tiny-cls.yaml"
    model_yaml.write_text(yaml.safe_dump(TINY_CLS_FOCAL))
    args = ["compare", "--models", str(model_yaml), "--data", str(data), "--epochs", "1", "--imgsz", "32", "--seeds",
            "0", "--batch", "8", "--workers", "0", "--device", "cpu", "--latency-runs", "1", "--project",
            str(tmp_path / "runs"), "--name", "abl"]
    assert main(args) == 0
    table = (tmp_path / "runs" / "abl" / "ablation.md").read_text()
    assert "| model | params (M) | GFLOPs@32 | CPU ms@32 | seeds | top1 | top5 |" in table
    assert "metrics: top-1 / top-5 accuracy" in table
    capsys.readouterr()
    assert main([*args[:2], f"{model_yaml},gelan-t", *args[3:]]) == 2
    assert "compare needs models of one task" in capsys.readouterr().err


def test_default_image_size_of_a_classifier(tmp_path):
    from focalyolo.engine.run import train_run

    assert train_run(model="gelan-t-cls", data="synthetic-cls").imgsz == 96
    assert train_run(model="gelan-t-cls", data=str(tmp_path)).imgsz == 224
    assert train_run(model="gelan-t-cls", data=str(tmp_path), imgsz=64).imgsz == 64
    assert train_run(model="gelan-t", data="synthetic").imgsz == 160
    assert load_hyp()["label_smoothing"] == 0.1
