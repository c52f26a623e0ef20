"""The package's imports run one way: each layer imports only the layers below it.

The import graph is read from the source with ``ast`` (every ``import`` and
``from ... import``, including those inside functions), so a lazy import
cannot hide a cycle. A module of a new top-level name must be given a layer
here, which is where its place in the design is decided.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dlnsam"

#: Top-level modules and subpackages of dlnsam, by layer (lower imports nothing above).
LAYERS: dict[str, int] = {
    "status": 0,
    "_validation": 0,
    "_pool": 0,
    "results": 1,
    "problems": 2,
    "algorithms": 2,
    "metrics": 2,
    "flatness": 3,
    "kernels": 3,
    "paper": 3,
    "reference": 3,
    "training": 4,
    "hypentropy": 4,
    "flows": 5,
    "many": 5,
    "verify": 6,
    "sweep": 6,
    "plots": 7,
    "": 8,  # the package itself (dlnsam/__init__.py): the public names
    "__main__": 9,
    "cli": 9,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    """The dlnsam modules that ``path`` imports (``from dlnsam import x`` names module x)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "dlnsam")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "dlnsam":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                found.add(sub if is_module or _is_package(sub) else base)
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_top_level_module_has_a_layer() -> None:
    missing = sorted({_component(m) for m in _graph()} - set(LAYERS))
    assert not missing, f"give these a layer in LAYERS: {missing}"


def test_each_layer_imports_only_layers_below_it() -> None:
    wrong = []
    for module, imported in _graph().items():
        for target in imported:
            a, b = _component(module), _component(target)
            if a != b and LAYERS.get(a, -1) <= LAYERS.get(b, -1):
                wrong.append(f"{module} ({LAYERS.get(a)}) imports {target} ({LAYERS.get(b)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    # A subpackage's __init__ re-exports its modules; a module importing its own
    # package's __init__ back would be a cycle, and is caught like any other.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_graph_is_read() -> None:
    # The checks above would pass on an empty graph: make sure it is the real one.
    graph = _graph()
    assert "dlnsam.cli" in graph and "dlnsam.training" in graph["dlnsam.cli"]
    assert any(_component(t) == "kernels" for t in graph["dlnsam.training"])
