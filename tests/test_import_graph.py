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
    {"tasks"},
    {"deploy"},
    {"engine"},
    {"benchmark", "api"},
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
