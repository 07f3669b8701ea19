"""The house's layers, read from the imports themselves: the command line (dlc/) over backends/ over
compiler/ over grammar/; every import, lazy ones and TYPE_CHECKING ones included, looks down or sideways
within its own layer, and no module imports itself through a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("grammar", "compiler", "backends", "dlc")  # bottom to top


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for layer in LAYERS for path in sorted((ROOT / layer).rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file, resolved to the most specific module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


MODULES = project_modules()
GRAPH = {name: imports_of(name, path, MODULES) for name, path in MODULES.items()}


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_the_walk_sees_the_whole_house():
    assert {"dlc.cli", "backends.pytorch.emit", "compiler.elaborate", "grammar"} <= set(MODULES)
    assert "compiler.values" in GRAPH["compiler.elaborate"]  # a relative import resolved
    assert "backends.verify" in GRAPH["dlc.cli"]  # a lazy import inside a function


@pytest.mark.parametrize("lower", LAYERS[:-1])
def test_every_import_looks_down(lower):
    upward = sorted(
        f"{source} imports {target}"
        for source, targets in GRAPH.items()
        if source.split(".")[0] == lower
        for target in targets
        if layer(target) > layer(source)
    )
    assert not upward, "imports that run back up the layers:\n" + "\n".join(upward)


def test_the_house_reads_top_to_bottom():
    """Each layer imports only what lies below it, and each layer but the bottom one uses the one below."""
    used = {(layer(source), layer(target)) for source, targets in GRAPH.items() for target in targets}
    assert all(low <= high for high, low in used)
    assert {(3, 2), (2, 1), (1, 0)} <= used


def test_no_module_imports_itself_through_a_circle():
    cycles, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
    assert not cycles, "import circles:\n" + "\n".join(cycles)
