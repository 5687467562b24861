"""Shared fixtures: a tiny dual-head model with non-trivial BatchNorm, and fake official YOLOv9 checkpoints."""

from __future__ import annotations

import argparse
import contextlib
import copy
import pathlib
import sys
import types
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import torch
import torch.nn as nn

from focalyolo import Model, build_model

OFFICIAL_HOMES = {"Model": "models.yolo", "DDetect": "models.yolo", "DualDDetect": "models.yolo",
                  "DFL": "models.yolo"}


def perturb_(model: nn.Module, seed: int = 1) -> nn.Module:
    """Random BatchNorm affine parameters and statistics, so that folding and copying errors show in outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(c, generator=generator) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
    return model


@pytest.fixture
def perturb() -> Callable[[nn.Module], nn.Module]:
    """:func:`perturb_`, for tests that build their own models."""
    return perturb_


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, the more so when the 2 CI cores are shared."""
    with _single_thread():
        yield


@pytest.fixture(scope="session")
def tiny_dual() -> Model:
    """yolov9-t (nc 3) in eval mode with perturbed BatchNorm; tests must not modify it (deepcopy first)."""
    torch.manual_seed(0)
    with _single_thread():
        return perturb_(build_model("yolov9-t", nc=3)).eval()


@pytest.fixture(scope="module")
def gelan_t5():
    """gelan-t for the 5 synthetic classes, random weights with non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    model = build_model("gelan-t", nc=5)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(4, 3, 64, 64))
    return model.eval()


@pytest.fixture
def images() -> torch.Tensor:
    """Two random 64x64 images, (2, 3, 64, 64)."""
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))


def _as_official(model: Model, homes: dict[str, types.ModuleType]) -> nn.Module:
    """An fp16 copy whose focalyolo classes are re-classed into throwaway ``models.yolo``/``models.common`` ones."""
    fake = copy.deepcopy(model).half()
    for m in fake.modules():
        cls = type(m)
        if cls.__module__.startswith("focalyolo"):
            home = homes[OFFICIAL_HOMES.get(cls.__name__, "models.common")]
            if not hasattr(home, cls.__name__):
                setattr(home, cls.__name__, type(cls.__name__, (nn.Module,), {"__module__": home.__name__}))
            m.__class__ = getattr(home, cls.__name__)
    del fake.rows  # parser records are focalyolo objects; the official model has none
    fake.yaml, fake.nc, fake.names = model.copy_config(), model.nc, {i: n for i, n in enumerate(model.names)}
    return fake


@pytest.fixture
def official_checkpoint() -> Callable[..., Path]:
    """``write(path, model, ema=None)``: save models the way official YOLOv9 training does, classes and all.

    The fake ``models``/``models.yolo``/``models.common`` modules exist only while saving.
    """

    def write(path: Path, model: Model, ema: Model | None = None) -> Path:
        homes = {name: types.ModuleType(name) for name in ("models", "models.yolo", "models.common")}
        sys.modules.update(homes)
        try:
            opt = argparse.Namespace(weights=pathlib.PosixPath("runs/train/exp/weights/last.pt"), epochs=300)
            torch.save({"model": _as_official(model, homes), "ema": ema and _as_official(ema, homes), "epoch": 7,
                        "opt": opt, "best_fitness": np.array([0.42]), "updates": np.int64(1000), "git": None}, path)
        finally:
            for name in homes:
                sys.modules.pop(name)
        return path

    return write
