"""The rooms of docs/ARCHITECTURE.md and what each may import, read from the source with
``ast``: every module of the package is parsed and each of its imports (at the top or inside
functions, where a late import would hide a breach) is held against :data:`RULES`; and the
store's modules import each other in one direction, with no circle (leaving out only the
type-only imports, under ``if TYPE_CHECKING:``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gatekeeper

ROOT = Path(gatekeeper.__file__).parent
STORE = "gatekeeper.store"

#: The pure modules: the rule, matching, the schedules' policy, the held-out statistics and
#: the decision pipeline work on numbers and the objects they are given.
PURE = (
    "gatekeeper.decision",
    "gatekeeper.recognition",
    "gatekeeper.schedule",
    "gatekeeper.heldout",
    "gatekeeper.verdicts",
)
FRONT_ENDS = ("gatekeeper.cli", "gatekeeper.tui")

#: (who, may not import, why): ``who`` and the forbidden names are modules or packages (a
#: package covers its modules). Type-only imports count here too: a room that names another's
#: types depends on it.
RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (FRONT_ENDS, (STORE,), "the front ends reach the store through the site"),
    (
        (STORE,),
        ("gatekeeper.vision", "gatekeeper.site", *FRONT_ENDS, "gatekeeper.live"),
        "the store keeps bytes and arrays; it knows no layer above it",
    ),
    (
        ("gatekeeper.vision",),
        (STORE, "gatekeeper.site", *FRONT_ENDS, "gatekeeper.live"),
        "vision turns images into faces and embeddings, and stores nothing",
    ),
    (
        ("gatekeeper.site",),
        (*FRONT_ENDS, "gatekeeper.live"),
        "the site is below every UI",
    ),
    (
        PURE,
        (STORE, "gatekeeper.site", "gatekeeper.vision", *FRONT_ENDS),
        "the decision code is pure: it is given the store and the engine",
    ),
    (
        ("gatekeeper.door",),
        ("gatekeeper.site", "gatekeeper.vision", "gatekeeper.live", *FRONT_ENDS),
        "the door is fed decisions and knows nothing of the UI",
    ),
    (
        (
            "gatekeeper.live",
            "gatekeeper.visitors",
            "gatekeeper.evaluate",
            "gatekeeper.anchor",
        ),
        FRONT_ENDS,
        "the workers below the UI never import it",
    ),
    (
        ("gatekeeper.tui",),
        ("gatekeeper.cli",),
        "the console is started by the CLI, not back",
    ),
)


def module_name(path: Path) -> str:
    """``gatekeeper/tui/app.py`` → ``gatekeeper.tui.app``; a package's ``__init__`` is the
    package."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(
    source: str, module: str, *, package: bool = False, types: bool = True
) -> list[tuple[str, str | None]]:
    """Every import of ``source`` (the text of ``module``) at any depth, relative ones
    resolved: ``import a`` as ``("a", None)``, ``from a import b`` as ``("a", "b")`` (``b`` a
    name or a module). Without ``types``, the imports under ``if TYPE_CHECKING:`` are left out."""
    base = module.split(".") if package else module.split(".")[:-1]
    found: list[tuple[str, str | None]] = []
    stack: list[ast.AST] = [ast.parse(source)]
    while stack:
        node = stack.pop()
        if not types and isinstance(node, ast.If) and _type_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                name = ".".join([*base[: len(base) - node.level + 1], *filter(None, [name])])
            found += [(name, alias.name) for alias in node.names]
        stack.extend(ast.iter_child_nodes(node))
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(modules: dict[str, tuple[str, bool]]) -> list[str]:
    """The broken rules of ``modules`` (name → (source, is a package)), one line each."""
    broken = []
    for module, (source, package) in sorted(modules.items()):
        found = imports(source, module, package=package)
        names = {m for m, _ in found} | {f"{m}.{n}" for m, n in found if n}
        for who, forbidden, why in RULES:
            if not within(module, who):
                continue
            hits = {n for n in names if within(n, forbidden)}
            for name in sorted(n for n in hits if n.rpartition(".")[0] not in hits):
                broken.append(f"{module} imports {name}: {why}")
    return broken


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Which of the modules (name → source text) each imports at run time: ``from a import
    b`` is the module ``a.b`` when that is one of them, else ``a``."""
    graph = {}
    for name, text in sources.items():
        edges = set()
        for module, alias in imports(text, name, types=False):
            target = f"{module}.{alias}" if f"{module}.{alias}" in sources else module
            if target in sources:
                edges.add(target)
        graph[name] = edges - {name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order, the first repeated last), or
    None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name) :] + [name]
        if name in done:
            return None
        for imported_name in sorted(graph[name]):
            found = visit(imported_name, [*path, name])
            if found is not None:
                return found
        done.add(name)
        return None

    for name in sorted(graph):
        found = visit(name, [])
        if found is not None:
            return found
    return None


def package_modules() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path): (
            path.read_text(encoding="utf-8"),
            path.name == "__init__.py",
        )
        for path in sorted(ROOT.rglob("*.py"))
    }


def test_every_module_keeps_to_its_room():
    modules = package_modules()
    assert "gatekeeper.site" in modules and "gatekeeper.tui.app" in modules
    assert violations(modules) == []


@pytest.mark.parametrize(
    ("module", "source", "package", "broken"),
    [
        (
            "gatekeeper.tui.app",
            "from gatekeeper.store import Store",
            False,
            "gatekeeper.store",
        ),
        (
            "gatekeeper.cli.people",
            "def later():\n    import gatekeeper.store.names\n",
            False,
            "gatekeeper.store.names",
        ),
        (
            "gatekeeper.store.audit",
            "from ..vision import engine",
            False,
            "gatekeeper.vision",
        ),
        ("gatekeeper.vision", "from .. import store", True, "gatekeeper.store"),
        (
            "gatekeeper.site.people",
            "if TYPE_CHECKING:\n    from gatekeeper.tui import app",
            False,
            "gatekeeper.tui",
        ),
        (
            "gatekeeper.verdicts",
            "from gatekeeper import vision",
            False,
            "gatekeeper.vision",
        ),
    ],
)
def test_a_forbidden_import_is_caught(module, source, package, broken):
    found = violations({module: (source, package)})
    assert found and all(line.startswith(f"{module} imports {broken}") for line in found), found


def test_allowed_imports_pass():
    assert violations({"gatekeeper.tui.app": ("from gatekeeper.site import Site", False)}) == []
    assert violations({"gatekeeper.site.core": ("from gatekeeper.store import Store", False)}) == []


def test_no_store_module_imports_back_into_a_circle() -> None:
    sources = {
        name: source for name, (source, _) in package_modules().items() if within(name, (STORE,))
    }
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
