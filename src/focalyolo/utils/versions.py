"""The torch / torchvision pair: a torchvision built for another torch (a CUDA torchvision beside a CPU torch, or
another release) fails on its first operator with a long traceback; :func:`check_torchvision` turns that into one
line naming the pair to install."""

from __future__ import annotations

from importlib import metadata

import torch

from ..errors import FocalYoloError

__all__ = ["check_torchvision", "matching_torchvision"]

PYTORCH_INDEX = "https://download.pytorch.org/whl"


def matching_torchvision(torch_version: str) -> str | None:
    """The torchvision release series made for ``torch_version`` (``"2.14.1+cpu"`` -> ``"0.29"``: torch 2.N ships
    with torchvision 0.(N+15)); None for a torch this rule does not cover."""
    parts = torch_version.split("+")[0].split(".")
    if len(parts) < 2 or parts[0] != "2" or not parts[1].isdigit():
        return None
    return f"0.{int(parts[1]) + 15}"


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _install_hint(torch_version: str) -> str:
    """Which torchvision to install with this torch, and the pip command that installs the pair from one index."""
    base, _, build = torch_version.partition("+")
    series = matching_torchvision(torch_version)
    vision = f"torchvision {series}.x" if series else "the torchvision release made for it"
    pins = f'torch=={base} "torchvision=={series}.*"' if series else f"torch=={base} torchvision"
    index = f" --index-url {PYTORCH_INDEX}/{build}" if build else ""
    return f"install torch {base} with {vision}, from the same index: pip install {pins}{index}"


def check_torchvision() -> None:
    """Import torchvision and run its NMS on one box; FocalYoloError (one line: both versions and the pair to
    install) when torchvision is missing or built for another torch."""
    try:
        import torchvision

        torchvision.ops.nms(torch.zeros(1, 4), torch.ones(1), 0.5)
    except (ImportError, RuntimeError, NotImplementedError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise FocalYoloError(f"torch {torch.__version__} and torchvision {_installed('torchvision')} do not work "
                             f"together ({reason}); {_install_hint(torch.__version__)}") from None
