"""The rooms of docs/ARCHITECTURE.md and what each may import, enforced: every module of the
package is parsed with ``ast`` and each of its imports (at the top, inside functions, under
``TYPE_CHECKING``) is held against the rules below."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gatekeeper"

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
#: package covers its modules).
RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("gatekeeper.tui",), ("gatekeeper.store",), "the front ends reach the store through the site"),
    (
        ("gatekeeper.store",),
        ("gatekeeper.vision", "gatekeeper.site", *FRONT_ENDS, "gatekeeper.live"),
        "the store keeps bytes and arrays; it knows no layer above it",
    ),
    (
        ("gatekeeper.vision",),
        ("gatekeeper.store", "gatekeeper.site", *FRONT_ENDS, "gatekeeper.live"),
        "vision turns images into faces and embeddings, and stores nothing",
    ),
    (("gatekeeper.site",), (*FRONT_ENDS, "gatekeeper.live"), "the site is below every UI"),
    (
        PURE,
        ("gatekeeper.store", "gatekeeper.site", "gatekeeper.vision", *FRONT_ENDS),
        "the decision code is pure: it is given the store and the engine",
    ),
    (
        ("gatekeeper.door",),
        ("gatekeeper.site", "gatekeeper.vision", "gatekeeper.live", *FRONT_ENDS),
        "the door is fed decisions and knows nothing of the UI",
    ),
    (
        ("gatekeeper.live", "gatekeeper.visitors", "gatekeeper.evaluate", "gatekeeper.anchor"),
        FRONT_ENDS,
        "the workers below the UI never import it",
    ),
    (("gatekeeper.tui",), ("gatekeeper.cli",), "the console is started by the CLI, not back"),
)


def module_name(path: Path) -> str:
    """``gatekeeper/tui/app.py`` → ``gatekeeper.tui.app``; a package's ``__init__`` is the
    package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, *, package: bool = False) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, relative imports resolved;
    ``from a import b`` counts as ``a`` and as ``a.b`` (``b`` may be a module)."""
    found: set[str] = set()
    base = module.split(".") if package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                name = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(modules: dict[str, tuple[str, bool]]) -> list[str]:
    """The broken rules of ``modules`` (name → (source, is a package)), one line each."""
    broken = []
    for module, (source, package) in sorted(modules.items()):
        imported = imports(source, module, package=package)
        for who, forbidden, why in RULES:
            if not within(module, who):
                continue
            names = {n for n in imported if within(n, forbidden)}
            for name in sorted(n for n in names if n.rpartition(".")[0] not in names):
                broken.append(f"{module} imports {name}: {why}")
    return broken


def package_modules() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in sorted(PACKAGE.rglob("*.py"))
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
            "gatekeeper.tui.app imports gatekeeper.store",
        ),
        (
            "gatekeeper.tui.app",
            "def later():\n    import gatekeeper.store.names\n",
            False,
            "gatekeeper.tui.app imports gatekeeper.store.names",
        ),
        (
            "gatekeeper.store.audit",
            "from ..vision import engine",
            False,
            "gatekeeper.store.audit imports gatekeeper.vision",
        ),
        (
            "gatekeeper.vision",
            "from .. import store",
            True,
            "gatekeeper.vision imports gatekeeper.store",
        ),
        (
            "gatekeeper.site.people",
            "if TYPE_CHECKING:\n    from gatekeeper.tui import app",
            False,
            "gatekeeper.site.people imports gatekeeper.tui",
        ),
        (
            "gatekeeper.verdicts",
            "from gatekeeper import vision",
            False,
            "gatekeeper.verdicts imports gatekeeper.vision",
        ),
    ],
)
def test_a_forbidden_import_is_caught(module, source, package, broken):
    found = violations({module: (source, package)})
    assert found and all(line.startswith(broken) for line in found), found


def test_allowed_imports_pass():
    assert violations({"gatekeeper.tui.app": ("from gatekeeper.site import Site", False)}) == []
    assert violations({"gatekeeper.site.core": ("from gatekeeper.store import Store", False)}) == []
