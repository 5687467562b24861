"""Official YOLOv9 checkpoints: imported without running their code; malicious pickles refused; transfer by
structure."""

from __future__ import annotations

import builtins
import copy
import os
import subprocess
import zipfile

import pytest
import torch

from focalyolo import CheckpointError, build_model, load_model
from focalyolo.cli import main
from focalyolo.models import load_model_config
from focalyolo.models.edit import insert_layer
from focalyolo.models.parser import read_rows
from focalyolo.weights.checkpoint import read_checkpoint
from focalyolo.weights.official import import_official, load_untrusted
from focalyolo.weights.transfer import align_rows, transfer_weights


def test_import_reads_the_ema_weights_without_the_official_code(tiny_dual, official_checkpoint, tmp_path):
    stale = copy.deepcopy(tiny_dual)
    torch.nn.init.zeros_(stale.model[0].conv.weight)
    path = official_checkpoint(tmp_path / "yolov9-t.pt", stale, ema=tiny_dual)
    data = import_official(path)
    reference = tiny_dual.state_dict()
    assert list(data["model"]) == list(reference)
    for key, tensor in reference.items():
        expected = tensor.half().float() if tensor.is_floating_point() else tensor
        assert data["model"][key].dtype == expected.dtype and torch.equal(data["model"][key], expected), key
    assert data["names"] == tiny_dual.names and data["model_yaml"]["nc"] == 3
    assert data["model_yaml"]["backbone"] == tiny_dual.yaml["backbone"]


def test_convert_command_imports_official_files(tiny_dual, official_checkpoint, images, tmp_path, capsys):
    path = official_checkpoint(tmp_path / "yolov9-t.pt", tiny_dual)
    assert main(["convert", "--from-official", str(path)]) == 0
    model = load_model(tmp_path / "yolov9-t-focalyolo.pt")  # weights_only=True from here on
    rounded = copy.deepcopy(tiny_dual).half().float()  # official files store fp16
    with torch.no_grad():
        torch.testing.assert_close(model(images), rounded(images), rtol=0, atol=1e-5)
    capsys.readouterr()
    assert main(["convert", "--from-official", str(path), "--model-cfg", "gelan-t-focal",
                 "--output", str(tmp_path / "focal.pt")]) == 0
    assert "layers that got no weights: 9" in capsys.readouterr().out
    focal = read_checkpoint(tmp_path / "focal.pt")
    assert torch.equal(focal["model"]["model.23.cv2.0.0.conv.weight"],
                       tiny_dual.state_dict()["model.29.cv4.0.0.conv.weight"].half().float())


class _Payload:
    """Runs ``call(*args)`` when unpickled, like a booby-trapped checkpoint."""

    def __init__(self, call, args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


@pytest.mark.parametrize("call", [os.system, builtins.eval, subprocess.call])
def test_malicious_checkpoints_are_refused_before_running_anything(call, tmp_path):
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    args = {os.system: (command,), builtins.eval: (f"__import__('os').system({command!r})",),
            subprocess.call: (["touch", str(marker)],)}[call]
    path = tmp_path / "evil.pt"
    torch.save({"model": None, "opt": {"nested": [_Payload(call, args)]}}, path)
    with pytest.raises(CheckpointError, match=rf"refused to load \S+\.{call.__name__}$"):
        import_official(path)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated; files of it still exist
def test_torchscript_archives_are_not_loaded(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)).save(str(path))
    assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_untrusted(path)


def test_row_alignment_maps_yolov9_c_onto_the_focal_variant():
    src = read_rows(load_model_config("yolov9-c")[0], "src")
    dst = read_rows(load_model_config("yolov9-c-focal")[0], "dst")
    mapping = align_rows(src, dst)
    assert 10 not in mapping  # the inserted FocalModulationBlock
    assert mapping == {j: j - (j > 10) for j in range(len(dst)) if j != 10}


def test_transfer_into_a_config_with_an_inserted_layer(tiny_dual):
    dst = build_model(insert_layer(load_model_config("yolov9-t")[0], 4, "FocalModulationBlock", []), nc=3)
    src_state = tiny_dual.state_dict()
    report = transfer_weights(src_state, tiny_dual.copy_config(), dst)
    assert report.empty_layers == [4]
    block = [k for k in dst.state_dict() if k.startswith("model.4.")]
    assert report.transferred == report.total - len(block) == len(src_state)
    for key, tensor in dst.state_dict().items():
        layer, rest = int(key.split(".")[1]), key.split(".", 2)[2]
        if layer != 4:
            assert torch.equal(tensor, src_state[f"model.{layer - (layer > 4)}.{rest}"]), key
    assert "transferred" in str(report)


def test_official_files_load_directly_everywhere(tiny_dual, official_checkpoint, images, tmp_path, capsys):
    """An official file is a model source like any other: predict and YOLO() import it on the fly (nothing in it
    runs) and predict what its main branch predicts; a focalyolo-only reader still names the import command."""
    from focalyolo import YOLO
    from focalyolo.errors import OfficialCheckpointError

    path = official_checkpoint(tmp_path / "yolov9-t.pt", tiny_dual)
    with pytest.raises(OfficialCheckpointError, match="convert --from-official"):
        read_checkpoint(path)
    model = YOLO(path).model
    rounded = copy.deepcopy(tiny_dual).half().float().eval()
    with torch.no_grad():
        torch.testing.assert_close(model(images), rounded(images), rtol=0, atol=1e-5)
    image = tmp_path / "im.png"
    import cv2
    cv2.imwrite(str(image), (images[0].permute(1, 2, 0).numpy() * 255).astype("uint8"))
    assert main(["predict", "--model", str(path), "--source", str(image), "--imgsz", "64",
                 "--project", str(tmp_path / "runs")]) == 0
    assert "official YOLOv9 checkpoint; importing its weights" in capsys.readouterr().out


def test_official_segmentation_checkpoints_import_and_convert(official_checkpoint, perturb, images, tmp_path):
    """A yolov9-t-dseg saved the official way imports (Proto, DualDSegment ... as inert stubs), predicts the same
    masks and converts to its GELAN form."""
    from focalyolo.weights.convert import convert_to_gelan

    torch.manual_seed(0)
    model = perturb(build_model("yolov9-t-dseg", nc=2)).eval()
    path = official_checkpoint(tmp_path / "yolov9-t-dseg.pt", model)
    assert main(["convert", "--from-official", str(path)]) == 0
    imported = load_model(tmp_path / "yolov9-t-dseg-focalyolo.pt")
    rounded = copy.deepcopy(model).half().float()  # official files store fp16
    with torch.no_grad():
        (predictions, protos), (expected, expected_protos) = imported(images), rounded(images)
        torch.testing.assert_close(predictions, expected, rtol=0, atol=1e-4)
        torch.testing.assert_close(protos, expected_protos, rtol=0, atol=1e-4)
        gelan_predictions, _ = convert_to_gelan(imported)(images)
    torch.testing.assert_close(gelan_predictions, predictions, rtol=0, atol=1e-5)
