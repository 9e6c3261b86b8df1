"""The package's imports point one way (docs/architecture.md): every import statement of every module, at any
depth (function bodies and TYPE_CHECKING blocks too), is read with ``ast``; an import of a higher layer or a
circle between modules fails here with the modules named."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> package name (pyproject maps adapters/ and schemas/ into geogen)
PACKAGES = {"geogen": "geogen", "adapters": "geogen.adapters", "schemas": "geogen.schemas"}

#: Layers from the bottom up; a module may import its own layer and those below, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("geogen.errors", "geogen.progress", "geogen.run", "geogen.cluster"),
    ("geogen.acquisition",),
    ("geogen.data",),
    ("geogen.physics", "geogen.adapters", "geogen.io", "geogen.summary"),
    ("geogen.models",),
    ("geogen.training", "geogen.evaluation", "geogen.generation"),
    ("geogen.schemas", "geogen.workflow"),
    ("geogen.cli", "geogen.__main__", "geogen"),
]


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the geogen modules it imports (``from pkg import name`` counts as pkg.name when that is a
    module, else as pkg)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.append(sub if sub in mods else node.module)
            for target in targets:
                while target not in mods and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in mods and target != name and target.startswith("geogen"):
                    edges[name].add(target)
    return edges


def layer_of(module: str) -> int:
    best, level = "", None
    for i, names in enumerate(LAYERS):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, level = prefix, i
    assert level is not None, f"{module} is in no layer of tests/test_architecture.py; add it (docs/architecture.md)"
    return level


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in edges.items() for b in targets if layer_of(b) > layer_of(a))


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer_of(name)


def test_no_module_imports_a_higher_layer() -> None:
    assert upward(imports(modules())) == []


def test_no_import_circles() -> None:
    assert circles(imports(modules())) == []


@pytest.mark.parametrize("importer, imported", [
    ("geogen.models.ubdiff", "geogen.training.config"),
    ("geogen.models.ubdiff", "geogen.workflow.runner"),
    ("geogen.data.store", "geogen.adapters.xarray_store"),
    ("geogen.physics.modelling", "geogen.models.ubdiff"),
    ("geogen.models.layered", "geogen.evaluation.metrics"),
])
def test_the_check_catches_an_upward_import(importer: str, imported: str) -> None:
    edges = imports(modules())
    edges[importer].add(imported)
    assert f"{importer} -> {imported}" in upward(edges)


def test_the_check_catches_a_circle() -> None:
    edges = imports(modules())
    edges["geogen.physics.modelling"].add("geogen.physics.simulate")  # simulate imports modelling
    assert any({"geogen.physics.modelling", "geogen.physics.simulate"} <= set(c) for c in circles(edges))
