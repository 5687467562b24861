"""The typed configuration: one place for every option; bad values and unknown keys are one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from focalyolo import YOLO, __version__
from focalyolo.cfg import LEGACY_KEYS, OptionError, TrainConfig, UnknownOptionError, default_hyperparameters, load_hyp
from focalyolo.cli import main
from focalyolo.engine.run import train_run
from focalyolo.loss import DetectionLoss
from focalyolo.models import build_model

BAD_VALUES = [
    ("train", "--epochs", "0"), ("train", "--epochs", "-3"), ("train", "--batch", "0"), ("train", "--imgsz", "0"),
    ("train", "--imgsz", "-5"), ("train", "--workers", "-1"), ("train", "--val-interval", "0"),
    ("train", "--patience", "-1"), ("train", "--threads", "0"), ("train", "--lr0", "-0.1"),
    ("train", "--mosaic", "1.5"), ("train", "--optimizer", "Adam"), ("train", "--epochs", "ten"),
    ("train", "--device", "gpu"), ("val", "--conf", "1.5"), ("val", "--iou", "0"), ("val", "--max-det", "0"),
    ("val", "--batch", "-2"), ("predict", "--conf", "-0.1"), ("predict", "--max-det", "0"),
    ("predict", "--imgsz", "0"), ("export", "--opset", "3"), ("export", "--batch", "0"),
    ("export", "--format", "tflite"),
]


@pytest.mark.parametrize("command,flag,value", BAD_VALUES, ids=lambda v: str(v))
def test_a_bad_value_is_one_line_exit_2_and_no_run_folder(command, flag, value, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [command, flag, value]
    if command in ("val", "predict", "export"):
        argv += ["--model", "gelan-t"] + (["--source", "x.jpg"] if command == "predict" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"focalyolo {command}: error: "), err
    assert flag in err
    assert not (tmp_path / "runs").exists()


def test_devices_that_this_machine_lacks_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absent = [] if torch.backends.mps.is_available() else ["mps"]
    if not torch.cuda.is_available():
        absent += ["cuda", "cuda:1", "0"]
    for device in absent:
        assert main(["train", "--device", device, "--epochs", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"--device {device}" in err and "not available" in err
    assert not (tmp_path / "runs").exists()


def test_unknown_keys_name_the_closest_valid_one(tmp_path, capsys):
    assert main(["train", "--mixp", "0.1"]) == 2
    assert capsys.readouterr().err.strip() == "focalyolo train: error: unknown option --mixp (did you mean --mixup?)"
    with pytest.raises(UnknownOptionError, match="unknown train option 'mixp' \\(did you mean 'mixup'\\?\\)"):
        train_run(mixp=0.1)
    with pytest.raises(UnknownOptionError, match="did you mean 'conf'"):
        YOLO("gelan-t").val(cnf=0.1)
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("lr0: 0.02\nwarmup_epoch: 1\n")
    with pytest.raises(UnknownOptionError, match=f"{hyp}: unknown hyper-parameter 'warmup_epoch' "
                                                 "\\(did you mean 'warmup_epochs'\\?\\)"):
        TrainConfig(hyp=str(hyp))
    assert main(["train", "--hyp", str(hyp)]) == 2
    assert "warmup_epochs" in capsys.readouterr().err


def test_hyp_files_set_hyper_parameters_and_explicit_values_win(tmp_path):
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("lr0: 0.02\nmixup: 0.0\n")
    cfg = train_run(data="data.yaml", hyp=str(hyp), mixup=0.05).cfg
    assert (cfg.lr0, cfg.mixup, cfg.momentum) == (0.02, 0.05, 0.937)
    assert (cfg.imgsz, cfg.epochs, cfg.batch) == (640, 100, 16)
    hyp.write_text("lr0: 0.02\nimgsz: 320\n")
    with pytest.raises(Exception, match="'imgsz' is a run option, not a hyper-parameter"):
        TrainConfig(hyp=str(hyp))
    hyp.write_text("lr0: fast\n")
    with pytest.raises(OptionError, match="lr0 = 'fast': must be a number"):
        TrainConfig(hyp=str(hyp))


def test_official_legacy_keys_load_with_a_warning(tmp_path, focalyolo_log):
    hyp = tmp_path / "official.yaml"
    hyp.write_text("lr0: 0.01\nobj: 0.7\nanchor_t: 5.0\nfl_gamma: 0.0\n")
    assert load_hyp(hyp)["lr0"] == 0.01 and not set(LEGACY_KEYS) & set(load_hyp(hyp))
    warned = [r.getMessage() for r in focalyolo_log if r.levelname == "WARNING"]
    assert any("anchor_t, fl_gamma, obj" in m and "nothing reads" in m for m in warned)


def test_packaged_scratch_high_is_the_schema_default():
    from importlib import resources

    text = resources.files("focalyolo").joinpath("cfg", "hyp.scratch-high.yaml").read_text()
    assert yaml.safe_load(text) == default_hyperparameters()


def test_yolo_train_accepts_hyper_parameters_as_keywords():
    cfg = train_run(lr0=0.02, aux_weight=0.5, mosaic=0.0).cfg
    assert (cfg.lr0, cfg.aux_weight, cfg.mosaic, cfg.hyp) == (0.02, 0.5, 0.0, "cpu-short")
    assert cfg.lrf == load_hyp("cpu-short")["lrf"]  # the rest still from the data's default hyp file


def test_aux_weight_in_a_hyp_file_changes_the_loss(tmp_path):
    torch.manual_seed(0)
    model = build_model({"nc": 3, "depth_multiple": 1.0, "width_multiple": 1.0,
                         "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]],
                                      [-1, 1, "ADown", [16]], [-1, 1, "ADown", [16]]],
                         "head": [[[1, 2, 3, 1, 2, 3], 1, "DualDDetect", ["nc"]]]}).train()
    preds = model(torch.rand(2, 3, 64, 64))
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.3, 0.3], [1, 2, 0.3, 0.6, 0.2, 0.4]])
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("aux_weight: 0.5\n")
    default = DetectionLoss(model.head, train_run(data="data.yaml").hyp)(preds, targets)[1]
    heavier = DetectionLoss(model.head, train_run(data="data.yaml", hyp=str(hyp)).hyp)(preds, targets)[1]
    assert not torch.equal(default, heavier) and (heavier > default).all()


def test_cfg_prints_every_option_as_commented_yaml(capsys):
    assert main(["cfg"]) == 0
    text = capsys.readouterr().out
    values = yaml.safe_load(text)
    assert set(values) == set(TrainConfig.names())
    assert values["aux_weight"] == 0.25 and "# weight of PGI's auxiliary branch" in text
    assert "# --- optimizer (hyper-parameters: a hyp YAML may set these)" in text
    hyp_only = {k: v for k, v in values.items() if k in default_hyperparameters()}
    assert load_hyp(hyp_only) == TrainConfig().hyperparameters()
    assert main(["cfg", "val"]) == 0 and "conf: 0.001" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"focalyolo {__version__}"


def test_every_hyper_parameter_is_read_somewhere():
    """No key that nothing reads: each hyper-parameter is read outside the schema, as ``cfg.<name>`` or by its
    quoted name from a group mapping (``hyp["box"]``)."""
    package = Path(__import__("focalyolo").__file__).parent
    sources = "\n".join(p.read_text() for p in package.rglob("*.py") if p.parent.name != "cfg")
    for name in default_hyperparameters():
        assert f"cfg.{name}" in sources or f'"{name}"' in sources, name
