"""Migration from schema v1, built here with raw SQL as v1 Gatekeeper created it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

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

T0 = "2025-06-01T08:00:00.000000+00:00"
T1 = "2025-06-01T08:00:05.250000+00:00"
EMBEDDING = np.linspace(-0.2, 0.2, 128, dtype=np.float32)


def _make_v1(path: Path) -> None:
    """A v1 database with one person, one encoding, an enrol event and an attempt."""
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.executescript(V1_SCHEMA)
    connection.execute("INSERT INTO person VALUES (1, 'José Núñez', 'José Núñez', ?, 1)", (T0,))
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
    connection.commit()
    connection.close()


def _schema(path: Path) -> dict[str, set]:
    """Columns of every table and the indexes, as a comparable description."""
    connection = sqlite3.connect(path)
    tables = [
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    ]
    described: dict[str, set] = {
        table: {row[1:6] for row in connection.execute(f'PRAGMA table_info("{table}")')}
        for table in tables
    }
    described["indexes"] = {
        row
        for row in connection.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index'")
    }
    connection.close()
    return described


def test_v1_database_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    old = tmp_path / "old" / "gatekeeper.db"
    _make_v1(old)
    images = tmp_path / "images"
    with open_store(str(old), images_dir=images) as store:
        assert (store.migrated_from, store.schema_version) == (1, SCHEMA_VERSION)
        (person,) = store.list_people()
        assert (person.name, person.encodings, person.photos) == ("José Núñez", 1, 0)
        assert np.array_equal(store.gallery("dlib_resnet_v1").embeddings, EMBEDDING[None])
        (row,) = store.query_attempts(AttemptFilter(camera="front-door", decision="granted"))
        assert (row.person_name, row.distance, row.box) == ("José Núñez", 0.25, (5, 6, 70, 80))
        assert store.list_photos() == []
        report = store.verify_chain()
        assert report.ok and report.rows_checked == 3  # and the state record adopting it
    with open_store(str(old), images_dir=images) as again:
        assert again.migrated_from is None

    fresh = tmp_path / "fresh" / "gatekeeper.db"
    open_store(str(fresh), images_dir=images).close()
    assert _schema(old) == _schema(fresh)
    versions = sqlite3.connect(old).execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def _table_sql(path: Path, name: str) -> str:
    connection = sqlite3.connect(path)
    (sql,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    connection.close()
    return sql


def test_migrated_database_records_spoofs_in_the_same_chain(tmp_path: Path) -> None:
    """v3 → v4 rebuilds the attempt table for the new CHECK constraint: the old rows keep their
    ids and hashes (the chain verifies), a spoof is recorded, and other decisions are still
    refused by SQLite itself."""
    old = tmp_path / "old" / "gatekeeper.db"
    _make_v1(old)
    with open_store(str(old), images_dir=tmp_path / "images") as store:
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
        assert store.verify_chain().ok
    assert "'spoof'" in _table_sql(old, "attempt")
    connection = sqlite3.connect(old)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        connection.execute("UPDATE attempt SET decision = 'maybe' WHERE id = 1")
    connection.close()


def test_migrated_database_keeps_new_photos(tmp_path: Path) -> None:
    old = tmp_path / "old" / "gatekeeper.db"
    _make_v1(old)
    with open_store(str(old), images_dir=tmp_path / "images") as store:
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


def test_a_read_only_open_refuses_an_older_schema_and_leaves_it(tmp_path: Path) -> None:
    old = tmp_path / "old" / "gatekeeper.db"
    _make_v1(old)
    before = old.read_bytes()
    with pytest.raises(StoreError, match="schema v1 is older than this Gatekeeper .*upgraded when"):
        open_store(str(old), images_dir=tmp_path / "images", read_only=True)
    assert old.read_bytes() == before


def test_v5_keeps_everyone_s_access_and_old_hashes(tmp_path: Path) -> None:
    """v4 → v5 adds schedules, validity dates, reasons and visitor crops: existing people keep
    unlimited access, existing attempts have no reason and still verify."""
    old = tmp_path / "old" / "gatekeeper.db"
    _make_v1(old)
    with open_store(str(old), images_dir=tmp_path / "images") as store:
        assert store.verify_chain().ok
        (row,) = store.iter_attempts(AttemptFilter())
        assert row.reason is None
    connection = sqlite3.connect(old)
    person = connection.execute(
        "SELECT schedule_id, valid_from, valid_until FROM person"
    ).fetchone()
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert person == (None, None, None)
    assert {"schedule", "schedule_window", "visitor"} <= tables
