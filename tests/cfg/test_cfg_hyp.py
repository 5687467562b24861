"""Hyper-parameter files: the shipped recipe, packaged names, overrides and their one-line errors."""

from __future__ import annotations

import pytest

from focalyolo.cfg import load_hyp, packaged_hyps
from focalyolo.errors import ConfigError


def test_default_is_yolov9_scratch_high() -> None:
    hyp = load_hyp()
    assert (hyp["lr0"], hyp["lrf"], hyp["momentum"], hyp["weight_decay"]) == (0.01, 0.01, 0.937, 0.0005)
    assert (hyp["box"], hyp["cls"], hyp["dfl"], hyp["mosaic"], hyp["mixup"]) == (7.5, 0.5, 1.5, 1.0, 0.15)
    assert load_hyp("scratch-high") == hyp


def test_packaged_name_overrides_the_defaults() -> None:
    assert set(packaged_hyps()) >= {"scratch-high", "cpu-short"}
    short = load_hyp("cpu-short")
    assert (short["lr0"], short["nbs"], short["mosaic"], short["optimizer"]) == (0.006, 8, 0.0, "AdamW")
    assert short["warmup_epochs"] == 3.0  # warmup kept: the acceptance run learns 0.05 mAP50 more with it
    assert short["box"] == 7.5  # keys it does not set keep the recipe's values


def test_file_and_mapping_overrides_and_errors(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("lr0: 0.02\n")
    assert load_hyp(path)["lr0"] == 0.02 and load_hyp({"mixup": 0.0})["mixup"] == 0.0
    path.write_text("mixp: 0.2\n")
    with pytest.raises(ConfigError, match="unknown hyper-parameter.*mixp"):
        load_hyp(path)
    with pytest.raises(ConfigError, match="not found.*cpu-short"):
        load_hyp(tmp_path / "missing.yaml")
