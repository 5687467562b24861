"""``val`` of an ONNX export gives its checkpoint's figures, for every task.

Each model trains for a few seconds on 16 synthetic images of 64 px and is validated on those same images (so
its figures are above zero: a model that finds nothing scores 0 whatever its input), then exported the default
way (``focalyolo export``: fixed input at the trained size) and both files go through the ``val`` job on the same
data. The checkpoint and the export must see the same letterboxed pixels: every mAP agrees within 0.002 (the
figures differ only where a barely trained model's nearly equal scores sort differently), and a classifier's
confusion matrix is the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from focalyolo.cfg import ExportConfig, TrainConfig, ValConfig
from focalyolo.data import generate_synthetic
from focalyolo.deploy.export import export
from focalyolo.engine.trainer import Trainer
from focalyolo.engine.validator import val

ENGINE_TESTS = Path(__file__).parents[1] / "engine"
MODELS = {  # task -> (built-in dataset, model config)
    "detect": ("synthetic", ENGINE_TESTS / "tiny-gelan-focal.yaml"),
    "segment": ("synthetic-seg", ENGINE_TESTS / "tiny-gelan-seg-focal.yaml"),
    "pose": ("synthetic-pose", ENGINE_TESTS / "tiny-gelan-pose-focal.yaml"),
}
TINY_CLS_FOCAL = {  # a small focal classifier: stride 32, a focal block on the last map
    "nc": 5, "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "ADown", [16]],
                 [-1, 1, "ADown", [24]], [-1, 1, "ADown", [24]], [-1, 1, "FocalModulationBlock", [24]]],
    "head": [[-1, 1, "Classify", ["nc", 64]]],
}
TOLERANCE = 0.002


def _memorised(root: Path, data_name: str, model: str | Path, epochs: int, lr0: float) -> Path:
    """best.pt of a short run on 16 synthetic images of 64 px whose ``val`` split is the training images."""
    data = generate_synthetic(root / "data", n_train=16, n_val=1, imgsz=64, seed=3, name=data_name)
    data.write_text(data.read_text().replace("val: images/val", "val: images/train").replace("val: val", "val: train"))
    cfg = TrainConfig(model=str(model), data=str(data), project=str(root / "runs"), plots=False, verbose=False,
                      epochs=epochs, imgsz=64, batch=8, workers=0, threads=1, device="cpu", hyp="cpu-short",
                      close_mosaic=0, warmup_epochs=0, lr0=lr0, seed=0)
    Trainer(cfg).train()
    return root / "runs" / "exp" / "weights" / "best.pt"


def _val_both(weights: Path, project: Path) -> tuple[dict, dict, Path]:
    """The ``val`` job's results for ``weights`` and for its default ONNX export (and the export's path)."""
    onnx_path = export(ExportConfig(model=str(weights), threads=1))[0]
    results = [val(ValConfig(model=str(m), project=str(project), name=m.suffix[1:], workers=0, threads=1,
                             plots=False, verbose=False)) for m in (weights, onnx_path)]
    return results[0], results[1], onnx_path


@pytest.mark.parametrize("task", list(MODELS))
def test_val_of_the_onnx_export_gives_the_checkpoints_map(task, tmp_path):
    data_name, model = MODELS[task]
    weights = _memorised(tmp_path, data_name, model, epochs=8, lr0=0.02)
    checkpoint, exported, onnx_path = _val_both(weights, tmp_path / "val")
    assert onnx_path == weights.with_suffix(".onnx")
    figures = sorted(k for k in checkpoint if k.startswith("metrics/mAP"))
    assert len(figures) == (2 if task == "detect" else 4)
    assert max(r[k] for k in figures for r in (checkpoint, exported)) > 0.005  # it finds something: a fair test
    for key in figures:
        assert exported[key] == pytest.approx(checkpoint[key], abs=TOLERANCE), key


def test_val_of_the_onnx_export_gives_the_classifiers_figures(tmp_path):
    import yaml

    model = tmp_path / "tiny-cls-focal.yaml"
    model.write_text(yaml.safe_dump(TINY_CLS_FOCAL))
    weights = _memorised(tmp_path, "synthetic-cls", model, epochs=3, lr0=0.006)
    checkpoint, exported, _ = _val_both(weights, tmp_path / "val")
    assert checkpoint["confusion_matrix"] == exported["confusion_matrix"]
    for key in ("metrics/accuracy_top1", "metrics/accuracy_top5"):
        assert exported[key] == pytest.approx(checkpoint[key], abs=TOLERANCE)
