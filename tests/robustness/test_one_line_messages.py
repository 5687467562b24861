"""Inputs that used to end in a long or wrong message: a string among a model YAML's numbers, a camera index or a
URL given to predict. Each is one short line that names what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from focalyolo.cli import main
from focalyolo.engine.predictor import expand_source
from focalyolo.errors import DataError

MODEL = """nc: 2
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - {row}
  - [-1, 1, ADown, [32]]
head:
  - [[1, 2], 1, DDetect, [nc]]
"""


@pytest.mark.parametrize(("row", "fault"), [
    ('[-1, 1, Conv, ["abc", 3, 2]]', "args[0] is the string 'abc'; a number belongs there"),
    ("[-1, 1, Conv, [32, 3, two]]", "args[2] is the string 'two'; argument s takes int"),
    ('[-1, 1, Conv, [32, "3x3", 2]]', "args[1] is the string '3x3'; argument k takes int"),
    ("[-1, 1, RepNCSPELAN4, [32, 32, 16, one]]", "args[3] is the string 'one'; argument c5 takes int"),
    ("[-1, 1, nn.Upsample, [None, twice, nearest]]",
     "args[1] is the string 'twice'; argument scale_factor takes float | tuple[float, ...] | None"),
    (f'[-1, 1, Conv, ["{"abc" * 100}", 3, 2]]', f"args[0] is the string '{('abc' * 13)[:38]}…; a number belongs "
                                                 "there"),
], ids=["width", "stride", "kernel", "repeats-arg", "nn-module", "long-string"])
def test_a_string_among_a_layers_numbers_is_one_short_line(row, fault, tmp_path, capsys):
    path = tmp_path / "model.yaml"
    path.write_text(MODEL.format(row=row))
    module = row.split(", ")[2]
    assert main(["info", "--model", str(path), "--imgsz", "0"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == f"focalyolo info: error: {path}:4: layer 1 ({module}): {fault}"
    assert len(line) < 160 + len(str(path))


def test_a_string_where_a_string_belongs_still_builds(tmp_path, capsys):
    path = tmp_path / "model.yaml"
    path.write_text(MODEL.format(row="[-1, 1, nn.Upsample, [None, 1, nearest]]"))
    assert main(["info", "--model", str(path), "--imgsz", "0"]) == 0


@pytest.mark.parametrize(("source", "kind"), [
    ("0", "a camera index"), (1, "a camera index"), ("rtsp://camera.local/stream", "a URL or stream"),
    ("http://example.com/image.jpg?size=640", "a URL or stream"),  # a "?" does not make it a glob
])
def test_camera_and_url_sources_are_named_as_unsupported(source, kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as info:
        expand_source(source)
    assert str(info.value) == (f"{source}: {kind} is not a supported source; predict reads image and video files, "
                               "folders and globs")


def test_a_file_named_like_a_camera_index_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("0").write_bytes(b"")
    assert expand_source("0") == [Path("0")]
