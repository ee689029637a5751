"""``gatekeeper db copy`` from the command line: a site moved to the other backend."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from helpers import DatabaseUnderTest

from gatekeeper.store import open_store


def test_db_copy_moves_a_site_and_says_what_it_verified(
    run, bare_home: Path, database: DatabaseUnderTest, tmp_path: Path, pg_server
) -> None:
    """A SQLite site is copied to PostgreSQL or a PostgreSQL one to SQLite (the fixture's
    backend is the source's), then read on the target through ``--db``; the password in the
    URL is never printed."""
    assert run("--home", bare_home, "--db", database.url, "threshold", "0.55").code == 0
    assert (
        run("--home", bare_home, "--db", database.url, "schedule", "set", "office", "always").code
        == 0
    )
    target = pg_server.create_database() if database.path is not None else str(tmp_path / "c.db")
    copied = run("--home", bare_home, "db", "copy", database.url, target)
    assert copied.code == 0, copied.err
    assert "audit chain OK" in copied.out and "1 schedule" in copied.out
    for url in (database.url, target):
        password = urlsplit(url).password
        assert password is None or password not in copied.out + copied.err
    shown = run("--home", bare_home, "--db", target, "threshold")
    assert shown.code == 0 and "0.55" in shown.out
    with open_store(target, images_dir=bare_home / "images", read_only=True) as store:
        assert store.verify_chain().ok


def test_db_copy_refuses_a_target_with_data_in_one_line(
    run, bare_home: Path, database: DatabaseUnderTest
) -> None:
    assert run("--home", bare_home, "--db", database.url, "threshold", "0.55").code == 0
    refused = run("--home", bare_home, "db", "copy", database.url, database.url)
    assert refused.code == 2
    assert refused.err.startswith("gatekeeper: the target must be a new, empty database")
    password = urlsplit(database.url).password
    assert len(refused.err.strip().splitlines()) == 1
    assert password is None or password not in refused.err


def test_doctor_checks_the_postgresql_server(run, bare_home: Path, pg_server) -> None:
    """doctor names the server's version on a site's database, says an empty one is yet to
    be created, and fails in one line on a wrong password, never showing it."""
    url = pg_server.create_database()
    empty = run("--home", bare_home, "--db", url, "doctor")
    assert "TODO  database:" in empty.out and "no tables yet" in empty.out
    assert run("--home", bare_home, "--db", url, "threshold", "0.55").code == 0
    ready = run("--home", bare_home, "--db", url, "doctor")
    assert re.search(r"OK    database: .*: PostgreSQL \d+\.\d+, schema v\d+", ready.out)
    password = urlsplit(url).password
    wrong = url.replace(f":{password}@", ":not-the-password@")
    refused = run("--home", bare_home, "--db", wrong, "doctor")
    line = next(line for line in refused.out.splitlines() if "database:" in line)
    assert (
        refused.code == 1 and line.startswith("FAIL") and "password authentication failed" in line
    )
    assert "not-the-password" not in refused.out + refused.err
