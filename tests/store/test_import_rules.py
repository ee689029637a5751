"""The store's modules import each other in one direction: no circle, counting imports inside
functions too (a function-level import that only dodges a circle hides it), and leaving out
only the type-only ones (under ``if TYPE_CHECKING:``). Read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import gatekeeper.store

PACKAGE = "gatekeeper.store"
ROOT = Path(gatekeeper.store.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _type_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``tree`` imports at run time (at any depth)."""
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    found.add(submodule)
                elif node.module in modules:
                    found.add(node.module)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Which of the modules (name → source text) each imports at run time."""
    modules = set(sources)
    return {name: _imports(ast.parse(text), modules) - {name} for name, text in sources.items()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order, the first repeated last), or
    None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name) :] + [name]
        if name in done:
            return None
        for imported in sorted(graph[name]):
            found = visit(imported, [*path, name])
            if found is not None:
                return found
        done.add(name)
        return None

    for name in sorted(graph):
        found = visit(name, [])
        if found is not None:
            return found
    return None


def test_no_store_module_imports_back_into_a_circle() -> None:
    sources = {_module_name(path): path.read_text() for path in sorted(ROOT.rglob("*.py"))}
    assert len(sources) > 20
    assert cycle(import_graph(sources)) is None


def test_the_check_finds_a_circle_through_a_function_level_import() -> None:
    sources = {
        "gatekeeper.store.a": "from gatekeeper.store import b\n",
        "gatekeeper.store.b": "def f():\n    from gatekeeper.store.a import g\n",
    }
    assert cycle(import_graph(sources)) == [
        "gatekeeper.store.a",
        "gatekeeper.store.b",
        "gatekeeper.store.a",
    ]


def test_the_check_leaves_out_type_only_imports() -> None:
    sources = {
        "gatekeeper.store.a": "from gatekeeper.store.b import B\n",
        "gatekeeper.store.b": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from gatekeeper.store.a import A\n"
        ),
    }
    assert import_graph(sources)["gatekeeper.store.b"] == set()
    assert cycle(import_graph(sources)) is None
