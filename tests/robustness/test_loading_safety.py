"""Loading safety: a checkpoint that runs code when unpickled is refused on every path that reads one."""

from __future__ import annotations

import ast
import os
import shlex
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import focalyolo
from focalyolo import YOLO, load_model
from focalyolo.cli import main
from focalyolo.errors import CheckpointError
from focalyolo.weights.checkpoint import read_checkpoint

PACKAGE = Path(focalyolo.__file__).parent
pytestmark = pytest.mark.usefixtures("one_thread")


class Payload:
    """Runs ``touch <marker>`` when unpickled (through ``__reduce__``), as a booby-trapped checkpoint would."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    """A checkpoint-shaped file whose weights are the payload, and the marker file the payload would create."""
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "focalyolo/1", "names": ["a"], "model_yaml": {}, "model": Payload(marker),
                "train_args": {"model": "gelan-t"}, "epoch": 0}, path)
    return path, marker


def test_the_payload_is_live(evil):
    path, marker = evil
    torch.load(path, weights_only=False)  # what an unsafe loader would do
    assert marker.exists()


def test_python_load_paths_refuse_it(evil):
    path, marker = evil
    for load in (read_checkpoint, load_model, YOLO):
        with pytest.raises(CheckpointError, match="not a loadable focalyolo checkpoint"):
            load(path)
    assert not marker.exists()


@pytest.mark.parametrize("command", [
    ["val", "--model", "{evil}", "--data", "{data}"],
    ["predict", "--model", "{evil}", "--source", "{image}"],
    ["train", "--weights", "{evil}", "--model", "{model}", "--data", "{data}"],
    ["train", "--model", "{evil}", "--data", "{data}"],
    ["train", "--resume", "{evil}"],
    ["train", "--resume", "{evil}", "--device", "cpu"],
    ["convert", "--model", "{evil}"],
    ["convert", "--from-official", "{evil}"],
    ["export", "--model", "{evil}"],
], ids=lambda command: " ".join(a for a in command if not a.startswith("{")))
def test_cli_paths_refuse_it_with_one_line(command, evil, tiny_model_yaml, tiny_data_yaml, tmp_path, capsys):
    path, marker = evil
    image = tmp_path / "image.jpg"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    values = {"{evil}": str(path), "{model}": str(tiny_model_yaml), "{data}": str(tiny_data_yaml),
              "{image}": str(image)}
    argv = [values.get(a, a) for a in command]
    if argv[0] in ("train", "val", "predict"):
        argv += ["--project", str(tmp_path / "runs")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err, err
    assert not marker.exists()
    assert not (tmp_path / "runs").exists()


def _load_calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "load" and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("torch", "np", "numpy")]


def test_every_load_in_the_package_is_restricted():
    """torch.load only with weights_only=True (or the official importer's restricted unpickler), np.load only
    with allow_pickle=False."""
    for source in sorted(PACKAGE.rglob("*.py")):
        for call in _load_calls(ast.parse(source.read_text())):
            keywords = {k.arg: k.value for k in call.keywords}
            where = f"{source.relative_to(PACKAGE)}:{call.lineno}"
            if call.func.value.id == "torch":
                restricted = _is(keywords.get("pickle_module"), "RestrictedPickle") and source.name == "official.py"
                assert _is(keywords.get("weights_only"), True) or restricted, where
            else:
                assert _is(keywords.get("allow_pickle"), False), where


def _is(node: ast.AST | None, value: object) -> bool:
    """Whether an argument is the literal ``value`` (a constant) or the name ``value`` (a string)."""
    if isinstance(node, ast.Constant):
        return node.value is value
    return isinstance(node, ast.Name) and node.id == value
