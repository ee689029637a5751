"""Bad input, table-driven: every case prints exactly one ``gatekeeper: ...`` line on stderr and
no traceback, exits 2 (usage) or 1 (failure), and leaves the database and kept photos exactly
as they were. Cases that fail before recognition run with an engine that refuses any use."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import NoEngine, seed_database
from helpers import sqlite_dump

from gatekeeper import cli
from gatekeeper.cli import opening, people


@dataclass(frozen=True)
class Case:
    """``argv`` after ``--home HOME``, formatted with ``{inputs}`` (the input files' folder,
    made here), ``{probe}`` (the shared probe photos: only the cases that use it need
    ``../shared/data``) and ``{db}`` (a database ``prepare`` made, if any)."""

    id: str
    argv: list[str]
    code: int
    message: str
    engine: bool = False
    prepare: Callable[[Path, Path], Path] | None = field(default=None)


def _read_only_db(seeded: Path, folder: Path) -> Path:
    target = folder / "read-only.db"
    target.write_bytes(seeded.read_bytes())
    target.chmod(0o444)
    return target


def _not_a_database(seeded: Path, folder: Path) -> Path:
    target = folder / "notes.db"
    target.write_text("these are my notes, not a database\n" * 100, encoding="utf-8")
    return target


CASES = [
    Case("missing file", ["enroll", "Bob", "{inputs}/nosuch.jpg"], 1, "nosuch.jpg: no such file"),
    Case("directory for a file", ["identify", "{inputs}"], 1, "is a directory"),
    Case("empty file", ["identify", "{inputs}/empty.jpg"], 1, "empty.jpg: empty file"),
    Case("text file named .jpg", ["enroll", "Bob", "{inputs}/text.jpg"], 1, "not an image"),
    Case("truncated JPEG", ["identify", "{inputs}/truncated.jpg"], 1, "truncated JPEG"),
    Case("truncated JPEG in verify", ["verify", "{inputs}/photo.jpg", "{inputs}/truncated.jpg"],
         1, "truncated JPEG"),
    Case("no face on identify", ["identify", "{inputs}/noface.png"], 1,
         "noface.png: no face found (nothing recorded)", engine=True),
    Case("no face on enroll", ["enroll", "Bob", "{inputs}/noface.png"], 1, "no face found",
         engine=True),
    Case("several faces on enroll", ["enroll", "Kit", "{probe}/kit_with_rose.jpg"], 1,
         "2 faces found, expected one (use --largest", engine=True),
    Case("one bad image of several", ["enroll", "Bob", "{probe}/obama1.jpg", "{inputs}/noface.png"],
         1, "no face found", engine=True),
    Case("empty name", ["enroll", "", "{inputs}/photo.jpg"], 2, "a name cannot be empty"),
    Case("whitespace name", ["enroll", " \t ", "{inputs}/photo.jpg"], 2, "cannot be empty"),
    Case("name too long", ["enroll", "x" * 101, "{inputs}/photo.jpg"], 2,
         "name is too long (101 characters, at most 100)"),
    Case("control character", ["enroll", "Bob\x07", "{inputs}/photo.jpg"], 2,
         "control character U+0007"),
    Case("newline in name", ["enroll", "Bob\nSmith", "{inputs}/photo.jpg"], 2,
         "control character U+000A"),
    Case("slash in name", ["enroll", "../Bob", "{inputs}/photo.jpg"], 2, "cannot contain '/'"),
    Case("backslash in name", ["enroll", "a\\b", "{inputs}/photo.jpg"], 2, "cannot contain '\\\\'"),
    Case("dot-dot name", ["enroll", "..", "{inputs}/photo.jpg"], 2, "is not a valid name"),
    Case("remove unknown name", ["remove", "Nobody", "--yes"], 1, "no such person: Nobody"),
    Case("remove without --yes, no TTY", ["remove", "Ada Lovelace"], 2, "use --yes"),
    Case("deactivate unknown name", ["deactivate", "Nobody"], 1, "no such person: Nobody"),
    Case("read-only database", ["--db", "{db}", "threshold", "0.5"], 1,
         "database file is read-only", prepare=_read_only_db),
    Case("not a database", ["--db", "{db}", "people"], 1, "not a database file",
         prepare=_not_a_database),
    Case("database is a directory", ["--db", "{inputs}", "log"], 1, "database path is a directory"),
    Case("database under a file", ["--db", "{inputs}/empty.jpg/x.db", "threshold", "0.5"], 2,
         "under a file: {inputs}/empty.jpg is not a folder"),
    Case("database under a file, read-only", ["--db", "{inputs}/empty.jpg/x.db", "people"], 2,
         "under a file: {inputs}/empty.jpg is not a folder"),
    Case("home is a file", ["--home", "{inputs}/empty.jpg", "people"], 2, "is not a directory"),
    Case("more votes than the window", ["--votes", "10", "--window", "5", "people"], 2,
         "votes_required (10) cannot exceed votes_window (5)"),
    Case("malformed pairs CSV", ["evaluate", "{inputs}/bad-pairs.csv"], 2,
         "bad-pairs.csv, line 3: unknown label 'maybe'"),
    Case("malformed LFW pairs", ["evaluate", "{inputs}/pairs.txt"], 2,
         "pairs.txt, line 3: expected 'name n1 n2' or 'name1 n1 name2 n2', got 2 fields"),
    Case("unknown --decision", ["log", "--decision", "maybe"], 2,
         "argument --decision: invalid choice: 'maybe'"),
    Case("bad --since", ["log", "--since", "last tuesday"], 2, "not an ISO-8601 date"),
    Case("--since after --until", ["export", "-", "--since", "2026-02-01", "--until", "2026-01-01"],
         2, "is after 'until'"),
    Case("bad --limit", ["log", "--limit", "0"], 2, "must be at least 1"),
    Case("threshold out of range", ["threshold", "5"], 2, "outside the sane range 0.3–0.8"),
    Case("threshold not a number", ["threshold", "high"], 2, "not a number: 'high'"),
    Case("unknown command", ["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    Case("missing config file", ["--config", "{inputs}/nosuch.toml", "people"], 2,
         "config file not found"),
    Case("import a file", ["import", "{inputs}/empty.jpg"], 2, "not a directory"),
    Case("export into a folder", ["export", "{inputs}"], 2, "is a directory, expected a file"),
    Case("export to a missing folder", ["export", "{inputs}/no/such/log.csv"], 1, "cannot write"),
    Case("audit without a command", ["audit"], 2, "audit needs a command: verify"),
]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Bad input files, and a good JPEG with no face (``photo.jpg``), made once."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is a text file, not a photo\n", encoding="utf-8")
    noise = np.random.default_rng(7).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    photo = cv2.imencode(".jpg", noise)[1].tobytes()
    (folder / "photo.jpg").write_bytes(photo)
    (folder / "truncated.jpg").write_bytes(photo[: len(photo) // 2])
    gradient = np.tile(np.linspace(40, 220, 240, dtype=np.uint8), (180, 1))
    cv2.imwrite(str(folder / "noface.png"), np.dstack([gradient] * 3))
    (folder / "bad-pairs.csv").write_text(
        "image1,image2,label\na.jpg,b.jpg,yes\na.jpg,c.jpg,maybe\n", encoding="utf-8"
    )
    (folder / "pairs.txt").write_text("1\nobama\t1\t2\nobama\t1\nbiden\t1\tobama\t1\n")
    return folder


def _state(home: Path, db: Path | None) -> dict:
    """Everything a command could have changed: the databases' rows, the non-database file's
    bytes, the kept photos."""
    photos = home / "images"
    state: dict = {
        "home db": sqlite_dump(home / "data" / "gatekeeper.db"),
        "photos": sorted((str(p), p.read_bytes()) for p in photos.rglob("*") if p.is_file()),
    }
    if db is not None:
        state["db"] = db.read_bytes() if db.name == "notes.db" else sqlite_dump(db)
    return state


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, request, monkeypatch, capsys, tmp_path, inputs):
    home = tmp_path / "home"
    home.mkdir()
    if case.engine:
        (home / "weights").symlink_to(request.getfixturevalue("weights_dir"))
        engine = request.getfixturevalue("engine")
        monkeypatch.setattr(opening, "engine_factory", lambda settings: engine)
    else:
        monkeypatch.setattr(opening, "engine_factory", lambda settings: NoEngine())
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    seeded = seed_database(home)
    db = case.prepare(seeded, tmp_path) if case.prepare else None
    names = {"inputs": inputs, "db": db}
    if any("{probe}" in arg for arg in case.argv):
        names["probe"] = request.getfixturevalue("shared_data") / "faces" / "probe"
    argv = ["--home", str(home), *(a.format(**names) for a in case.argv)]
    before = _state(home, db)
    capsys.readouterr()

    code = cli.main(argv)

    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gatekeeper: ") and case.message.format(**names) in lines[0], err
    assert "Traceback" not in err and "internal error" not in err
    assert code == case.code, err
    assert out == ""
    assert _state(home, db) == before


def test_database_locked_by_another_process(tmp_path, monkeypatch, capsys, site_database):
    home = tmp_path / "home"
    seed_database(home, site_database.url)
    before = site_database.dump()
    with site_database.locked():
        monkeypatch.setattr(opening, "engine_factory", lambda settings: NoEngine())
        monkeypatch.setenv("GATEKEEPER_BUSY_TIMEOUT", "0.3")
        capsys.readouterr()
        code = cli.main(["--home", str(home), "threshold", "0.5"])
        err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        f"gatekeeper: database is locked by another process (waited 0.3 s): {site_database.shown}"
    ]
    assert site_database.dump() == before
    assert cli.main(["--home", str(home), "threshold", "0.5"]) == 0


def test_bad_busy_timeout_environment(bare_home, run, monkeypatch):
    monkeypatch.setenv("GATEKEEPER_BUSY_TIMEOUT", "soon")
    result = run("--home", bare_home, "people")
    assert result.code == 2
    assert result.err == "gatekeeper: GATEKEEPER_BUSY_TIMEOUT: not a number: 'soon'\n"


def test_declined_confirmation_removes_nothing(bare_home, run, monkeypatch):
    database = seed_database(bare_home)
    before = sqlite_dump(database)
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    result = run("--home", bare_home, "remove", "Ada Lovelace")
    assert result.code == 1
    assert result.out.startswith("Erase the encodings, photos and visitor crops of Ada Lovelace?")
    assert result.err == "nothing removed\n"
    assert sqlite_dump(database) == before
    monkeypatch.setattr(sys, "stdin", _Terminal("yes\n"))
    assert run("--home", bare_home, "remove", "Ada Lovelace").code == 0


class _Terminal(io.StringIO):
    """Typed answers on a standard input that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def test_interrupt_exits_130(bare_home, run, monkeypatch):
    def interrupted(args, settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(people, "cmd_people", interrupted)
    result = run("--home", bare_home, "people")
    assert (result.code, result.err) == (130, "gatekeeper: interrupted\n")


def test_unexpected_error_is_one_line(bare_home, run, monkeypatch):
    def broken(args, settings):
        raise RuntimeError("boom")

    monkeypatch.setattr(people, "cmd_people", broken)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    result = run("--home", bare_home, "people")
    assert result.code == 1
    assert result.err.startswith("gatekeeper: internal error: RuntimeError: boom (")
    assert len(result.err.splitlines()) == 1
    assert not os.environ.get(cli.DEBUG_ENV)


def test_a_fifo_named_as_a_photo_is_refused_by_enroll_and_skipped_by_import(
    new_home, process, tmp_path, probe
):
    """Opening a FIFO for reading waits for a writer: ``enroll`` and ``import`` hung on one
    until killed. It is refused from its ``stat``, before it is opened (subprocesses, so that
    a hang is a timeout here, not a stuck test run)."""
    home = new_home(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    os.mkfifo(folder / "bob.jpg")
    (folder / "obama.jpg").write_bytes(probe("obama1.jpg").read_bytes())

    enrolled = process("--home", home, "enroll", "Bob", folder / "bob.jpg", timeout=120)
    assert (enrolled.code, enrolled.err.splitlines()[-1]) == (
        1,
        f"gatekeeper: {folder / 'bob.jpg'}: a FIFO, not a regular file: expected an image file",
    )
    imported = process("--home", home, "import", folder, timeout=120)
    assert imported.code == 0, imported.err
    assert "enrolled  obama: 1 photo" in imported.out, imported.out
    assert f"skipped   {folder / 'bob.jpg'}: " in imported.out
    assert f"{folder / 'bob.jpg'}: a FIFO, not a regular file" in imported.out
    people = process("--home", home, "people", "--json", timeout=120)
    assert '"obama"' in people.out and '"Bob"' not in people.out
