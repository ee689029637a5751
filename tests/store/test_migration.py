"""Migration from schema v1, built here with raw SQL as v1 Gatekeeper created it, on both
backends (on PostgreSQL as this code's PostgreSQL dialect would have created v1: ``TEXT COLLATE
"C"``, ``DOUBLE PRECISION``, ``BOOLEAN``, ``SERIAL``, ``BYTEA``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from helpers import DatabaseUnderTest

from gatekeeper.errors import StoreError
from gatekeeper.store import SCHEMA_VERSION, AttemptFilter, open_store
from gatekeeper.store.audit import GENESIS_HASH, row_hash

#: Schema v1: v2 without face_encoding.photo_path (v1 kept no photos) and without the
#: attempt(camera_id, time) and attempt(decision, time) indexes.
V1_SCHEMA = """
CREATE TABLE "person" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL,
    "display_name" TEXT NOT NULL, "created" TEXT NOT NULL, "active" INTEGER NOT NULL);
CREATE UNIQUE INDEX "person_name" ON "person" ("name");
CREATE TABLE "face_encoding" ("id" INTEGER NOT NULL PRIMARY KEY, "person_id" INTEGER NOT NULL,
    "model_id" TEXT NOT NULL, "embedding" BLOB NOT NULL, "image_sha256" TEXT NOT NULL,
    "created" TEXT NOT NULL,
    FOREIGN KEY ("person_id") REFERENCES "person" ("id") ON DELETE CASCADE);
CREATE UNIQUE INDEX "face_encoding_person_id_model_id_image_sha256"
    ON "face_encoding" ("person_id", "model_id", "image_sha256");
CREATE INDEX "face_encoding_model_id" ON "face_encoding" ("model_id");
CREATE TABLE "attempt" ("id" INTEGER NOT NULL PRIMARY KEY, "seq" INTEGER NOT NULL,
    "time" TEXT NOT NULL, "camera_id" TEXT NOT NULL, "person_id" INTEGER, "person_name" TEXT,
    "distance" REAL, "threshold" REAL NOT NULL,
    "decision" TEXT NOT NULL CHECK (decision IN ('granted', 'denied', 'unknown')),
    "model_id" TEXT NOT NULL, "box_x" INTEGER, "box_y" INTEGER, "box_w" INTEGER,
    "box_h" INTEGER, "prev_hash" TEXT NOT NULL, "row_hash" TEXT NOT NULL,
    FOREIGN KEY ("person_id") REFERENCES "person" ("id") ON DELETE SET NULL);
CREATE UNIQUE INDEX "attempt_seq" ON "attempt" ("seq");
CREATE INDEX "attempt_time" ON "attempt" ("time");
CREATE INDEX "attempt_person_name_time" ON "attempt" ("person_name", "time");
CREATE INDEX "attempt_person_id_time" ON "attempt" ("person_id", "time");
CREATE TABLE "admin_event" ("id" INTEGER NOT NULL PRIMARY KEY, "seq" INTEGER NOT NULL,
    "time" TEXT NOT NULL, "kind" TEXT NOT NULL, "os_user" TEXT NOT NULL, "detail" TEXT NOT NULL,
    "prev_hash" TEXT NOT NULL, "row_hash" TEXT NOT NULL);
CREATE UNIQUE INDEX "admin_event_seq" ON "admin_event" ("seq");
CREATE INDEX "admin_event_time" ON "admin_event" ("time");
CREATE TABLE "chain_head" ("id" INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    "seq" INTEGER NOT NULL, "hash" TEXT NOT NULL, "signature" TEXT);
CREATE TABLE "setting" ("key" TEXT NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
CREATE TABLE "schema_version" ("version" INTEGER NOT NULL PRIMARY KEY, "applied" TEXT NOT NULL);
"""


#: Schema v1 as the PostgreSQL dialect makes it (see the module docstring).
V1_SCHEMA_POSTGRES = """
CREATE TABLE "person" ("id" SERIAL NOT NULL PRIMARY KEY, "name" TEXT COLLATE "C" NOT NULL,
    "display_name" TEXT COLLATE "C" NOT NULL, "created" TEXT COLLATE "C" NOT NULL,
    "active" BOOLEAN NOT NULL);
CREATE UNIQUE INDEX "person_name" ON "person" ("name");
CREATE TABLE "face_encoding" ("id" SERIAL NOT NULL PRIMARY KEY, "person_id" INTEGER NOT NULL,
    "model_id" TEXT COLLATE "C" NOT NULL, "embedding" BYTEA NOT NULL,
    "image_sha256" TEXT COLLATE "C" NOT NULL, "created" TEXT COLLATE "C" NOT NULL,
    FOREIGN KEY ("person_id") REFERENCES "person" ("id") ON DELETE CASCADE);
CREATE UNIQUE INDEX "face_encoding_person_id_model_id_image_sha256"
    ON "face_encoding" ("person_id", "model_id", "image_sha256");
CREATE INDEX "face_encoding_model_id" ON "face_encoding" ("model_id");
CREATE TABLE "attempt" ("id" SERIAL NOT NULL PRIMARY KEY, "seq" INTEGER NOT NULL,
    "time" TEXT COLLATE "C" NOT NULL, "camera_id" TEXT COLLATE "C" NOT NULL,
    "person_id" INTEGER, "person_name" TEXT COLLATE "C", "distance" DOUBLE PRECISION,
    "threshold" DOUBLE PRECISION NOT NULL,
    "decision" TEXT COLLATE "C" NOT NULL CHECK (decision IN ('granted', 'denied', 'unknown')),
    "model_id" TEXT COLLATE "C" NOT NULL, "box_x" INTEGER, "box_y" INTEGER, "box_w" INTEGER,
    "box_h" INTEGER, "prev_hash" TEXT COLLATE "C" NOT NULL, "row_hash" TEXT COLLATE "C" NOT NULL,
    FOREIGN KEY ("person_id") REFERENCES "person" ("id") ON DELETE SET NULL);
CREATE UNIQUE INDEX "attempt_seq" ON "attempt" ("seq");
CREATE INDEX "attempt_time" ON "attempt" ("time");
CREATE INDEX "attempt_person_name_time" ON "attempt" ("person_name", "time");
CREATE INDEX "attempt_person_id_time" ON "attempt" ("person_id", "time");
CREATE TABLE "admin_event" ("id" SERIAL NOT NULL PRIMARY KEY, "seq" INTEGER NOT NULL,
    "time" TEXT COLLATE "C" NOT NULL, "kind" TEXT COLLATE "C" NOT NULL,
    "os_user" TEXT COLLATE "C" NOT NULL, "detail" TEXT COLLATE "C" NOT NULL,
    "prev_hash" TEXT COLLATE "C" NOT NULL, "row_hash" TEXT COLLATE "C" NOT NULL);
CREATE UNIQUE INDEX "admin_event_seq" ON "admin_event" ("seq");
CREATE INDEX "admin_event_time" ON "admin_event" ("time");
CREATE TABLE "chain_head" ("id" INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    "seq" INTEGER NOT NULL, "hash" TEXT COLLATE "C" NOT NULL, "signature" TEXT COLLATE "C");
CREATE TABLE "setting" ("key" TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    "value" TEXT COLLATE "C" NOT NULL);
CREATE TABLE "schema_version" ("version" INTEGER NOT NULL PRIMARY KEY,
    "applied" TEXT COLLATE "C" NOT NULL)
"""

T0 = "2025-06-01T08:00:00.000000+00:00"
T1 = "2025-06-01T08:00:05.250000+00:00"
EMBEDDING = np.linspace(-0.2, 0.2, 128, dtype=np.float32)


def _make_v1(database: DatabaseUnderTest) -> None:
    """A v1 database with one person, one encoding, an enrol event and an attempt."""
    if database.path is not None:
        database.path.parent.mkdir(parents=True)
    with database.raw() as connection:
        schema = V1_SCHEMA if database.path is not None else V1_SCHEMA_POSTGRES
        for statement in schema.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(
            "INSERT INTO person VALUES (1, 'José Núñez', 'José Núñez', ?, TRUE)", (T0,)
        )
        connection.execute(
            "INSERT INTO face_encoding VALUES (1, 1, 'dlib_resnet_v1', ?, ?, ?)",
            (EMBEDDING.astype("<f4").tobytes(), "ab" * 32, T0),
        )
        event = [T0, "enrol", "operator", "added person José Núñez"]
        event_hash = row_hash("admin_event", 1, GENESIS_HASH, event)
        connection.execute(
            "INSERT INTO admin_event VALUES (1, 1, ?, ?, ?, ?, ?, ?)",
            (*event, GENESIS_HASH, event_hash),
        )
        attempt = [T1, "front-door", "José Núñez", 0.25, 0.6, "granted", "dlib_resnet_v1"]
        attempt += [5, 6, 70, 80]
        attempt_hash = row_hash("attempt", 2, event_hash, attempt)
        connection.execute(
            "INSERT INTO attempt (id, seq, time, camera_id, person_id, person_name, distance, "
            "threshold, decision, model_id, box_x, box_y, box_w, box_h, prev_hash, row_hash) "
            "VALUES (1, 2, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*attempt, event_hash, attempt_hash),
        )
        connection.execute("INSERT INTO chain_head VALUES (1, 2, ?, NULL)", (attempt_hash,))
        connection.execute("INSERT INTO setting VALUES ('gallery_version', '2')")
        connection.execute("INSERT INTO schema_version VALUES (1, ?)", (T0,))
        if database.path is None:  # rows inserted with their ids: move the id sequences on
            for table in ("person", "face_encoding", "attempt", "admin_event"):
                connection.execute(f"SELECT setval('{table}_id_seq', 1)")


def _schema(database: DatabaseUnderTest) -> dict[str, set]:
    """Columns of every table, the indexes and the constraints, as a comparable description
    (constraint names aside: PostgreSQL names a foreign key added by a migration otherwise)."""
    with database.raw() as connection:
        if database.path is not None:
            described: dict[str, set] = {
                table: {row[1:6] for row in connection.execute(f'PRAGMA table_info("{table}")')}
                for table in database.tables()
            }
            described["indexes"] = set(
                connection.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index'")
            )
            return described
        columns = connection.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, "
            "collation_name FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        described = {
            table: {row[1:] for row in columns if row[0] == table} for table in database.tables()
        }
        described["indexes"] = set(
            connection.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            )
        )
        described["constraints"] = set(
            connection.execute(
                "SELECT conrelid::regclass::text, contype, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
            )
        )
        return described


@pytest.fixture
def old(database: DatabaseUnderTest) -> DatabaseUnderTest:
    """A v1 database (see ``_make_v1``)."""
    _make_v1(database)
    return database


@pytest.fixture
def fresh(database: DatabaseUnderTest, tmp_path: Path, request) -> Iterator[DatabaseUnderTest]:
    """Another, empty database of the same backend."""
    if database.path is not None:
        path = tmp_path / "fresh" / "gatekeeper.db"
        yield DatabaseUnderTest("sqlite", str(path), path)
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield DatabaseUnderTest("postgresql", url)
    server.drop_database(url)


def test_v1_database_is_migrated_and_keeps_its_data(
    old: DatabaseUnderTest, fresh: DatabaseUnderTest, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    with open_store(old.url, images_dir=images) as store:
        assert (store.migrated_from, store.schema_version) == (1, SCHEMA_VERSION)
        (person,) = store.list_people()
        assert (person.name, person.encodings, person.photos) == ("José Núñez", 1, 0)
        assert np.array_equal(store.gallery("dlib_resnet_v1").embeddings, EMBEDDING[None])
        (row,) = store.query_attempts(AttemptFilter(camera="front-door", decision="granted"))
        assert (row.person_name, row.distance, row.box) == ("José Núñez", 0.25, (5, 6, 70, 80))
        assert store.list_photos() == []
        report = store.verify_chain()
        assert report.ok and report.rows_checked == 3  # and the state record adopting it
    with open_store(old.url, images_dir=images) as again:
        assert again.migrated_from is None

    open_store(fresh.url, images_dir=images).close()
    assert _schema(old) == _schema(fresh)
    with old.raw() as connection:
        versions = connection.execute("SELECT version FROM schema_version").fetchall()
    assert sorted(versions) == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_migrated_database_records_spoofs_in_the_same_chain(
    old: DatabaseUnderTest, tmp_path: Path
) -> None:
    """v3 → v4 replaces the attempt table's CHECK constraint (SQLite rebuilds the table,
    PostgreSQL drops and adds the constraint): the old rows keep their ids and hashes (the
    chain verifies), a spoof is recorded, and other decisions are still refused by the
    database itself."""
    with open_store(old.url, images_dir=tmp_path / "images") as store:
        store.record_attempt(
            camera_id="front-door",
            name="José Núñez",
            person_id=1,
            distance=0.3,
            threshold=0.6,
            decision="spoof",
            model_id="dlib_resnet_v1",
            box=(1, 2, 30, 40),
        )
        rows = list(store.iter_attempts(AttemptFilter()))
        assert sorted(r.decision for r in rows) == ["granted", "spoof"]
        assert [r.id for r in rows] == [1, 2]
        assert store.verify_chain().ok
    refused = (sqlite3.IntegrityError, psycopg.errors.CheckViolation)
    with pytest.raises(refused, match="CHECK|check constraint"), old.raw() as connection:
        connection.execute("UPDATE attempt SET decision = 'maybe' WHERE id = 1")


def test_migrated_database_keeps_new_photos(old: DatabaseUnderTest, tmp_path: Path) -> None:
    with open_store(old.url, images_dir=tmp_path / "images") as store:
        assert store.add_encoding(
            "José Núñez",
            model_id="dlib_resnet_v1",
            embedding=EMBEDDING,
            image_sha256="cd" * 32,
            photo=b"jpeg",
        )
        (photo,) = store.list_photos()
        assert photo.path.read_bytes() == b"jpeg"
        assert store.verify_chain().ok


def test_a_read_only_open_refuses_an_older_schema_and_leaves_it(
    old: DatabaseUnderTest, tmp_path: Path
) -> None:
    before = old.dump()
    with pytest.raises(StoreError, match="schema v1 is older than this Gatekeeper .*upgraded when"):
        open_store(old.url, images_dir=tmp_path / "images", read_only=True)
    assert old.dump() == before


def test_v5_keeps_everyone_s_access_and_old_hashes(old: DatabaseUnderTest, tmp_path: Path) -> None:
    """v4 → v5 adds schedules, validity dates, reasons and visitor crops: existing people keep
    unlimited access, existing attempts have no reason and still verify."""
    with open_store(old.url, images_dir=tmp_path / "images") as store:
        assert store.verify_chain().ok
        (row,) = store.iter_attempts(AttemptFilter())
        assert row.reason is None
    with old.raw() as connection:
        person = connection.execute(
            "SELECT schedule_id, valid_from, valid_until FROM person"
        ).fetchone()
    assert person == (None, None, None)
    assert {"schedule", "schedule_window", "visitor"} <= set(old.tables())
