"""The state digests of a known state, on both backends, computed here from their definition
(``gatekeeper.store.state``: SHA-256 of the part's name and the compact JSON array of its rows,
in a fixed order), with rows written out of that order by SQL; what ``verify_chain`` and
``state_problem`` say, word for word, when each part is changed by SQL, when no state record
covers the state, and when the rows from the state record to the head are not intact.

``PARTS`` is built once at import; the fixture rebuilds it for each test, so that the queries
under test are the ones ``_parts`` builds now (a mutation run changes them after import)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from helpers import DatabaseUnderTest

from gatekeeper.schedule import parse_windows
from gatekeeper.store import Store, open_store, state
from gatekeeper.store.audit import (
    CHAINED_COLUMNS,
    GENESIS_HASH,
    STATE_CHANGED,
    ChainBreak,
    ChainReport,
    Head,
    row_hash,
)

NOW = "2026-12-01T10:00:00.000000+00:00"


@pytest.fixture(autouse=True)
def parts_as_built_now(monkeypatch) -> None:
    monkeypatch.setattr(state, "PARTS", state._parts())


def _digest(part: str, rows: list[list]) -> str:
    text = part + json.dumps(rows, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fill(connection, orphan: bool) -> None:
    """A state written by SQL, each table's rows in an order other than the digest's."""
    run = connection.execute
    run("INSERT INTO setting (key, value) VALUES ('zone', 'Zürich')")
    run("INSERT INTO setting (key, value) VALUES ('threshold', '0.55')")
    run("INSERT INTO setting (key, value) VALUES ('alpha', '1')")
    for schedule_id, name in [(1, "zeta"), (2, "empty"), (3, "alpha")]:
        run(
            "INSERT INTO schedule (id, name, description, created) VALUES (?, ?, 'x', ?)",
            (schedule_id, name, NOW),
        )
    for schedule_id, weekday, start, end in [
        (1, 4, 600, 700),
        (1, 4, 10, 20),
        (1, 0, 60, 70),
        (1, 0, 30, 90),
        (1, 0, 30, 60),
        (3, 2, 0, 1440),
    ]:
        run(
            "INSERT INTO schedule_window (schedule_id, weekday, start_minute, end_minute) "
            "VALUES (?, ?, ?, ?)",
            (schedule_id, weekday, start, end),
        )
    for person_id, name, shown, active, schedule_id, valid_from, valid_until in [
        (1, "zed", "Zed", True, 1, None, None),
        (2, "Émile", "Émile Zola", True, None, None, "2027-06-30"),
        (3, "bob", "Bob", True, None, None, None),
        (4, "Amy", "Amy Pond", False, None, "2026-01-01", None),
    ]:
        run(
            "INSERT INTO person (id, name, display_name, created, active, schedule_id, "
            "valid_from, valid_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, name, shown, NOW, active, schedule_id, valid_from, valid_until),
        )
    encodings = [
        (7, 1, "sface_v1", b"\x07\x00", "aa", "zed/1.jpg"),
        (3, 4, "dlib", b"\x03", "bb", None),
    ]
    if orphan:  # a template whose person row is gone (SQLite: the driver's foreign keys are off)
        encodings.append((5, 99, "dlib", b"\x05", "cc", None))
    for encoding_id, person_id, model_id, blob, image, photo in encodings:
        run(
            "INSERT INTO face_encoding (id, person_id, model_id, embedding, image_sha256, "
            "photo_path, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (encoding_id, person_id, model_id, blob, image, photo, NOW),
        )


def test_a_known_state_has_the_digests_its_definition_gives(
    keyed_store: Store, database: DatabaseUnderTest, monkeypatch
) -> None:
    orphan = database.path is not None
    with database.raw() as connection:
        _fill(connection, orphan)
    encodings = [["Amy", "dlib", "bb", None, _sha(b"\x03")]]
    if orphan:
        encodings.append([None, "dlib", "cc", None, _sha(b"\x05")])
    encodings.append(["zed", "sface_v1", "aa", "zed/1.jpg", _sha(b"\x07\x00")])
    expected = {
        "settings": _digest(
            "settings", [["alpha", "1"], ["threshold", "0.55"], ["zone", "Zürich"]]
        ),
        "people": _digest(
            "people",
            [
                ["Amy", "Amy Pond", 0],
                ["bob", "Bob", 1],
                ["zed", "Zed", 1],
                ["Émile", "Émile Zola", 1],
            ],
        ),
        "encodings": _digest("encodings", encodings),
        "schedules": _digest(
            "schedules",
            [
                ["alpha", 2, 0, 1440],
                ["empty", None, None, None],
                ["zeta", 0, 30, 60],
                ["zeta", 0, 30, 90],
                ["zeta", 0, 60, 70],
                ["zeta", 4, 10, 20],
                ["zeta", 4, 600, 700],
            ],
        ),
        "access": _digest(
            "access",
            [
                ["Amy", None, "2026-01-01", None],
                ["zed", "zeta", None, None],
                ["Émile", None, None, "2027-06-30"],
            ],
        ),
    }
    for chunk in (state._CHUNK, 2, 1):  # read whole, and a few rows at a time
        monkeypatch.setattr(state, "_CHUNK", chunk)
        with keyed_store.dialect.snapshot(keyed_store._db):
            now = state.current(keyed_store.dialect, keyed_store._db)
        assert now.digests == expected, chunk
    count = 3 if orphan else 2
    assert now.summary == f"threshold 0.55, 4 people (3 active), {count} encodings"
    assert {part: _digest(part, []) for part in expected} == state.EMPTY_DIGESTS


def _enrolled(store: Store) -> None:
    """A site whose every part holds something, changed through the store, after an attempt
    (so that the admin events' ids are not their seqs)."""
    store.record_attempt(
        camera_id="door",
        name=None,
        person_id=None,
        distance=None,
        threshold=0.6,
        decision="unknown",
        model_id="dlib",
        box=None,
    )
    store.set_threshold(0.55)
    store.set_schedule("staff", parse_windows(["Mon-Fri 07:00-19:00", "Sat 09:00-13:00"]))
    store.add_person("Alice", "Alice A.")
    store.add_person("Bob")
    embedding = np.linspace(-0.2, 0.2, 128, dtype=np.float32)
    store.add_encoding("Alice", model_id="dlib", embedding=embedding, image_sha256="a" * 64)
    store.assign_schedule("Bob", "staff")


NAMES = {
    "settings": ("setting", "the settings (the threshold)"),
    "people": ("person", "the people (names, display names, active flags)"),
    "encodings": ("face_encoding", "the gallery (encodings)"),
    "schedules": ("schedule_window", "the access schedules (names, windows)"),
    "access": ("person", "the people's access (schedules, validity dates)"),
}


@pytest.mark.parametrize(
    ("sql", "parts"),
    [
        ("UPDATE setting SET value = '0.9' WHERE key = 'threshold'", ["settings"]),
        ("UPDATE person SET display_name = 'Al' WHERE name = 'Alice'", ["people"]),
        ("UPDATE person SET active = FALSE WHERE name = 'Bob'", ["people"]),
        ("UPDATE face_encoding SET model_id = 'sface_v1'", ["encodings"]),
        ("UPDATE face_encoding SET image_sha256 = 'ff'", ["encodings"]),
        ("UPDATE face_encoding SET photo_path = 'Alice/1.jpg'", ["encodings"]),
        ("UPDATE face_encoding SET embedding = ?", ["encodings"]),
        (
            "UPDATE face_encoding SET person_id = (SELECT id FROM person WHERE name = 'Bob')",
            ["encodings"],
        ),
        ("UPDATE schedule_window SET end_minute = 1200 WHERE weekday = 0", ["schedules"]),
        ("UPDATE person SET valid_until = '2030-01-01' WHERE name = 'Bob'", ["access"]),
        ("UPDATE person SET schedule_id = NULL WHERE name = 'Bob'", ["access"]),
        ("UPDATE person SET name = 'Robert' WHERE name = 'Bob'", ["people", "access"]),
        (
            "UPDATE setting SET value = '0.9'; UPDATE person SET active = FALSE",
            ["settings", "people"],
        ),
    ],
)
def test_each_part_changed_by_sql_is_named_by_verify_and_by_the_decision_check(
    keyed_store: Store, database: DatabaseUnderTest, sql: str, parts: list[str]
) -> None:
    _enrolled(keyed_store)
    with database.raw() as connection:
        row_id, seq = connection.execute(
            "SELECT id, seq FROM admin_event WHERE kind = 'state' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    record = state.recorded(keyed_store._db)
    head_seq = keyed_store.verify_chain().head_seq
    assert (record.row_id, record.seq) == (row_id, seq)
    assert record.seq == head_seq and keyed_store.state_problem() is None
    with database.raw() as connection:
        for statement in sql.split("; "):
            connection.execute(statement, (bytes(511),) if "?" in statement else ())
    what = ", ".join(NAMES[part][1] for part in parts)
    found = ChainBreak(
        NAMES[parts[0]][0],
        None,
        record.seq,
        STATE_CHANGED,
        f"{what} differ from the state recorded by admin_event #{record.row_id}",
    )
    assert keyed_store.verify_chain() == ChainReport(False, head_seq, head_seq, True, found, True)
    assert keyed_store.state_problem() == f"{what} differ from the audit log's state record"


def test_a_state_no_record_covers_is_told_apart(database: DatabaseUnderTest, tmp_path) -> None:
    """A keyless log emptied with SQL (head back at the genesis): a valid empty chain, whose
    state (settings and people here) no record covers."""
    with open_store(database.url, images_dir=tmp_path / "images") as store:
        _enrolled(store)
        with database.raw() as connection:
            connection.execute("DELETE FROM admin_event")
            connection.execute("DELETE FROM attempt")
            connection.execute(
                "UPDATE chain_head SET seq = 0, hash = ?, signature = NULL", (GENESIS_HASH,)
            )
        assert state.recorded(store._db) is None
        assert store.chain_head() == Head(0, GENESIS_HASH, None, None), "no row, no time"
        what = ", ".join(NAMES[part][1] for part in state.PARTS)
        found = ChainBreak(
            "setting",
            None,
            None,
            STATE_CHANGED,
            f"{what} are not covered by any state record in the chain (changed outside "
            "Gatekeeper, or a database from before state records: opening it for writing "
            "records them)",
        )
        assert store.verify_chain() == ChainReport(False, 0, 0, False, found)
        assert store.state_problem() == f"{what} differ from any state record"


def _last_row(connection, table: str = "attempt") -> tuple:
    columns = ", ".join(CHAINED_COLUMNS[table])
    return connection.execute(
        f"SELECT id, seq, prev_hash, row_hash, {columns} FROM {table} ORDER BY seq DESC LIMIT 1"
    ).fetchone()


NOT_INTACT = "the audit log since the last state record is not intact"


@pytest.fixture
def keyless_site(database: DatabaseUnderTest, tmp_path) -> Store:
    """A keyless site: its state record, then two attempts; a tamperer can move its head."""
    with open_store(database.url, images_dir=tmp_path / "images") as store:
        _enrolled(store)
        for distance in (0.3, 0.4):
            store.record_attempt(
                camera_id="door",
                name="Alice",
                person_id=None,
                distance=distance,
                threshold=0.55,
                decision="granted",
                model_id="dlib",
                box=None,
            )
        assert store.state_problem() is None
        yield store


def test_the_rows_after_the_state_record_must_reach_the_head(
    keyless_site: Store, database: DatabaseUnderTest
) -> None:
    """The head moved onto the row before the newest (its seq kept, or moved too), and the
    newest row deleted: the state checks out, but the rows since it do not end at the head."""
    with database.raw() as connection:
        row_id, seq, prev, *_ = _last_row(connection)
        connection.execute("DELETE FROM attempt WHERE id = ?", (row_id,))
        connection.execute("UPDATE chain_head SET hash = ?", (prev,))
    assert keyless_site.state_problem() == NOT_INTACT, "a row missing before the head"
    with database.raw() as connection:
        connection.execute("UPDATE chain_head SET seq = ?", (seq - 1,))
    assert keyless_site.state_problem() is None, "a shorter chain, intact to its head"
    with database.raw() as connection:
        connection.execute("UPDATE chain_head SET hash = ?", ("a" * 64,))
    assert keyless_site.state_problem() == NOT_INTACT, "the head's hash is no row's"


def test_a_row_after_the_state_record_edited_or_doubled_is_not_intact(
    keyless_site: Store, database: DatabaseUnderTest
) -> None:
    with database.raw() as connection:
        row_id, seq, prev, stored, *values = _last_row(connection)
        connection.execute(
            "INSERT INTO admin_event (seq, time, kind, os_user, detail, prev_hash, row_hash) "
            "VALUES (?, ?, 'export', 'root', 'x', ?, ?)",
            (seq, values[0], prev, stored),
        )
    assert keyless_site.state_problem() == NOT_INTACT, "the newest seq used twice"
    with database.raw() as connection:
        connection.execute("DELETE FROM admin_event WHERE seq = ?", (seq,))
        connection.execute("UPDATE attempt SET camera_id = 'back' WHERE id = ?", (row_id,))
    assert keyless_site.state_problem() == NOT_INTACT, "the newest row edited"


def test_a_state_record_forged_beyond_the_head_is_not_read(
    keyed_store: Store, database: DatabaseUnderTest
) -> None:
    """A record of a changed state appended after the signed head (which needs the key to
    move): the decision check compares with the record the head covers."""
    _enrolled(keyed_store)
    head_seq = keyed_store.verify_chain().head_seq
    with database.raw() as connection:
        connection.execute("UPDATE person SET active = FALSE WHERE name = 'Bob'")
    with keyed_store.dialect.snapshot(keyed_store._db):
        forged = state.current(keyed_store.dialect, keyed_store._db).record()
    with database.raw() as connection:
        _, seq, _, stored, *_ = _last_row(connection, "admin_event")
        values = [NOW, "state", "root", forged]
        connection.execute(
            "INSERT INTO admin_event (seq, time, kind, os_user, detail, prev_hash, row_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq + 1, *values, stored, row_hash("admin_event", seq + 1, stored, values)),
        )
    assert seq == head_seq
    assert keyed_store.state_problem() == (
        "the people (names, display names, active flags) differ from the audit log's state record"
    )


def test_without_a_head_row_nothing_is_vouched_for(
    keyed_store: Store, database: DatabaseUnderTest
) -> None:
    with database.raw() as connection:
        connection.execute("DELETE FROM chain_head")
    assert keyed_store.state_problem() == "the audit chain head is missing"
