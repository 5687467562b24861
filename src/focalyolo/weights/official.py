"""Official YOLOv9 checkpoints: read them without running their code, and move weights between configs.

An official ``.pt`` pickles whole ``models.yolo.Model`` objects, so a plain ``torch.load`` imports
(and would execute) code named by the file. :func:`import_official` instead unpickles with
:class:`RestrictedUnpickler`, which admits a short allow-list of globals: tensor and storage rebuilders,
containers, numpy arrays, paths (as strings), ``argparse.Namespace``, and, as *inert stubs* that only keep
their pickled state, the ``models.*``/``utils.*`` classes and ``torch.nn`` modules. Any other global, such
as ``os.system`` or ``builtins.eval``, stops the load with :class:`CheckpointError`. The weights are then
read off the stub tree (``_modules``/``_parameters``/``_buffers``); their keys already match ours.
Weights then move into another config with :func:`focalyolo.weights.transfer.transfer_weights`.
"""

from __future__ import annotations

import argparse
import codecs
import collections
import importlib
import pickle
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Callable

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError
from ..models import Model, build_model
from .transfer import transfer_weights

__all__ = [
    "InertObject", "RestrictedPickle", "RestrictedUnpickler", "STUB_PACKAGES", "import_checkpoint", "import_official",
    "load_untrusted", "stub_state_dict",
]

STUB_PACKAGES = ("models.", "utils.", "torch.nn.")
"""Module prefixes whose names become inert stubs (official model code, torch.nn layers; not nn.Parameter)."""


class InertObject:
    """Stand-in for a class of an untrusted pickle: stores the pickled state as attributes, has no behaviour."""

    qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Accept and ignore constructor arguments (a pickle may call the class)."""

    def __setstate__(self, state: Any) -> None:
        """Keep ``state`` (a dict, or a ``(dict, slots)`` pair) as plain attributes."""
        parts = state if isinstance(state, tuple) else (state,)
        for part in parts:
            if isinstance(part, dict):
                self.__dict__.update(part)

    def __repr__(self) -> str:
        return f"<inert {self.qualified_name}>"


def _path_string(windows: bool) -> Callable[..., str]:
    """A callable standing in for a ``pathlib`` class: it returns the joined path as a string."""
    flavour = PureWindowsPath if windows else PurePosixPath
    return lambda *parts: str(flavour(*parts))


def _numpy_multiarray() -> Any:
    """numpy's ``multiarray`` module under its numpy 2 name, or its numpy 1 one."""
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy < 2
        return importlib.import_module("numpy.core.multiarray")


_TORCH_REBUILDERS = {
    ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._tensor", "_rebuild_from_type_v2"),
}
_BUILTIN_DATA = {"set": set, "frozenset": frozenset, "slice": slice, "complex": complex, "bytearray": bytearray}
_PATHS = {"PosixPath": False, "PurePosixPath": False, "WindowsPath": True, "PureWindowsPath": True}


def _allowed_global(module: str, name: str) -> Any:
    """The object an official checkpoint may reference as ``module.name``, or None when it is refused."""
    if (module, name) in _TORCH_REBUILDERS:
        return getattr(importlib.import_module(module), name)
    if module == "torch":
        found = getattr(torch, name, None)
        safe_type = any(found is t for t in (torch.Tensor, torch.Size, torch.device)) or (
            isinstance(found, type) and name.endswith("Storage"))
        return found if safe_type or isinstance(found, torch.dtype) else None
    if (module, name) == ("torch.nn.parameter", "Parameter"):
        return torch.nn.Parameter
    if (module, name) == ("collections", "OrderedDict"):
        return collections.OrderedDict
    if (module, name) == ("argparse", "Namespace"):
        return argparse.Namespace
    if (module, name) == ("_codecs", "encode"):  # how protocol-2 pickles spell bytes
        return codecs.encode
    if module in ("builtins", "__builtin__"):
        return _BUILTIN_DATA.get(name)
    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
        return getattr(_numpy_multiarray(), name)
    if module == "numpy" and name in ("ndarray", "dtype"):
        return getattr(np, name)
    if module == "numpy.dtypes" and name.endswith("DType"):
        found = getattr(importlib.import_module("numpy.dtypes"), name, None)
        return found if isinstance(found, type) and issubclass(found, np.dtype) else None
    if module in ("pathlib", "pathlib._local") and name in _PATHS:
        return _path_string(_PATHS[name])
    return None


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only allow-listed globals; stubs for model classes, errors for the rest."""

    def __init__(self, file: BinaryIO, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._stubs: dict[str, type[InertObject]] = {}

    def _stub(self, module: str, name: str) -> type[InertObject]:
        qualified = f"{module}.{name}"
        if qualified not in self._stubs:
            self._stubs[qualified] = type(name, (InertObject,), {"qualified_name": qualified})
        return self._stubs[qualified]

    def find_class(self, module: str, name: str) -> Any:
        found = _allowed_global(module, name)
        if found is None and module.startswith(STUB_PACKAGES):
            found = self._stub(module, name)
        if found is None:
            raise CheckpointError(f"refused to load {module}.{name}")
        return found


class RestrictedPickle:
    """The ``pickle_module`` given to ``torch.load``: both of its entry points use :class:`RestrictedUnpickler`."""

    Unpickler = RestrictedUnpickler

    @staticmethod
    def load(file: BinaryIO, **kwargs: Any) -> Any:
        return RestrictedUnpickler(file, **kwargs).load()


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold code; ``torch.load`` would hand them to ``torch.jit.load``."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        inner = [name.split("/", 1)[-1] for name in archive.namelist()]
    return any(name == "constants.pkl" or name.startswith("code/") for name in inner)


def load_untrusted(path: str | Path) -> Any:
    """Unpickle a torch checkpoint with :class:`RestrictedUnpickler` (tensors on CPU); CheckpointError if refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if _is_torchscript(path):
        raise CheckpointError(f"{path}: a TorchScript archive, not a YOLOv9 training checkpoint")
    try:
        return torch.load(path, map_location="cpu", pickle_module=RestrictedPickle, weights_only=False)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None


def stub_state_dict(module: InertObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state_dict of a stubbed ``nn.Module`` tree: persistent parameters and buffers, keys like ours."""
    attrs = vars(module)
    skip = attrs.get("_non_persistent_buffers_set") or set()
    tensors = [*(attrs.get("_parameters") or {}).items(),
               *((k, v) for k, v in (attrs.get("_buffers") or {}).items() if k not in skip)]
    state = {prefix + k: v.detach() for k, v in tensors if isinstance(v, torch.Tensor)}
    for name, child in (attrs.get("_modules") or {}).items():
        if isinstance(child, InertObject):
            state.update(stub_state_dict(child, f"{prefix}{name}."))
    return state


def _class_names(names: Any, nc: int) -> list[str]:
    """Official ``names`` (a list, or a dict {index: name}) -> our list; placeholders when absent."""
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    if isinstance(names, (list, tuple)):
        return [str(n) for n in names]
    return [str(i) for i in range(nc)]


def _fit_weights(model: Model, state: dict[str, torch.Tensor], where: str) -> None:
    """Check that ``state`` has exactly ``model``'s keys and shapes; CheckpointError naming the first faults."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{where}: weights do not fit the model config stored with them "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, shape mismatch {wrong[:3]})")


def import_official(path: str | Path) -> dict[str, Any]:
    """Read an official YOLOv9 ``.pt`` without executing it; return focalyolo checkpoint data.

    Takes ``ema`` when present, else ``model``; weights become float32; the model's ``yaml``, ``names`` and
    ``nc`` give ``model_yaml`` and ``names``. The result (``model_yaml``, ``names``, ``model``, ``ema`` None)
    is what ``save_checkpoint`` writes; its weights are checked against a model built from the config.
    """
    path = Path(path)
    raw = load_untrusted(path)
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a checkpoint dict, got {type(raw).__name__}")
    net = raw.get("ema") if raw.get("ema") is not None else raw.get("model")
    if not isinstance(net, InertObject):
        raise CheckpointError(f"{path}: no pickled model under 'ema' or 'model' (is it an official YOLOv9 file?)")
    attrs = vars(net)
    cfg = attrs.get("yaml")
    if not isinstance(cfg, dict) or "backbone" not in cfg or "head" not in cfg:
        raise CheckpointError(f"{path}: the model carries no YAML config ('yaml' attribute)")
    nc = int(attrs.get("nc") or cfg.get("nc") or 80)
    cfg = {**cfg, "nc": nc, "yaml_file": str(cfg.get("yaml_file") or attrs.get("yaml_file") or path.name)}
    state = {k: v.float() if v.is_floating_point() else v for k, v in stub_state_dict(net).items()}
    try:
        model = Model(cfg, nc=nc)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its model config cannot be built here: {exc}") from None
    _fit_weights(model, state, str(path))
    return {"model_yaml": model.copy_config(), "names": _class_names(attrs.get("names"), nc), "model": state,
            "ema": None}


def import_checkpoint(path: str | Path, model_cfg: str | Path | None = None) -> tuple[dict[str, Any], str, Path]:
    """``convert --from-official``: an official YOLOv9 file's weights as checkpoint data, moved into
    ``model_cfg`` by layer structure when given; with a note and the default output (``<input>-focalyolo.pt``)."""
    data = import_official(path)
    note = "official YOLOv9 weights imported"
    if model_cfg:
        model = build_model(model_cfg, nc=len(data["names"]))
        report = transfer_weights(data["model"], data["model_yaml"], model)
        data = {**data, "model_yaml": model.copy_config(), "model": model.state_dict()}
        note += f" into {model_cfg}: {report}"
    return data, note, Path(path).with_name(f"{Path(path).stem}-focalyolo.pt")
