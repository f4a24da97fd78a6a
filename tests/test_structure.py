"""The shape of the code, checked (docs/architecture.md, "Keeping the shape"): no import
circle between modules (imports inside functions count), no private name used across
modules, no module over 600 lines. The layers themselves are import-linter's contracts in
pyproject.toml, run by the test command."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

import massgen

ROOT = Path(massgen.__file__).parent
MAX_LINES = 600


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.find_modules_directly_imported_by(node):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_is_in_an_import_circle():
    graph = grimp.build_graph("massgen", exclude_type_checking_imports=True, cache_dir=None)
    assert circles(graph) == []


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(path: Path, name: str) -> list[str]:
    """``from m import _x``, ``import m._x`` and ``m._x`` on an imported massgen module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported: set[str] = set()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if not base.startswith("massgen"):
                continue
            if any(private(part) for part in base.split(".")):
                out.append(f"{path.name}:{node.lineno} imports from {base}")
            for alias in node.names:
                if private(alias.name):
                    out.append(f"{path.name}:{node.lineno} imports {base}.{alias.name}")
                elif f"{base}.{alias.name}" in MODULES:
                    imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("massgen"):
                    if any(private(part) for part in alias.name.split(".")):
                        out.append(f"{path.name}:{node.lineno} imports {alias.name}")
                    imported.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
        ):
            out.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return out


MODULES = modules()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_is_used_across_modules(name):
    assert private_uses(MODULES[name], name) == []


def test_no_module_is_over_600_lines():
    sizes = {name: len(p.read_text(encoding="utf-8").splitlines()) for name, p in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
