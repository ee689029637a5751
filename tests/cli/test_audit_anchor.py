"""``gatekeeper audit head``, ``audit verify --anchor`` and the ``[audit_anchor]`` config from
the command line, on both backends (issue 19, findings 2 and 3): a rolled-back database is
caught against the heads the site kept, a signed chain verified without its key is not called
OK, and ``db copy`` of a signed chain needs the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest, rehash_chain, sqlite_backup

KEY = "the-site-key-kept-off-the-disk"


@pytest.fixture
def keyed(monkeypatch) -> None:
    monkeypatch.setenv("GATEKEEPER_AUDIT_KEY", KEY)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside the site's home, for the anchor file."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.fixture
def anchored(tmp_path: Path, elsewhere: Path) -> tuple[Path, Path]:
    """A config whose ``[audit_anchor]`` keeps the head in ``elsewhere/heads.jsonl``."""
    config = tmp_path / "gatekeeper.toml"
    keep = elsewhere / "heads.jsonl"
    config.write_text(f'[audit_anchor]\nfile = "{keep}"\n')
    return config, keep


def _changes(run, home: Path, config: Path, *values: str) -> None:
    for value in values:
        done = run("--home", home, "--config", config, "threshold", value)
        assert done.code == 0, done.err


def _head(database: DatabaseUnderTest) -> tuple[int, str, str | None]:
    with database.raw() as connection:
        return connection.execute("SELECT seq, hash, signature FROM chain_head").fetchone()


def _older_copy(run, home: Path, database: DatabaseUnderTest, tmp_path: Path, pg_server) -> str:
    """The site's database copied aside as it is now: the SQLite file itself (SQLite's
    backup), or a PostgreSQL database made by ``db copy``."""
    if database.path is not None:
        sqlite_backup(database.path, tmp_path / "older.db")
        return str(tmp_path / "older.db")
    aside = pg_server.create_database()
    copied = run("--home", home, "db", "copy", database.url, aside)
    assert copied.code == 0, copied.err
    return aside


def test_an_older_copy_put_back_is_caught_by_the_kept_heads(
    run, bare_home, site_database, keyed, anchored, tmp_path, pg_server
) -> None:
    config, keep = anchored
    _changes(run, bare_home, config, "0.55")
    aside = _older_copy(run, bare_home, site_database, tmp_path, pg_server)
    _changes(run, bare_home, config, "0.56", "0.57")
    assert stat_mode(keep) == 0o600 and len(keep.read_text().splitlines()) == 3
    alone = run("--home", bare_home, "--db", aside, "audit", "verify")
    assert alone.code == 0 and "signature valid" in alone.out, "a signed rollback verifies alone"
    caught = run("--home", bare_home, "--db", aside, "audit", "verify", "--anchor", keep)
    assert caught.code == 4
    assert caught.err.startswith(f"gatekeeper: audit chain ROLLED BACK: {keep} line 3 kept seq 7")
    assert "the chain ends at seq 3" in caught.err
    report = json.loads(
        run("--home", bare_home, "--db", aside, "audit", "verify", "--anchor", keep, "--json").out
    )
    assert (report["status"], report["ok"], report["kept_heads"]) == ("rolled_back", False, 3)
    live = run("--home", bare_home, "audit", "verify", "--anchor", keep)
    assert (live.code, live.out) == (
        0,
        "audit chain OK (7 rows, signature valid; matches 3 kept head(s))\n",
    )


def test_newest_rows_deleted_and_an_older_head_put_back_are_caught_then_diverge(
    run, bare_home, site_database, keyed, anchored
) -> None:
    config, keep = anchored
    _changes(run, bare_home, config, "0.55")
    seq, head_hash, signature = _head(site_database)
    _changes(run, bare_home, config, "0.56")
    with site_database.raw() as connection:
        connection.execute("DELETE FROM admin_event WHERE seq > ?", (seq,))
        connection.execute(
            "UPDATE chain_head SET seq = ?, hash = ?, signature = ?", (seq, head_hash, signature)
        )
        connection.execute("UPDATE setting SET value = '0.55' WHERE key = 'threshold'")
    assert run("--home", bare_home, "audit", "verify").code == 0, "alone it cannot be told"
    caught = run("--home", bare_home, "audit", "verify", "--anchor", keep)
    assert caught.code == 4 and "ROLLED BACK" in caught.err, caught.err
    _changes(run, bare_home, config, "0.58", "0.59")  # signed on top of the restored head
    assert run("--home", bare_home, "audit", "verify").code == 0
    diverged = run("--home", bare_home, "audit", "verify", "--anchor", keep)
    assert diverged.code == 5
    assert diverged.err.startswith(
        f"gatekeeper: audit chain DIVERGED from a kept head: {keep} line 2 kept seq 5 with hash"
    )


def test_audit_head_prints_what_to_keep_and_its_json_is_an_anchor_line(
    run, bare_home, site_database, keyed, elsewhere
) -> None:
    assert run("--home", bare_home, "threshold", "0.55").code == 0
    seq, head_hash, signature = _head(site_database)
    shown = run("--home", bare_home, "audit", "head")
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[0] == f"seq        {seq}" and lines[1] == f"hash       {head_hash}"
    assert lines[2].startswith("time       20") and lines[3] == f"signature  {signature}"
    printed = run("--home", bare_home, "audit", "head", "--json").out
    assert printed.count("\n") == 1
    record = json.loads(printed)
    assert (record["seq"], record["hash"], record["signature"]) == (seq, head_hash, signature)
    keep = elsewhere / "by-hand.jsonl"
    keep.write_text(printed)
    assert run("--home", bare_home, "audit", "verify", "--anchor", keep).code == 0


def test_audit_head_refuses_a_head_its_key_does_not_sign(
    run, bare_home, site_database, keyed
) -> None:
    assert run("--home", bare_home, "threshold", "0.55").code == 0
    with site_database.raw() as connection:
        connection.execute("UPDATE chain_head SET signature = ?", ("0" * 64,))
    refused = run("--home", bare_home, "audit", "head")
    assert refused.code == 1 and refused.out == ""
    assert refused.err.startswith("gatekeeper: the head signature does not match")


def test_an_anchor_file_that_is_not_one_is_a_usage_error(
    run, bare_home, site_database, elsewhere
) -> None:
    assert run("--home", bare_home, "threshold", "0.55").code == 0
    missing = run("--home", bare_home, "audit", "verify", "--anchor", elsewhere / "none.jsonl")
    assert missing.code == 2 and "no such file" in missing.err
    junk = elsewhere / "junk.jsonl"
    junk.write_text("hello\n")
    refused = run("--home", bare_home, "audit", "verify", "--anchor", junk)
    assert refused.code == 2 and f"{junk} line 1: not a kept head" in refused.err


def _forge(database: DatabaseUnderTest) -> None:
    with database.raw() as connection:
        connection.execute("UPDATE admin_event SET detail = '0.6 -> 0.99' WHERE kind = 'threshold'")
        rehash_chain(connection)


def test_keyless_verification_of_a_forged_signed_chain_is_not_ok(
    run, bare_home, site_database, monkeypatch
) -> None:
    monkeypatch.setenv("GATEKEEPER_AUDIT_KEY", KEY)
    assert run("--home", bare_home, "threshold", "0.55").code == 0
    _forge(site_database)
    assert run("--home", bare_home, "audit", "verify").code == 1
    monkeypatch.delenv("GATEKEEPER_AUDIT_KEY")
    keyless = run("--home", bare_home, "audit", "verify")
    assert keyless.code == 3 and keyless.out == ""
    assert keyless.err.startswith("gatekeeper: audit chain NOT VERIFIED: its 3 rows hash correctly")
    assert "the signature was not checked" in keyless.err
    report = json.loads(run("--home", bare_home, "audit", "verify", "--json").out)
    assert (report["status"], report["ok"], report["signed"]) == ("unchecked", False, True)


def test_db_copy_of_a_signed_chain_needs_the_key(
    run, bare_home, site_database, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("GATEKEEPER_AUDIT_KEY", KEY)
    assert run("--home", bare_home, "threshold", "0.55").code == 0
    _forge(site_database)
    target = tmp_path / "moved" / "copy.db"
    monkeypatch.delenv("GATEKEEPER_AUDIT_KEY")
    keyless = run("--home", bare_home, "db", "copy", site_database.url, target)
    assert keyless.code == 2 and not target.exists()
    assert keyless.err.startswith("gatekeeper: the source's audit log is signed: db copy needs")
    monkeypatch.setenv("GATEKEEPER_AUDIT_KEY", KEY)
    forged = run("--home", bare_home, "db", "copy", site_database.url, target)
    assert forged.code == 1 and not target.exists()
    assert "not copied: the source's audit chain cannot be vouched for" in forged.err


def test_doctor_lists_the_anchor_and_fails_on_a_missing_folder(
    run, bare_home, tmp_path, elsewhere
) -> None:
    config = tmp_path / "anchor.toml"
    config.write_text(
        f'[audit_anchor]\nfile = "{elsewhere / "heads.jsonl"}"\nevery_attempts = 20\n'
    )
    ready = run("--home", bare_home, "--config", config, "--mute", "doctor")
    line = next(line for line in ready.out.splitlines() if "anchor:" in line)
    assert line == (
        f"OK    anchor: file {elsewhere / 'heads.jsonl'}; on every admin event, every 20 "
        "attempts and every 10 min when the head moved"
    )
    config.write_text(f'[audit_anchor]\nfile = "{tmp_path / "gone" / "heads.jsonl"}"\n')
    broken = run("--home", bare_home, "--config", config, "--mute", "doctor")
    line = next(line for line in broken.out.splitlines() if "anchor:" in line)
    assert broken.code == 1 and line.startswith("FAIL") and f"{tmp_path / 'gone'}: no such" in line


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777
