"""The command line's own surface: help without docstring markup, the model list, the torch/torchvision check."""

from __future__ import annotations

import re
import sys

import pytest
import torch
import torchvision

from focalyolo.cli import _COMMANDS, build_parser, main
from focalyolo.models import config_task, packaged_configs

MARKUP = re.compile(r"``|:\w+:`")


def _help(*argv: str, capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", [None, *_COMMANDS])
def test_help_is_plain_text(command, capsys):
    text = _help(*([command] if command else []), capsys=capsys)
    assert not MARKUP.search(text), MARKUP.search(text).group(0)


def test_predict_help_names_every_task(capsys):
    text = " ".join(_help("predict", capsys=capsys).split())
    for task in ("detect", "segment", "pose", "classify"):
        assert task in text, task


def test_info_list_groups_every_packaged_config_by_task_and_size(capsys):
    assert main(["info", "--list"]) == 0
    listed: dict[str, list[str]] = {}
    task = size = None
    for line in capsys.readouterr().out.splitlines():
        if block := re.fullmatch(r"(\w+) \(\d+ configs\)", line):
            task = block.group(1)
            listed[task] = []
        elif line.startswith("  ") and task:  # "  <size> names", or a wrapped line of names
            size = line[2:8].strip() or size
            names = line[8:].split()
            assert all(re.search(rf"-{size}(-|$)", n) for n in names), line
            listed[task] += names
    assert list(listed) == ["detect", "segment", "pose", "obb", "classify"]
    assert sorted(n for names in listed.values() for n in names) == packaged_configs()
    for task, names in listed.items():
        assert {config_task(n) for n in names} == {task}


def test_info_list_and_model_exclude_each_other(capsys):
    assert main(["info", "--list", "--model", "gelan-t"]) == 2
    assert capsys.readouterr().err.strip() == ("focalyolo info: error: argument --model: not allowed with argument "
                                               "--list")


def _nms_missing(*args, **kwargs):
    raise RuntimeError("operator torchvision::nms does not exist")


def test_a_torchvision_built_for_another_torch_is_one_line_naming_the_pair(monkeypatch, capsys):
    monkeypatch.setattr(torchvision.ops, "nms", _nms_missing)
    monkeypatch.setattr(torch, "__version__", "2.14.1+cpu")
    assert main(["cfg"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("focalyolo cfg: error: torch 2.14.1+cpu and torchvision ")
    assert "operator torchvision::nms does not exist" in line
    assert line.endswith("install torch 2.14.1 with torchvision 0.29.x, from the same index: pip install "
                         "torch==2.14.1 \"torchvision==0.29.*\" --index-url https://download.pytorch.org/whl/cpu")


def test_a_missing_torchvision_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision -> ImportError
    assert main(["cfg"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("focalyolo cfg: error: torch ") and "install torch " in line
