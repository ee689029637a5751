"""Opening the database: locations, SQLite settings, and one-line errors for what goes wrong."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

import peewee
import pytest

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.store import SCHEMA_VERSION, open_store
from gatekeeper.store import database as database_module
from gatekeeper.store.backends.sqlite import store_error


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_creates_the_data_folder_and_durable_settings(db_path: Path, images_dir: Path) -> None:
    assert not db_path.parent.exists()
    with open_store(str(db_path), images_dir=images_dir, busy_timeout_s=2.5) as store:
        assert db_path.is_file()
        assert store.schema_version == SCHEMA_VERSION and store.migrated_from is None
        pragma = {
            name: store._db.execute_sql(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 2500,
    }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """The usual umask 022, under which files are created world-readable by default."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_biometric_files_are_the_owners_alone(
    loose_umask, home: Path, db_path: Path, images_dir: Path, make_embedding: Callable
) -> None:
    with open_store(str(db_path), images_dir=images_dir) as store:
        store.add_encoding(
            "Ada",
            model_id="dlib_resnet_v1",
            embedding=make_embedding(1),
            image_sha256="ab" * 32,
            photo=b"a photo",
        )
        wal, shm = Path(f"{db_path}-wal"), Path(f"{db_path}-shm")
        modes = {p.name: _mode(p) for p in (home, db_path.parent, db_path, wal, shm)}
        (photo,) = (images_dir / "Ada").iterdir()
        modes |= {p.name: _mode(p) for p in (images_dir, images_dir / "Ada", photo)}
    assert modes == {
        "home": 0o700,
        "data": 0o700,
        "gatekeeper.db": 0o600,
        "gatekeeper.db-wal": 0o600,
        "gatekeeper.db-shm": 0o600,
        "images": 0o700,
        "Ada": 0o700,
        f"{'ab' * 32}.jpg": 0o600,
    }


def test_existing_folders_keep_their_modes(
    loose_umask, home: Path, db_path: Path, images_dir: Path
) -> None:
    (home / "data").mkdir(parents=True, mode=0o750)
    (home / "data").chmod(0o750)
    open_store(str(db_path), images_dir=images_dir).close()
    assert (_mode(home / "data"), _mode(db_path)) == (0o750, 0o600)


def test_data_survives_reopening(db_path: Path, images_dir: Path) -> None:
    with open_store(str(db_path), images_dir=images_dir) as store:
        store.add_person("王小明")
    with open_store(str(db_path), images_dir=images_dir, create=False) as store:
        assert [p.name for p in store.list_people()] == ["王小明"]


@pytest.mark.parametrize("prefix", ["sqlite:///", "sqlite:////"])
def test_sqlite_urls(tmp_path: Path, images_dir: Path, prefix: str, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = "rel/gatekeeper.db" if prefix == "sqlite:///" else str(tmp_path / "abs.db")[1:]
    with open_store(prefix + relative, images_dir=images_dir) as store:
        store.add_person("Alice")
        assert store.path.is_file()
        assert store.url == prefix + relative


def test_postgresql_url_is_recognised_but_not_implemented(images_dir: Path) -> None:
    with pytest.raises(StoreError, match="^PostgreSQL support is not implemented yet$"):
        open_store("postgresql://gate:secret@db.example:5432/gatekeeper", images_dir=images_dir)


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("mysql://db/gatekeeper", "unsupported database URL scheme mysql://"),
        ("sqlite:///:memory:", "in-memory databases are not supported"),
        ("sqlite:///x.db?timeout=3", "options are not supported: timeout"),
        ("postgresql://gate@db.example:5432/", "names no database"),
    ],
)
def test_unusable_locations(images_dir: Path, database: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_store(database, images_dir=images_dir)


def test_create_false_does_not_create(home: Path, db_path: Path, images_dir: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        open_store(str(db_path), images_dir=images_dir, create=False)
    assert not home.exists()


def test_read_only_file(db_path: Path, images_dir: Path) -> None:
    open_store(str(db_path), images_dir=images_dir).close()
    before = db_path.read_bytes()
    db_path.chmod(0o444)
    with pytest.raises(StoreError, match="^database file is read-only: .*gatekeeper.db$"):
        open_store(str(db_path), images_dir=images_dir)
    assert db_path.read_bytes() == before


def test_read_only_folder_creates_nothing(tmp_path: Path, images_dir: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="folder is read-only"):
            open_store(str(folder / "data" / "g.db"), images_dir=images_dir)
        assert _files(folder) == []
    finally:
        folder.chmod(0o755)


def test_not_a_database_file_is_left_alone(db_path: Path, images_dir: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"name,score\nalice,1\n" * 200)
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match="^not a database file \\(not SQLite\\): "):
        open_store(str(db_path), images_dir=images_dir)
    assert db_path.read_bytes() == before
    assert _files(db_path.parent) == ["gatekeeper.db"]


def test_foreign_sqlite_database_is_refused(db_path: Path, images_dir: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="not a Gatekeeper database"):
        open_store(str(db_path), images_dir=images_dir)


def test_newer_schema_is_refused(db_path: Path, images_dir: Path) -> None:
    open_store(str(db_path), images_dir=images_dir).close()
    with sqlite3.connect(db_path) as connection:
        connection.execute("INSERT INTO schema_version VALUES (9, '2030-01-01T00:00:00+00:00')")
    expected = (
        f"database schema v9 is newer than this Gatekeeper (v{SCHEMA_VERSION}); upgrade Gatekeeper"
    )
    with pytest.raises(StoreError) as caught:
        open_store(str(db_path), images_dir=images_dir)
    assert str(caught.value) == expected


def test_locked_past_the_timeout(db_path: Path, images_dir: Path, attempt: Callable) -> None:
    store = open_store(str(db_path), images_dir=images_dir, busy_timeout_s=0.3)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    began = time.monotonic()
    try:
        with pytest.raises(StoreError) as caught:
            store.record_attempt(**attempt())
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert time.monotonic() - began >= 0.25
    assert str(caught.value).startswith("database is locked by another process (waited 0.3 s)")
    store.record_attempt(**attempt())
    store.close()


def test_failed_creation_leaves_nothing(
    home: Path, db_path: Path, images_dir: Path, monkeypatch
) -> None:
    real_create = database_module.create_schema

    def create_then_fail(db) -> None:
        real_create(db)
        raise StoreError("disk full: cannot write the database")

    monkeypatch.setattr(database_module, "create_schema", create_then_fail)
    with pytest.raises(StoreError, match="disk full"):
        open_store(str(db_path), images_dir=images_dir)
    assert not home.exists()


def test_disk_full_error_is_one_clear_line(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "small.db")
    connection.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.Error) as caught:
        connection.execute("CREATE TABLE t (x BLOB)")
        connection.execute("INSERT INTO t VALUES (zeroblob(100000))")
    error = store_error(caught.value, tmp_path / "small.db", 5.0)
    assert str(error) == f"disk full: cannot write the database {tmp_path / 'small.db'}"


def test_read_only_open_of_a_missing_database_creates_nothing(
    home: Path, db_path: Path, images_dir: Path
) -> None:
    with pytest.raises(StoreError, match="^no database at .*gatekeeper.db$"):
        open_store(str(db_path), images_dir=images_dir, read_only=True)
    assert not home.exists()


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "writable"])
def test_an_empty_file_is_never_made_into_a_new_database(
    db_path: Path, images_dir: Path, read_only: bool
) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    with pytest.raises(StoreError, match="the file is empty\\): nothing to read, and no new"):
        open_store(str(db_path), images_dir=images_dir, read_only=read_only)
    assert db_path.stat().st_size == 0
    assert _files(db_path.parent) == ["gatekeeper.db"]


def _seeded(db_path: Path, images_dir: Path, attempt: Callable) -> bytes:
    """A closed database with a person and an attempt; returns its bytes."""
    with open_store(str(db_path), images_dir=images_dir, audit_key="k") as store:
        store.add_person("Alice")
        store.record_attempt(**attempt())
    return db_path.read_bytes()


def test_a_read_only_store_reads_and_every_write_fails(
    db_path: Path, images_dir: Path, attempt: Callable
) -> None:
    before = _seeded(db_path, images_dir, attempt)
    with open_store(str(db_path), images_dir=images_dir, read_only=True) as store:
        assert [p.name for p in store.list_people()] == ["Alice"]
        for write in (lambda: store.add_person("Bob"), lambda: store.record_attempt(**attempt())):
            with pytest.raises(StoreError, match="^database is read-only: "):
                write()
        with pytest.raises(peewee.OperationalError, match="attempt to write a readonly database"):
            store._db.execute_sql("DELETE FROM attempt")
    assert db_path.read_bytes() == before


def test_a_write_protected_evidence_copy_is_read_where_it_is(
    tmp_path: Path, db_path: Path, images_dir: Path, attempt: Callable
) -> None:
    before = _seeded(db_path, images_dir, attempt)
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    copy = evidence / "copy.db"
    copy.write_bytes(before)
    copy.chmod(0o444)
    evidence.chmod(0o555)
    try:
        with open_store(str(copy), images_dir=images_dir, read_only=True, audit_key="k") as store:
            assert store.verify_chain().ok
            assert store.integrity_problems() == []
            assert len(store.list_people()) == 1
        assert _files(evidence) == ["copy.db"], "not even a -shm file beside the evidence"
        assert copy.read_bytes() == before
    finally:
        evidence.chmod(0o755)


def test_a_full_disk_reports_the_cause_not_the_failed_rollback(
    db_path: Path, images_dir: Path, attempt: Callable
) -> None:
    with open_store(str(db_path), images_dir=images_dir) as store:
        (pages,) = store._db.execute_sql("PRAGMA page_count").fetchone()
        store._db.execute_sql(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError) as caught:
            for _ in range(1000):
                store.record_attempt(**attempt(camera_id="x" * 500))
        assert str(caught.value) == f"disk full: cannot write the database {db_path}"
        store._db.execute_sql(f"PRAGMA max_page_count = {10 * pages}")
        store.record_attempt(**attempt())
        assert store.verify_chain().ok
