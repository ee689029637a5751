"""Commands that only look (``people``, ``log``, ``export``, ``audit verify``, ``doctor``) open
the database read-only: they never create, repair or change it, and read a write-protected
evidence copy where it lies. ``audit verify`` also runs SQLite's integrity check."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import seed_database
from helpers import sqlite_dump

LOOKING = ["people", "log", "export -", "audit verify", "schedule list"]


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_mistyped_database_is_not_created(run, bare_home, tmp_path, no_engine):
    typo = tmp_path / "typo.db"
    result = run("--home", bare_home, "--db", typo, "audit", "verify")
    assert (result.code, result.out) == (1, "")
    assert result.err == f"gatekeeper: no database at {typo}\n"
    assert not typo.exists()


@pytest.mark.parametrize("command", [*LOOKING, "threshold 0.5"])
def test_an_empty_database_file_is_refused_and_left_empty(
    run, bare_home, tmp_path, no_engine, command
):
    empty = tmp_path / "empty.db"
    empty.touch()
    result = run("--home", bare_home, "--db", empty, *command.split())
    assert result.code == 1
    assert result.err == (
        f"gatekeeper: no Gatekeeper database at {empty} (the file is empty): nothing to read, "
        "and no new database is made over it (delete it to start a new site)\n"
    )
    assert empty.stat().st_size == 0
    assert _listing(tmp_path) == ["empty.db", "home"]


@pytest.fixture
def evidence(bare_home, tmp_path) -> Iterator[Path]:
    """A write-protected copy (mode 0444, in a 0555 folder) of a seeded database."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    copy = folder / "copy.db"
    copy.write_bytes(seed_database(bare_home).read_bytes())
    copy.chmod(0o444)
    folder.chmod(0o555)
    yield copy
    folder.chmod(0o755)


def test_looking_at_a_write_protected_evidence_copy_changes_nothing(
    run, bare_home, evidence, no_engine
):
    before = evidence.read_bytes()
    base = ["--home", bare_home, "--db", evidence]
    (person,) = json.loads(run(*base, "people", "--json").out)
    assert person["name"] == "Ada Lovelace"
    (row,) = json.loads(run(*base, "log", "--json").out)
    assert row["camera"] == "front"
    assert json.loads(run(*base, "schedule", "list", "--json").out) == []
    audit = run(*base, "audit", "verify")
    assert (audit.code, audit.out) == (
        0,
        "audit chain OK (7 rows, unsigned: without a key a rewrite cannot be told)\n",
    )
    export = run(*base, "export", "-")
    assert export.code == 0
    assert [r["camera_id"] for r in csv.DictReader(io.StringIO(export.out))] == ["front"]
    assert export.err.splitlines() == [
        "exported 1 attempt",
        f"warning: the export is not recorded in the audit log: "
        f"database file is read-only: {evidence}",
    ]
    checks = {c["name"]: c for c in json.loads(run(*base, "doctor", "--json").out)}
    assert checks["database"] == {
        "name": "database",
        "status": "fail",
        "ok": False,
        "detail": f"database file is read-only: {evidence}",
        "hint": checks["database"]["hint"],
    }
    assert evidence.read_bytes() == before
    assert _listing(evidence.parent) == ["copy.db"]


def test_export_of_a_live_site_is_recorded_in_its_audit_log(
    run, bare_home, no_engine, site_database
):
    seed_database(bare_home, site_database.url)
    result = run("--home", bare_home, "export", "-", "--camera", "front")
    assert result.code == 0 and result.err == "exported 1 attempt\n"
    with site_database.raw() as connection:
        (detail,) = connection.execute(
            "SELECT detail FROM admin_event WHERE kind = 'export'"
        ).fetchone()
    assert detail == "1 attempts to <stdout> (camera=front)"
    assert run("--home", bare_home, "audit", "verify").code == 0


def _overwrite_in_index(database: Path, index: str, old: bytes, new: bytes) -> None:
    """Change bytes inside one index's root page only, as a failing disk or a tamperer could."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)
        ).fetchone()
    with open(database, "r+b") as file:
        file.seek((root - 1) * page_size)
        page = file.read(page_size)
        assert page.count(old) == 1, "the value to damage is in the index page once"
        file.seek((root - 1) * page_size)
        file.write(page.replace(old, new))


def test_audit_verify_reports_a_damaged_index_page(run, bare_home, no_engine):
    """SQLite only: a page of the file is damaged where it lies (PostgreSQL's pages are the
    server's; amcheck is run, and finds a sound database, in the crash tests)."""
    database = seed_database(bare_home)
    assert run("--home", bare_home, "audit", "verify").code == 0
    _overwrite_in_index(database, "attempt_camera_id_time", b"front", b"FRONT")
    before = sqlite_dump(database)
    result = run("--home", bare_home, "audit", "verify")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("gatekeeper: database file is corrupt (SQLite integrity check): ")
    assert "attempt_camera_id_time" in result.err and len(result.err.splitlines()) == 1
    report = json.loads(run("--home", bare_home, "audit", "verify", "--json").out)
    assert report["ok"] is False and report["first_break"] is None
    assert any("attempt_camera_id_time" in line for line in report["integrity"])
    assert sqlite_dump(database) == before
