"""Mutation testing of the code that decides and protects: how many planted slips the tests catch.

Runs mutmut (``pip install -e '.[mutation]'``; configured in ``pyproject.toml``,
``[tool.mutmut]``) over the modules of :data:`TARGETS` with the fast, model-free tests of its
``pytest_add_cli_args_test_selection``, then prints the kill rate per module and every mutant
that survived, as the changed line. Run from anywhere::

    python scripts/mutation.py                      # every module (incremental)
    python scripts/mutation.py --module decision.py # one module, all its mutants re-tested
    python scripts/mutation.py --report             # the table of the last run, no run
    python scripts/mutation.py --fresh              # forget every earlier result first

mutmut copies the package and ``tests/`` into ``mutants/`` and runs pytest there, each mutant
in a forked process with only the tests that reached the mutated function. Its results stay in
``mutants/``: a later run re-tests only the functions whose source changed. mutmut does not
notice changed *tests*, so this script does: when a test file changed since the last run, the
mutants its tests reached are re-tested, and so is every mutant that survived or had no test
(a new test may kill it); when a shared test file changed (``conftest.py``, ``helpers.py``...)
everything is re-tested.

The PostgreSQL cases need a server: ``GATEKEEPER_TEST_POSTGRES_URL``, else a throwaway cluster
is started for the run (``tests/postgres.py``). The run sets ``CI=true``, so a test that would
skip fails instead and mutmut refuses to start rather than count skipped tests as kills.

Survivors judged equivalent (no test can tell them apart from the original) are listed in
``scripts/mutation_equivalents.toml`` by function and changed line, with the reason; they are
counted apart in the table and docs/MEASUREMENTS.md lists them.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
EQUIVALENTS = ROOT / "scripts" / "mutation_equivalents.toml"
#: This script's record of the test files the cached results were reached with.
FINGERPRINT = MUTANTS / "gatekeeper-tests.json"

#: What is mutated, as shown in the table → the mutant names (``module.x_function__mutmut_N``)
#: counted for it. Every file here must be in ``[tool.mutmut] only_mutate``.
TARGETS: dict[str, tuple[str, ...]] = {
    "decision.py": ("gatekeeper.decision.x*",),
    "recognition.py": ("gatekeeper.recognition.x*",),
    "schedule.py": ("gatekeeper.schedule.x*",),
    "store/audit.py": ("gatekeeper.store.audit.x*",),
    "store/state.py": ("gatekeeper.store.state.x*",),
    "store/names.py": ("gatekeeper.store.names.x*",),
    "door/actions.py": ("gatekeeper.door.actions.x*",),
    "door/events.py": ("gatekeeper.door.events.x*",),
    "door/alerts.py": ("gatekeeper.door.alerts.x*",),
    # The lanes: which queue each event of an action waits in (grants apart), and the drops.
    "door/dispatcher.py: lanes": (
        "gatekeeper.door.dispatcher.x__lanes__mutmut_*",
        "gatekeeper.door.dispatcher.xǁ_Laneǁ*",
        "gatekeeper.door.dispatcher.xǁDispatcherǁfire__mutmut_*",
        "gatekeeper.door.dispatcher.xǁDispatcherǁ__init____mutmut_*",
        "gatekeeper.door.dispatcher.xǁDispatcherǁdropped__mutmut_*",
    ),
    "visits.py": ("gatekeeper.visits.x*",),
    # The liveness verdict: the models' logits → the live score that decision.is_live judges.
    "vision/liveness.py: live_score": ("gatekeeper.vision.liveness.x_live_score__mutmut_*",),
}

#: mutmut's exit codes (``mutmut/stats.py``) grouped as the table counts them.
KILLED = {1, 3, 36, 24, -24, 152, 255}  # a test failed, or the mutant made the tests time out
SURVIVED = {0}
NO_TESTS = {33, 5}


@dataclass
class Row:
    """The counts of one target."""

    mutants: int = 0
    killed: int = 0
    equivalent: int = 0
    survived: list[str] = field(default_factory=list)
    no_tests: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Killed mutants over the mutants a test could kill (all but the equivalent ones)."""
        judged = self.mutants - self.equivalent
        return self.killed / judged if judged else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--module",
        action="append",
        choices=sorted(TARGETS),
        metavar="MODULE",
        help=f"only this module, all its mutants re-tested (repeatable): {', '.join(TARGETS)}",
    )
    parser.add_argument("--report", action="store_true", help="print the last results, run nothing")
    parser.add_argument("--fresh", action="store_true", help="delete mutants/ and start over")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="mutants tested at once (default: CPUs)",
    )
    args = parser.parse_args(argv)
    targets = args.module or list(TARGETS)
    if not args.report:
        if args.fresh:
            shutil.rmtree(MUTANTS, ignore_errors=True)
        started = time.monotonic()
        code = run(targets if args.module else None, args.jobs)
        print(f"mutmut ran for {time.monotonic() - started:.0f} s (log: mutants/mutmut.log)")
        if code != 0:
            print(f"mutmut failed (exit {code}); the end of mutants/mutmut.log says why")
            return code
    rows = results(targets)
    if not rows:
        print("no results yet: run without --report first")
        return 1
    print_table(rows)
    print_survivors(rows)
    return 0


def run(targets: list[str] | None, jobs: int) -> int:
    """``mutmut run`` in the project root: of the mutant names of ``targets`` (all re-tested),
    or, with None, of every mutant without a result. Output goes to ``mutants/mutmut.log``."""
    MUTANTS.mkdir(exist_ok=True)
    invalidate_for_changed_tests()
    # mutmut copies tests/ over mutants/tests/; a test file deleted since would stay there.
    shutil.rmtree(MUTANTS / "tests", ignore_errors=True)
    patterns = [p for target in targets for p in TARGETS[target]] if targets else []
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *patterns]
    with postgres_url() as url, open(MUTANTS / "mutmut.log", "w") as log:
        env = {**os.environ, "CI": "true", "GATEKEEPER_TEST_POSTGRES_URL": url}
        env.pop("PYTHONPATH", None)  # mutmut puts mutants/ first; nothing may shadow it
        print(f"mutmut run {' '.join(patterns) or '(every module)'} with {jobs} jobs ...")
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if code.returncode == 0:
        FINGERPRINT.write_text(json.dumps(test_files(), indent=1, sort_keys=True))
    return code.returncode


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """``GATEKEEPER_TEST_POSTGRES_URL``, or a throwaway cluster's for the duration."""
    url = os.environ.get("GATEKEEPER_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from postgres import start_cluster

    print("starting a throwaway PostgreSQL cluster for the run ...")
    server = start_cluster()
    try:
        yield server.admin_url
    finally:
        server.stop()
        shutil.rmtree(server.cluster, ignore_errors=True)


def test_files() -> dict[str, str]:
    """Every file under ``tests/``, relative to the root, → the SHA-256 of its contents."""
    return {
        path.relative_to(ROOT).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((ROOT / "tests").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def invalidate_for_changed_tests() -> None:
    """Reset the cached results that changed tests may have changed (see the module doc)."""
    stats_path = MUTANTS / "mutmut-stats.json"
    if not FINGERPRINT.exists() or not stats_path.exists():
        return
    before, now = json.loads(FINGERPRINT.read_text()), test_files()
    changed = {path for path in before.keys() | now.keys() if before.get(path) != now.get(path)}
    if not changed:
        return
    shared = sorted(p for p in changed if not Path(p).name.startswith("test_"))
    if shared:
        print(f"shared test files changed ({', '.join(shared)}): every mutant is re-tested")
        stats_path.unlink()
        reset_results(lambda name, code: True)
        return
    stats = json.loads(stats_path.read_text())
    changed_ids = {t for t in stats["duration_by_test"] if t.split("::")[0] in changed}
    reached = set()
    for function, tests in stats["tests_by_mangled_function_name"].items():
        if changed_ids & set(tests):
            reached.add(function)
            stats["tests_by_mangled_function_name"][function] = sorted(set(tests) - changed_ids)
    for test in changed_ids:  # mutmut collects the stats of tests it does not know again
        del stats["duration_by_test"][test]
    stats_path.write_text(json.dumps(stats, indent=4))
    print(f"{len(changed)} test file(s) changed: their functions and every survivor re-tested")
    reset_results(lambda name, code: code in SURVIVED | NO_TESTS or function_of(name) in reached)


def function_of(mutant: str) -> str:
    """``gatekeeper.decision.x_is_live__mutmut_3`` → ``gatekeeper.decision.x_is_live``."""
    return re.sub(r"__mutmut_\d+$", "", mutant)


def reset_results(should_reset) -> None:
    for meta in MUTANTS.rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        for name, code in codes.items():
            if code is not None and should_reset(name, code):
                codes[name] = None
        meta.write_text(json.dumps(data, indent=4))


def results(targets: list[str]) -> dict[str, Row]:
    """Each target's counts from mutmut's result files in ``mutants/``."""
    codes: dict[str, int | None] = {}
    for meta in MUTANTS.rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    if not codes:
        return {}
    equivalents = load_equivalents()
    rows = {}
    for target in targets:
        row = Row()
        for name, code in sorted(codes.items(), key=lambda item: natural(item[0])):
            if not any(fnmatch.fnmatchcase(name, p) for p in TARGETS[target]):
                continue
            row.mutants += 1
            if code in KILLED:
                row.killed += 1
            elif code in SURVIVED and equivalents and equivalent(name, equivalents):
                row.equivalent += 1
            elif code in SURVIVED:
                row.survived.append(name)
            elif code in NO_TESTS:
                row.no_tests.append(name)
            else:
                row.other.append(name)
        rows[target] = row
    return rows


def natural(name: str) -> tuple:
    head, _, number = name.rpartition("_")
    return (head, int(number) if number.isdigit() else 0)


def print_table(rows: dict[str, Row]) -> None:
    print()
    columns = (
        "mutants",
        "killed",
        "equivalent",
        "survived",
        "no test",
        "kill rate",
        "killed of all",
    )
    print(f"| module | {' | '.join(columns)} |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for target, row in rows.items():
        lost = len(row.survived) + len(row.other)
        print(
            f"| {target} | {row.mutants} | {row.killed} | {row.equivalent} | {lost} | "
            f"{len(row.no_tests)} | {100 * row.rate:.1f} % | "
            f"{100 * row.killed / max(1, row.mutants):.1f} % |"
        )
    print()
    print(
        "kill rate: killed / (mutants − equivalent); killed of all: killed / mutants; "
        "no test: no selected test reached the mutant"
    )


def print_survivors(rows: dict[str, Row]) -> None:
    for target, row in rows.items():
        lost = [(name, "survived") for name in row.survived]
        lost += [(name, "no test") for name in row.no_tests]
        lost += [(name, "not checked or crashed") for name in row.other]
        if not lost:
            continue
        print(f"\n{target}:")
        for name, status in sorted(lost, key=lambda item: natural(item[0])):
            number = name.rpartition("_")[2]
            print(f"  {readable(name)} #{number} ({status}): {change_of(name)}")


_sources: dict[Path, dict[str, str]] = {}


def mutant_functions(module: str) -> dict[str, str]:
    """The functions of ``module``'s mutated copy in ``mutants/``, name → source."""
    path = MUTANTS / (module.replace(".", "/") + ".py")
    if path not in _sources:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        _sources[path] = {
            node.name: "\n".join(lines[node.lineno - 1 : node.end_lineno])
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
    return _sources[path]


def changed_lines(mutant: str) -> list[str]:
    """The lines the mutant ``module.x_function__mutmut_N`` changed, as ``- old`` / ``+ new``."""
    module, _, name = mutant.rpartition(".")
    functions = mutant_functions(module)
    original_name = re.sub(r"__mutmut_\d+$", "__mutmut_orig", name)
    plain = readable(mutant).rpartition(".")[2]
    original = functions.get(original_name, "").replace(original_name, plain, 1)
    mutated = functions.get(name, "").replace(name, plain, 1)
    diff = difflib.unified_diff(original.splitlines(), mutated.splitlines(), lineterm="", n=0)
    return [
        f"{line[0]} {line[1:].strip()}"
        for line in diff
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]


def readable(mutant: str) -> str:
    """The function a mutant changed, as the source names it: ``….xǁGalleryǁmatch__mutmut_3`` →
    ``….Gallery.match``, ``….x_is_live__mutmut_1`` → ``….is_live``."""
    module, _, name = function_of(mutant).rpartition(".")
    if name.startswith("xǁ"):
        name = ".".join(name[2:].split("ǁ"))
    return f"{module}.{name.removeprefix('x_')}"


def load_equivalents() -> list[dict]:
    """The survivors judged equivalent: each entry's ``function`` (as :func:`readable` names
    it), its ``changes`` (each ``old → new``, the changed lines joined by `` / ``) and the
    ``reason`` no test can tell them from the original."""
    if not EQUIVALENTS.exists():
        return []
    return tomllib.loads(EQUIVALENTS.read_text(encoding="utf-8")).get("equivalent", [])


def change_of(mutant: str) -> str:
    """The mutant's change as one line: ``old → new``."""
    lines = changed_lines(mutant)
    old = " / ".join(line[2:] for line in lines if line.startswith("-"))
    new = " / ".join(line[2:] for line in lines if line.startswith("+"))
    return f"{old} → {new}"


def equivalent(mutant: str, equivalents: list[dict]) -> bool:
    """Whether ``mutant`` is one of ``equivalents``: its function and its change match."""
    function, change = readable(mutant), change_of(mutant)
    return any(e["function"] == function and change in e["changes"] for e in equivalents)


if __name__ == "__main__":
    sys.exit(main())
