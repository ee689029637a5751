"""The same operations on SQLite and on PostgreSQL give the same audit chain, byte for byte:
the same row hashes, head and state records, and the same CSV export. That is what lets a
chain copied from one backend to the other still verify. The PostgreSQL database sorts text
by English rules, as a site's server may."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest
from postgres import Server

from gatekeeper.store import (
    AttemptFilter,
    NewEncoding,
    Store,
    attempts,
    change,
    encodings,
    export_csv,
    open_store,
    people,
)
from gatekeeper.store.models import Attempt

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
MODEL = "dlib_resnet_v1"


@pytest.fixture
def clock(monkeypatch) -> Callable[[], None]:
    """The store's clock, stepping 1.25 ms from ``START`` on every reading; call the returned
    function to start again from ``START``."""
    readings: Iterator[datetime]

    def reset() -> None:
        nonlocal readings
        readings = (START + timedelta(microseconds=1250 * i) for i in range(10**9))

    reset()
    for module in (attempts, change, encodings, people):
        monkeypatch.setattr(module, "utc_now", lambda: next(readings))
    return reset


def _history(store: Store, make_embedding: Callable, sha: Callable) -> None:
    """Every kind of change, with values that differ between engines if anything does: names
    whose code-point order is not their dictionary order, floats without a short decimal form,
    true, false and unknown qualities, empty values."""
    for name in ("Émile", "zoë", "Alice", "王小明", "bob"):
        store.add_person(name)
    qualities = [
        {"face_px": 80, "sharpness": 0.1 + 0.2, "pose": 1 / 3, "detector_score": 1 - 1e-16},
        {"face_px": 31, "sharpness": 1e-300, "pose": 2 / 3, "low_quality": True},
        {"face_px": 120, "sharpness": 123456.789, "detector_score": 0.5, "low_quality": False},
        None,
    ]
    for i, quality in enumerate(qualities):
        photo = f"photo {i}".encode()
        store.add_encodings(
            ("Émile", "zoë", "王小明", "bob")[i],
            [NewEncoding(MODEL, make_embedding(i), sha(photo), photo, ".jpg", quality)],
        )
    store.set_active("bob", False)
    store.set_threshold(0.1 + 0.45)
    for i, distance in enumerate((0.1 + 0.2, 1e-7, 2 / 3, None, 0.6000000000000001)):
        store.record_attempt(
            camera_id=("front-door", "garage")[i % 2],
            name=None if distance is None else "zoë",
            person_id=None,
            distance=distance,
            threshold=0.55,
            decision="unknown" if distance is None else ("granted", "denied")[i % 2],
            model_id=MODEL,
            box=None if i == 2 else (i, 2 * i, 100 + i, 120),
            time=START + timedelta(seconds=i, microseconds=7),
            reason="outside schedule" if i == 1 else None,
        )
    store.remove_person("Alice")
    store.log_admin_event("export", "0 attempts (all attempts)")


def _chain(database: DatabaseUnderTest) -> dict[str, list[tuple]]:
    """The chain as stored: every chained row's table, seq and hashes, the head, and the
    details of the state records."""
    with database.raw() as connection:
        rows = [
            (table, *row)
            for table in ("attempt", "admin_event")
            for row in connection.execute(f"SELECT seq, prev_hash, row_hash FROM {table}")
        ]
        return {
            "rows": sorted(rows, key=lambda row: row[1]),
            "head": connection.execute("SELECT seq, hash, signature FROM chain_head").fetchall(),
            "states": connection.execute(
                "SELECT detail FROM admin_event WHERE kind = 'state' ORDER BY seq"
            ).fetchall(),
        }


def test_both_backends_chain_the_same_history_identically(
    pg_server: Server,
    tmp_path: Path,
    clock: Callable[[], None],
    make_embedding: Callable,
    sha: Callable,
) -> None:
    sqlite = DatabaseUnderTest("sqlite", str(tmp_path / "gk.db"), tmp_path / "gk.db")
    postgresql = DatabaseUnderTest("postgresql", pg_server.create_database(icu_locale="en-US"))
    found = {}
    try:
        for database in (sqlite, postgresql):
            clock()
            images = tmp_path / database.backend
            with open_store(database.url, images_dir=images, audit_key="k") as store:
                _history(store, make_embedding, sha)
                assert store.verify_chain().ok
                out = io.StringIO(newline="")
                export_csv(store, AttemptFilter(), out, destination="log.csv")
                people = [(p.name, p.active, p.encodings, p.quality) for p in store.list_people()]
                gallery = store.gallery(MODEL, include_inactive=True)
            found[database.backend] = (
                _chain(database),
                out.getvalue(),
                people,
                gallery.names,
                gallery.embeddings.tobytes(),
            )
    finally:
        pg_server.drop_database(postgresql.url)
    chain, csv_text, people, names, embeddings = found["sqlite"]
    assert [person[0] for person in people] == ["bob", "zoë", "Émile", "王小明"]  # code points
    assert names == ["bob", "zoë", "Émile", "王小明"]
    assert (len(chain["rows"]), len(chain["states"])) == (32, 13)
    assert found["postgresql"] == found["sqlite"]


def test_rows_copied_in_with_their_ids_are_followed_by_new_ones(
    database: DatabaseUnderTest, images_dir: Path
) -> None:
    """What ``db copy`` relies on: after ``after_bulk_copy``, new rows get ids above the
    copied ones on both backends (PostgreSQL's id sequences do not follow inserted ids)."""
    with open_store(database.url, images_dir=images_dir) as store:
        with database.raw() as connection:
            connection.execute(
                "INSERT INTO attempt (id, seq, time, camera_id, threshold, decision, model_id, "
                "prev_hash, row_hash) VALUES (41, 100, '2026-01-01T00:00:00.000000+00:00', "
                "'door', 0.6, 'unknown', 'dlib_resnet_v1', '', '')"
            )
        store.dialect.after_bulk_copy(store._db, [Attempt])
        attempt = {"camera_id": "door", "name": None, "person_id": None, "distance": None}
        attempt |= {"threshold": 0.6, "decision": "unknown", "model_id": MODEL, "box": None}
        assert store.record_attempt(**attempt) == 42
