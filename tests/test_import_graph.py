"""The package's import graph: layered packages (no upward import) and no cycle between modules.

Every ``import`` in ``src/focalyolo`` counts, also those inside functions: a lazy import still ties the two
modules together. A package may import its own modules and packages of lower layers only.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import focalyolo

ROOT = Path(focalyolo.__file__).parent
LAYERS = [
    {"errors", "_version"},
    {"utils", "cfg"},
    {"nn", "data", "metrics", "loss"},
    {"models"},
    {"tasks", "weights"},
    {"deploy"},
    {"engine"},
    {"analysis", "api"},
    {"cli"},
    {"__init__", "__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def imports(path: Path) -> set[str]:
    """The focalyolo modules (dotted, relative to the package) that ``path`` imports."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1]  # the package a relative import starts from (for __init__ too: its own package)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "focalyolo":
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # "from . import detect" imports the module detect
                candidate = ".".join(target + [alias.name])
                found.add(candidate if _exists(candidate) else ".".join(target) or "__init__")
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".", 1)[1] for a in node.names if a.name.startswith("focalyolo."))
    return found


def _exists(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        name = module_name(path)
        edges[name] |= {t for t in imports(path) if t != name}
    return edges


def top(module: str) -> str:
    return module.split(".")[0]


def test_every_package_folder_is_a_regular_package():
    """setuptools' ``packages.find`` leaves out a folder without ``__init__.py``: a wheel would lack it."""
    folders = {path.parent for path in ROOT.rglob("*.py")}
    assert not [str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file()]


def test_every_package_has_a_layer():
    packages = {top(module_name(p)) for p in ROOT.rglob("*.py")}
    assert packages <= set(LAYER), packages - set(LAYER)


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """``source -> target`` for each import of a package of the same or a higher layer."""
    return sorted(f"{source} -> {target}" for source, targets in edges.items() for target in targets
                  if top(source) != top(target) and LAYER[top(target)] >= LAYER[top(source)])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles found by a depth-first walk (each as the modules around it)."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    found: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_no_upward_or_sideways_import_between_packages():
    assert not upward_imports(graph())


def test_no_import_cycle():
    assert not cycles(graph())


def test_the_checks_can_fail():
    """nn importing engine and data importing models are upward; a -> b -> a is a cycle."""
    assert upward_imports({"nn.conv": {"engine.trainer"}, "data.dataset": {"models.model"}}) == [
        "data.dataset -> models.model", "nn.conv -> engine.trainer"]
    assert cycles({"cfg.hyp": {"cfg.schema"}, "cfg.schema": {"cfg.hyp"}}) == [["cfg.hyp", "cfg.schema", "cfg.hyp"]]


def top_level_names(body: list[ast.stmt]) -> set[str]:
    """Names a module binds at top level: defs, classes, assignments and imports (``as`` names included), also
    inside top-level ``if``/``try``/``with`` blocks."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            blocks = [node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])]
            blocks += [handler.body for handler in getattr(node, "handlers", [])]
            for block in blocks:
                names |= top_level_names(block)
    return names


def declared_all(body: list[ast.stmt]) -> tuple[bool, list[str] | None]:
    """Whether the module assigns ``__all__`` at top level, and its names when the value is a literal."""
    for node in body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            try:
                return True, list(ast.literal_eval(node.value))
            except ValueError:
                return True, None
    return False, None


def test_every_module_declares_its_public_names():
    """Each module assigns ``__all__`` at top level, and every name listed there exists in the module."""
    missing, undefined = [], []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        body = ast.parse(path.read_text()).body
        assigned, names = declared_all(body)
        if not assigned:
            missing.append(module_name(path))
        elif names is not None:
            bound = top_level_names(body)
            undefined += [f"{module_name(path)}.{name}" for name in names if name not in bound]
    assert not missing, f"modules without __all__: {missing}"
    assert not undefined, f"__all__ names the module does not define or import: {undefined}"
