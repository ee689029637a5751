"""The state digests (``store/state.py``): each part changes when, and only when, what it covers
changes behind the store's back; the same state has the same digests on both backends and in
any chunking; what a state record is read as. On SQLite but for the comparison of the two
backends, which covers what PostgreSQL does differently (booleans, text order): these tests are
also the mutation runs' (``scripts/mutation.py``), where each costs once per mutant.

``PARTS`` is built once at import; the fixture rebuilds it for each test, so that the queries
under test are the ones ``_parts`` builds now (a mutation run changes them after import)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from helpers import DatabaseUnderTest

from gatekeeper.schedule import parse_windows
from gatekeeper.store import Store, open_store, state


@pytest.fixture(autouse=True)
def parts_as_built_now(monkeypatch) -> None:
    monkeypatch.setattr(state, "PARTS", state._parts())


@pytest.fixture
def database(tmp_path) -> DatabaseUnderTest:
    """A SQLite database to be (``tmp_path/home/data/gatekeeper.db``), as ``database`` of
    ``tests/conftest.py`` gives one."""
    path = tmp_path / "home" / "data" / "gatekeeper.db"
    return DatabaseUnderTest("sqlite", str(path), path)


def _site(store: Store, make_embedding: Callable, sha: Callable) -> None:
    """A small site: a threshold, three people (one inactive, one on a schedule with dates,
    one with dates only), four encodings, two schedules."""
    store.set_threshold(0.55)
    store.set_schedule("staff", parse_windows(["Mon-Fri 07:00-19:00", "Sat 09:00-13:00"]))
    store.set_schedule("closed", parse_windows(["Sun 00:00-01:00"]))
    for seed, name in enumerate(["Zoë", "alice", "Bob", "alice"]):
        store.add_encoding(
            name,
            model_id="dlib_resnet_v1",
            embedding=make_embedding(seed),
            image_sha256=sha(bytes([seed])),
            photo=b"jpeg" + bytes([seed]),
        )
    store.set_active("Bob", False)
    store.assign_schedule("alice", "staff")
    store.set_validity("alice", date(2026, 1, 1), date(2026, 12, 31))
    store.set_validity("Zoë", None, date(2027, 6, 30))


def _current(store: Store, *args, **kwargs) -> state.State:
    """The state as stored now, read in one snapshot as the store reads it."""
    with store.dialect.snapshot(store._db):
        return state.current(store.dialect, store._db, *args, **kwargs)


def _differences(store: Store) -> list[str]:
    return state.differences(_current(store), state.recorded(store._db))


@pytest.fixture
def site(store: Store, make_embedding: Callable, sha: Callable) -> Store:
    _site(store, make_embedding, sha)
    assert _differences(store) == []
    return store


@pytest.mark.parametrize(
    ("sql", "parts"),
    [
        ("UPDATE setting SET value = '0.8' WHERE key = 'threshold'", ["settings"]),
        ("INSERT INTO setting (key, value) VALUES ('liveness', 'off')", ["settings"]),
        ("UPDATE setting SET value = '99' WHERE key = 'gallery_version'", []),
        ("UPDATE person SET display_name = 'Robert' WHERE name = 'Bob'", ["people"]),
        ("UPDATE person SET active = TRUE WHERE name = 'Bob'", ["people"]),
        ("UPDATE person SET name = 'Bobby' WHERE name = 'Bob'", ["people", "encodings"]),
        (
            "UPDATE person SET name = 'Alicia' WHERE name = 'alice'",
            ["people", "encodings", "access"],
        ),
        ("UPDATE person SET created = '2020-01-01T00:00:00.000000+00:00'", []),
        ("UPDATE face_encoding SET model_id = 'facenet_keras_v1' WHERE id = 2", ["encodings"]),
        ("UPDATE face_encoding SET image_sha256 = 'ff' WHERE id = 2", ["encodings"]),
        ("UPDATE face_encoding SET photo_path = 'Bob/x.jpg' WHERE id = 3", ["encodings"]),
        (
            "UPDATE face_encoding SET embedding = "
            "(SELECT embedding FROM face_encoding WHERE id = 1) "
            "WHERE id = 2",
            ["encodings"],
        ),
        ("UPDATE face_encoding SET created = '2020-01-01T00:00:00.000000+00:00'", []),
        ("UPDATE face_encoding SET face_px = 10", []),
        ("DELETE FROM face_encoding WHERE id = 4", ["encodings"]),
        ("UPDATE schedule SET name = 'shut' WHERE name = 'closed'", ["schedules"]),
        ("UPDATE schedule SET name = 'crew' WHERE name = 'staff'", ["schedules", "access"]),
        ("UPDATE schedule SET description = 'x'", []),
        ("UPDATE schedule_window SET weekday = 6 WHERE weekday = 5", ["schedules"]),
        ("UPDATE schedule_window SET start_minute = 360 WHERE weekday = 0", ["schedules"]),
        ("UPDATE schedule_window SET end_minute = 1200 WHERE weekday = 4", ["schedules"]),
        ("DELETE FROM schedule_window WHERE weekday = 5", ["schedules"]),
        (
            "DELETE FROM schedule_window "
            "WHERE schedule_id = (SELECT id FROM schedule WHERE name = 'closed')",
            ["schedules"],
        ),
        ("UPDATE person SET valid_from = '2025-01-01' WHERE name = 'alice'", ["access"]),
        ("UPDATE person SET valid_until = '2027-07-01' WHERE name = 'Zoë'", ["access"]),
        ("UPDATE person SET valid_until = NULL WHERE name = 'Zoë'", ["access"]),
        ("UPDATE person SET valid_from = '2025-01-01' WHERE name = 'Bob'", ["access"]),
        (
            "UPDATE person SET schedule_id = (SELECT id FROM schedule WHERE name = 'closed') "
            "WHERE name = 'alice'",
            ["access"],
        ),
        ("UPDATE person SET schedule_id = NULL WHERE name = 'alice'", ["access"]),
    ],
)
def test_each_part_changes_when_what_it_covers_changes(
    site: Store, database: DatabaseUnderTest, sql: str, parts: list[str]
) -> None:
    with database.raw() as connection:
        connection.execute(sql)
    assert _differences(site) == parts


def test_the_same_state_has_the_same_digests_on_both_backends(
    tmp_path, pg_server, make_embedding: Callable, sha: Callable
) -> None:
    digests = []
    url = pg_server.create_database()
    try:
        for where in (str(tmp_path / "site.db"), url):
            with open_store(where, images_dir=tmp_path / "images") as store:
                _site(store, make_embedding, sha)
                digests.append(_current(store))
    finally:
        pg_server.drop_database(url)
    sqlite, postgresql = digests
    assert sqlite == postgresql


def test_the_digests_do_not_depend_on_how_the_rows_are_read(site: Store, monkeypatch) -> None:
    whole = _current(site)
    monkeypatch.setattr(state, "_CHUNK", 2)
    assert _current(site) == whole
    monkeypatch.setattr(state, "_CHUNK", 1)
    assert _current(site) == whole


def test_the_empty_state_is_the_empty_digests(store: Store) -> None:
    empty = _current(store)
    assert empty.digests == state.EMPTY_DIGESTS
    assert empty.summary == "threshold unset, 0 people (0 active), 0 encodings"
    assert state.differences(empty, None) == []


def test_the_summary_counts_people_active_ones_and_encodings(site: Store) -> None:
    assert _current(site).summary == ("threshold 0.55, 3 people (2 active), 4 encodings")


def test_parts_not_read_are_taken_from_the_state_given(site: Store, database) -> None:
    before = _current(site)
    with database.raw() as connection:
        connection.execute("UPDATE setting SET value = '0.8' WHERE key = 'threshold'")
        connection.execute("UPDATE person SET display_name = 'Robert' WHERE name = 'Bob'")
    people_only = _current(site, ["people"], unchanged=before)
    assert people_only.digests["settings"] == before.digests["settings"]
    assert people_only.digests["people"] != before.digests["people"]
    assert _current(site, ["people"]).digests.keys() == {"people"}


def test_a_record_is_the_summary_and_every_digest_on_one_line(site: Store) -> None:
    now = _current(site)
    digests = " ".join(f"{part}:{now.digests[part]}" for part in state.PARTS)
    assert now.record() == f"threshold 0.55, 3 people (2 active), 4 encodings; {digests}"
    assert list(state.PARTS) == ["settings", "people", "encodings", "schedules", "access"]


def _log_state(database: DatabaseUnderTest, seq: int, detail: str) -> None:
    """A ``state`` event written with the driver (the chain is not the point here)."""
    with database.raw() as connection:
        connection.execute(
            "INSERT INTO admin_event (seq, time, kind, os_user, detail, prev_hash, row_hash) "
            "VALUES (?, '2026-12-01T10:00:00.000000+00:00', 'state', 'root', ?, 'x', 'y')",
            (seq, detail),
        )


def test_the_newest_record_at_or_before_the_head_is_read(site: Store, database) -> None:
    newest = state.recorded(site._db)
    head_seq = site.verify_chain().head_seq
    assert newest.seq == head_seq and state.recorded(site._db, head_seq) == newest
    older = state.recorded(site._db, head_seq - 1)
    assert older.seq < newest.seq and older.digests != newest.digests
    _log_state(database, 1000, _current(site).record())
    assert state.recorded(site._db).seq == 1000
    assert state.recorded(site._db, head_seq) == newest


def test_a_record_from_before_schedules_stands_for_empty_schedules(store: Store, database) -> None:
    old_style = " ".join(f"{part}:{state.EMPTY_DIGESTS[part]}" for part in state.PARTS)
    old_style = old_style.split(" schedules:")[0]
    _log_state(database, 1000, f"threshold unset, 0 people (0 active), 0 encodings; {old_style}")
    record = state.recorded(store._db)
    assert (record.seq, record.digests) == (1000, state.EMPTY_DIGESTS)
    assert _differences(store) == []


def test_a_state_event_that_is_not_a_record_records_nothing(store: Store, database) -> None:
    _log_state(database, 1000, "settings:" + "0" * 64)
    assert state.recorded(store._db).digests == {}
    assert _differences(store) == list(state.PARTS)


def test_no_record_at_all_is_the_empty_state(store: Store, database) -> None:
    with database.raw() as connection:
        connection.execute("DELETE FROM admin_event WHERE kind = 'state'")
    assert state.recorded(store._db) is None
    assert _differences(store) == []
