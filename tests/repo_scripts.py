"""Import one of the repository's scripts (``tools/``, ``benchmarks/``: files, not a package) as a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """The module of ``REPO / relative`` (e.g. ``"tools/make_variant_configs.py"``), executed once per process.

    It is kept in ``sys.modules`` under ``repo_script_<stem>``: a dataclass defined in a script looks its module
    up there, and a second test reuses the loaded module instead of executing the file again.
    """
    path = REPO / relative
    name = f"repo_script_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
