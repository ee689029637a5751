"""Opening the database: locations, SQLite settings, PostgreSQL URLs, and one-line errors for
what goes wrong. Tests of files, modes, pragmas, read-only files and full disks are SQLite's
alone (``db_path``); the rest run on both backends (``database``)."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

import peewee
import psycopg
import pytest
from helpers import DatabaseUnderTest
from postgres import Server, with_database

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


def test_data_survives_reopening(database: DatabaseUnderTest, images_dir: Path) -> None:
    with open_store(database.url, images_dir=images_dir) as store:
        store.add_person("王小明")
    with open_store(database.url, images_dir=images_dir, create=False) as store:
        assert [p.name for p in store.list_people()] == ["王小明"]


@pytest.mark.parametrize("prefix", ["sqlite:///", "sqlite:////"])
def test_sqlite_urls(tmp_path: Path, images_dir: Path, prefix: str, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = "rel/gatekeeper.db" if prefix == "sqlite:///" else str(tmp_path / "abs.db")[1:]
    with open_store(prefix + relative, images_dir=images_dir) as store:
        store.add_person("Alice")
        assert store.path.is_file()
        assert store.url == prefix + relative


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("mysql://db/gatekeeper", "unsupported database URL scheme mysql://"),
        ("sqlite:///:memory:", "in-memory databases are not supported"),
        ("sqlite:///x.db?timeout=3", "options are not supported: timeout"),
        ("postgresql://gate@db.example:5432/", "names no database"),
        ("postgres://gate:pw@db.example:5432/", "names no database: postgres"),
        ("postgresql://gate:s3cret@[::1:5432/gk", r"^invalid PostgreSQL URL \(Invalid IPv6 URL\)$"),
    ],
)
def test_unusable_locations(images_dir: Path, database: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        open_store(database, images_dir=images_dir)
    assert "s3cret" not in str(caught.value) and ":pw@" not in str(caught.value)


def test_the_password_is_never_shown(pg_server: Server, images_dir: Path, caplog) -> None:
    url = pg_server.create_database()
    password = psycopg.conninfo.conninfo_to_dict(url)["password"]
    try:
        with open_store(url, images_dir=images_dir, audit_key="k") as store:
            shown = [store.url, repr(store), store.location]
            assert all(password not in text and ":***@" in text for text in shown), shown
            assert (store.backend, store.path) == ("postgresql", None)
            assert store.server_version().startswith("PostgreSQL ")
        keyless = open_store(url, images_dir=images_dir)
        with keyless, pytest.raises(StoreError, match="^refusing to extend the audit") as caught:
            keyless.add_person("Bob")
        assert password not in str(caught.value) + caplog.text
        assert "refused to write" in caplog.text
    finally:
        pg_server.drop_database(url)


def test_postgres_scheme_and_libpq_parameters(pg_server: Server, images_dir: Path) -> None:
    """``postgres://`` is ``postgresql://``, and libpq's own parameters pass through."""
    url = pg_server.create_database()
    try:
        other = "postgres://" + url.split("://", 1)[1] + "?application_name=door-3"
        with open_store(other, images_dir=images_dir) as store:
            store.add_person("Alice")
            (name,) = store._db.execute_sql("SHOW application_name").fetchone()
        assert name == "door-3"
    finally:
        pg_server.drop_database(url)


def test_an_empty_postgresql_database_is_not_read_as_a_site(
    pg_server: Server, images_dir: Path
) -> None:
    url = pg_server.create_database()
    try:
        for options in ({"read_only": True}, {"create": False}):
            with pytest.raises(StoreError, match="\\(the database has no tables\\): nothing to"):
                open_store(url, images_dir=images_dir, **options)
        assert DatabaseUnderTest("postgresql", url).tables() == []
    finally:
        pg_server.drop_database(url)


def test_a_database_not_encoded_in_utf8_is_refused(pg_server: Server, images_dir: Path) -> None:
    name = "gk_sql_ascii"
    with pg_server.admin() as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'SQL_ASCII' LOCALE 'C'")
    try:
        url = with_database(pg_server.app_url, name)
        with pytest.raises(StoreError, match="is encoded SQL_ASCII; Gatekeeper stores names"):
            open_store(url, images_dir=images_dir)
    finally:
        with pg_server.admin() as admin:
            admin.execute(f"DROP DATABASE {name}")


def test_text_is_ordered_by_code_point_whatever_the_locale(
    pg_server: Server, images_dir: Path
) -> None:
    """A database whose collation sorts linguistically (ICU, en-US: a B é Z) still lists
    people in code-point order, as SQLite does, so the state digests agree."""
    url = pg_server.create_database(icu_locale="en-US")
    try:
        with psycopg.connect(url) as connection:
            (order,) = connection.execute(
                "SELECT string_agg(x, ' ' ORDER BY x) FROM (VALUES ('é'), ('a'), ('Z'), ('B')) v(x)"
            ).fetchone()
        assert order == "a B é Z", "the database's own collation is linguistic"
        with open_store(url, images_dir=images_dir) as store:
            for person in ("é", "a", "Z", "B"):
                store.add_person(person)
            assert [p.name for p in store.list_people()] == ["B", "Z", "a", "é"]
            assert store.verify_chain().ok
    finally:
        pg_server.drop_database(url)


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


def test_foreign_database_is_refused(database: DatabaseUnderTest, images_dir: Path) -> None:
    if database.path is not None:
        database.path.parent.mkdir(parents=True)
    with database.raw() as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="not a Gatekeeper database"):
        open_store(database.url, images_dir=images_dir)
    assert database.tables() == ["notes"]


def test_newer_schema_is_refused(database: DatabaseUnderTest, images_dir: Path) -> None:
    open_store(database.url, images_dir=images_dir).close()
    with database.raw() as connection:
        connection.execute("INSERT INTO schema_version VALUES (9, '2030-01-01T00:00:00+00:00')")
    expected = (
        f"database schema v9 is newer than this Gatekeeper (v{SCHEMA_VERSION}); upgrade Gatekeeper"
    )
    with pytest.raises(StoreError) as caught:
        open_store(database.url, images_dir=images_dir)
    assert str(caught.value) == expected


def test_locked_past_the_timeout(
    database: DatabaseUnderTest, images_dir: Path, attempt: Callable
) -> None:
    store = open_store(database.url, images_dir=images_dir, busy_timeout_s=0.3)
    began = time.monotonic()
    with database.locked(), pytest.raises(StoreError) as caught:
        store.record_attempt(**attempt())
    assert time.monotonic() - began >= 0.25
    assert str(caught.value) == (
        f"database is locked by another process (waited 0.3 s): {store.location}"
    )
    store.record_attempt(**attempt())
    assert store.verify_chain().ok
    store.close()


def test_failed_creation_leaves_nothing(
    home: Path, database: DatabaseUnderTest, images_dir: Path, monkeypatch
) -> None:
    real_create = database_module.create_schema

    def create_then_fail(db) -> None:
        real_create(db)
        raise StoreError("disk full: cannot write the database")

    monkeypatch.setattr(database_module, "create_schema", create_then_fail)
    with pytest.raises(StoreError, match="disk full"):
        open_store(database.url, images_dir=images_dir)
    if database.path is not None:
        assert not home.exists()
    else:
        assert database.tables() == [], "the creation transaction was rolled back"


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
    database: DatabaseUnderTest, images_dir: Path, attempt: Callable
) -> None:
    with open_store(database.url, images_dir=images_dir, audit_key="k") as store:
        store.add_person("Alice")
        store.record_attempt(**attempt())
    before = database.dump()
    with open_store(database.url, images_dir=images_dir, read_only=True) as store:
        where = store.location
        assert [p.name for p in store.list_people()] == ["Alice"]
        for write in (lambda: store.add_person("Bob"), lambda: store.record_attempt(**attempt())):
            with pytest.raises(StoreError, match=f"^database is read-only: {re.escape(where)}$"):
                write()
        refused = "attempt to write a readonly database|read-only transaction"
        with pytest.raises((peewee.OperationalError, peewee.InternalError), match=refused):
            store._db.execute_sql("DELETE FROM attempt")
    assert database.dump() == before


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
