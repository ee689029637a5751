"""The audit hash chain detects tampering done behind the store's back with the database's own
driver (``sqlite3``, ``psycopg``), on both backends."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest, RawConnection

from gatekeeper.errors import StoreError
from gatekeeper.store import ChainReport, Store, audit, open_store
from gatekeeper.store.audit import (
    BAD_SIGNATURE,
    CHAINED_COLUMNS,
    DELETED,
    EDITED,
    GENESIS_HASH,
    HEAD_MISMATCH,
    INSERTED,
    STATE_CHANGED,
    canonical,
    row_hash,
)


@dataclass
class History:
    """A store with twelve chained rows, its database, and how the test verifies it."""

    store: Store
    database: DatabaseUnderTest
    verify: Callable[[], ChainReport]

    def raw(self):
        return self.database.raw()


def _segments_in_this_process(backend, snapshot, head_seq: int, workers: int) -> list:
    """The worker processes' job done here, range by range (same code, same snapshot, faster)."""
    ranges = audit._ranges(head_seq, workers)
    return [audit._verify_range(backend, snapshot, lo, hi) for lo, hi in ranges]


@pytest.fixture(params=[1, 2, 4], ids=["one-pass", "2-ranges", "4-ranges"])
def history(
    store: Store,
    database: DatabaseUnderTest,
    attempt: Callable,
    request: pytest.FixtureRequest,
    monkeypatch,
) -> History:
    """Twelve chained rows: the new database's state record (seq 1), an enrol event and its
    state record (2-3), five attempts (4-8), a threshold change and its state record (9-10)
    and two more attempts (11-12). Verified in one pass or in 2 or 4 ``seq`` ranges joined
    afterwards, which must find the same first break."""
    monkeypatch.setattr(audit, "_parallel_segments", _segments_in_this_process)
    alice = store.add_person("Alice")
    for i in range(5):
        store.record_attempt(**attempt(person_id=alice.id, distance=0.3 + i / 100))
    store.set_threshold(0.55)
    store.record_attempt(**attempt(decision="unknown", name=None, distance=0.9))
    store.record_attempt(**attempt(person_id=alice.id, camera_id="garage"))
    history = History(store, database, functools.partial(store.verify_chain, workers=request.param))
    report = history.verify()
    assert report.ok and report.rows_checked == 12 and report.signature_checked
    return history


def _rows(connection: RawConnection) -> list[tuple[str, int, int, list]]:
    """Every chained row as (table, id, seq, values) in seq order."""
    rows = []
    for table, columns in CHAINED_COLUMNS.items():
        names = ", ".join(columns)
        for row_id, seq, *values in connection.execute(f"SELECT id, seq, {names} FROM {table}"):
            rows.append((table, row_id, seq, values))
    return sorted(rows, key=lambda row: row[2])


def _rehash_all(connection: RawConnection) -> None:
    """What a tamperer without the audit key can do: recompute every hash and the head."""
    prev = GENESIS_HASH
    for table, row_id, seq, values in _rows(connection):
        digest = row_hash(table, seq, prev, values)
        connection.execute(
            f"UPDATE {table} SET prev_hash = ?, row_hash = ? WHERE id = ?", (prev, digest, row_id)
        )
        prev = digest
    connection.execute("UPDATE chain_head SET hash = ? WHERE id = 1", (prev,))


def _break(history: History) -> tuple[str, int | None, int | None, str]:
    report = history.verify()
    assert not report.ok
    found = report.first_break
    return found.table, found.row_id, found.seq, found.reason


def test_canonical_encoding_is_compact_json() -> None:
    values = ["2026-11-28T14:02:45.123456+00:00", 'José "Pepe"', None, 0.1 + 0.2, 3]
    assert canonical("attempt", 7, "ab" * 32, values) == json.dumps(
        ["attempt", 7, "ab" * 32, *values], ensure_ascii=False, separators=(",", ":")
    )


def test_new_database_verifies(store: Store) -> None:
    report = store.verify_chain()
    assert report.ok and report.rows_checked == 1 and report.head_seq == 1


def test_edited_attempt_is_detected(history: History) -> None:
    with history.raw() as connection:
        connection.execute("UPDATE attempt SET decision = 'granted' WHERE seq = 11")
    assert _break(history) == ("attempt", 6, 11, EDITED)


def test_edited_admin_event_is_detected(history: History) -> None:
    with history.raw() as connection:
        connection.execute("UPDATE admin_event SET os_user = 'someone-else' WHERE seq = 9")
    assert _break(history) == ("admin_event", 4, 9, EDITED)


def test_edited_and_rehashed_row_is_blamed_not_its_successor(history: History) -> None:
    with history.raw() as connection:
        (table, row_id, seq, values) = _rows(connection)[4]
        (prev,) = connection.execute(
            "SELECT prev_hash FROM attempt WHERE id = ?", (row_id,)
        ).fetchone()
        values[2] = "Mallory"
        connection.execute(
            "UPDATE attempt SET person_name = 'Mallory', row_hash = ? WHERE id = ?",
            (row_hash(table, seq, prev, values), row_id),
        )
    assert _break(history) == ("attempt", row_id, 5, EDITED)


def test_deleted_middle_row_is_detected(history: History) -> None:
    with history.raw() as connection:
        connection.execute("DELETE FROM attempt WHERE seq = 5")
    table, _, seq, reason = _break(history)
    assert (table, seq, reason) == ("attempt", 6, DELETED)
    assert "seq 5..5 are missing" in history.verify().first_break.detail


def test_deleted_newest_rows_are_detected(history: History) -> None:
    with history.raw() as connection:
        connection.execute("DELETE FROM attempt WHERE seq >= 11")
    assert _break(history) == ("chain_head", None, 11, DELETED)
    assert "newest rows deleted" in history.verify().summary()


def test_row_inserted_with_the_driver_is_detected(history: History) -> None:
    with history.raw() as connection:
        (head,) = connection.execute("SELECT hash FROM chain_head").fetchone()
        values = ["2026-11-28T14:00:00.000000+00:00", "front-door", "Mallory", 0.1, 0.6]
        values += ["granted", "dlib_resnet_v1", 1, 2, 3, 4, None]
        columns = ", ".join(CHAINED_COLUMNS["attempt"])
        connection.execute(
            f"INSERT INTO attempt ({columns}, seq, prev_hash, row_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 13, ?, ?)",
            (*values, head, row_hash("attempt", 13, head, values)),
        )
    table, _, seq, reason = _break(history)
    assert (table, seq, reason) == ("attempt", 13, INSERTED)


def test_row_inserted_with_a_used_sequence_number_is_detected(history: History) -> None:
    with history.raw() as connection:
        connection.execute(
            "INSERT INTO admin_event (seq, time, kind, os_user, detail, prev_hash, row_hash) "
            "SELECT seq, time, 'enrol', 'x', 'forged', prev_hash, row_hash FROM attempt "
            "WHERE seq = 6"
        )
    assert _break(history)[2:] == (6, INSERTED)


def test_head_moved_without_rows_is_a_head_mismatch(history: History) -> None:
    with history.raw() as connection:
        connection.execute("UPDATE chain_head SET hash = ?", ("f" * 64,))
    assert _break(history) == ("chain_head", None, 12, HEAD_MISMATCH)


def test_missing_head_is_detected_and_blocks_writes(history: History, attempt: Callable) -> None:
    with history.raw() as connection:
        connection.execute("DELETE FROM chain_head")
    assert _break(history)[3] == DELETED
    with pytest.raises(StoreError, match="chain head is missing"):
        history.store.record_attempt(**attempt())


def test_full_rewrite_needs_the_key(history: History, images_dir: Path) -> None:
    with history.raw() as connection:
        connection.execute("UPDATE attempt SET person_name = 'Mallory' WHERE seq = 4")
        _rehash_all(connection)
    with open_store(history.database.url, images_dir=images_dir) as keyless:
        assert keyless.verify_chain().ok, "without the key a full rewrite cannot be told"
    assert _break(history) == ("chain_head", None, 12, BAD_SIGNATURE)


def test_wrong_key_is_a_bad_signature(history: History, images_dir: Path) -> None:
    with open_store(history.database.url, images_dir=images_dir, audit_key="guess") as other:
        report = other.verify_chain()
    assert not report.ok and report.first_break.reason == BAD_SIGNATURE


def _forge_without_the_key(connection: RawConnection, signature: str | None) -> None:
    """The attack of issue 10: delete the newest attempt, rename Alice to Mallory, recompute
    every hash and the head, and set the head's signature to ``signature``."""
    connection.execute("DELETE FROM attempt WHERE seq = (SELECT MAX(seq) FROM attempt)")
    connection.execute("UPDATE attempt SET person_name = 'Mallory' WHERE person_name = 'Alice'")
    _rehash_all(connection)
    (count,) = connection.execute(
        "SELECT (SELECT COUNT(*) FROM attempt) + (SELECT COUNT(*) FROM admin_event)"
    ).fetchone()
    connection.execute("UPDATE chain_head SET seq = ?, signature = ?", (count, signature))


def _head(database: DatabaseUnderTest) -> tuple:
    with database.raw() as connection:
        return connection.execute("SELECT seq, hash, signature FROM chain_head").fetchone()


@pytest.mark.parametrize("signature", [None, "0" * 64], ids=["unsigned", "wrongly-signed"])
def test_a_keyed_write_does_not_bless_a_forged_head(
    history: History, attempt: Callable, signature: str | None, caplog
) -> None:
    with history.raw() as connection:
        _forge_without_the_key(connection, signature)
    assert _break(history)[::3] == ("chain_head", BAD_SIGNATURE)
    forged = _head(history.database)
    with pytest.raises(StoreError, match="^refusing to extend the audit log: the (chain|head)"):
        history.store.record_attempt(**attempt())
    with pytest.raises(StoreError, match="^refusing to extend the audit log"):
        history.store.add_person("Bob")
    assert _head(history.database) == forged, "nothing was written"
    assert _break(history)[::3] == ("chain_head", BAD_SIGNATURE), "the forgery stays detectable"
    assert "refused to write 1 attempt row(s)" in caplog.text


def test_a_write_without_the_key_is_refused_on_a_signed_log(
    history: History, images_dir: Path
) -> None:
    before = _head(history.database)
    keyless = open_store(history.database.url, images_dir=images_dir)
    with keyless, pytest.raises(StoreError, match="the audit log is signed, and this process"):
        keyless.log_admin_event("export", "0 attempts")
    assert _head(history.database) == before
    assert history.verify().ok


def test_an_emptied_log_is_a_bad_signature(history: History, attempt: Callable) -> None:
    with history.raw() as connection:
        connection.execute("DELETE FROM attempt")
        connection.execute("DELETE FROM admin_event")
        connection.execute(
            "UPDATE chain_head SET seq = 0, hash = ?, signature = NULL", (GENESIS_HASH,)
        )
    report = history.verify()
    assert not report.ok and report.rows_checked == 0
    assert (report.first_break.table, report.first_break.reason) == ("chain_head", BAD_SIGNATURE)
    assert "the empty chain's head is not signed (the log was emptied" in report.summary()
    with pytest.raises(StoreError, match="refusing to extend the audit log: the empty chain's"):
        history.store.record_attempt(**attempt())


def test_a_new_keyed_database_is_signed_from_the_start(
    database: DatabaseUnderTest, images_dir: Path
) -> None:
    open_store(database.url, images_dir=images_dir, audit_key="k").close()
    seq, head_hash, signature = _head(database)
    assert (seq, signature) == (1, audit.sign_head(b"k", 1, head_hash))


def _state_break(history: History) -> tuple[str, int | None, str]:
    report = history.verify()
    assert not report.ok, "a change made outside the chain must be found"
    found = report.first_break
    return found.table, found.seq, found.reason


def test_threshold_changed_with_sql_is_detected_and_not_blessed(
    history: History, attempt: Callable
) -> None:
    with history.raw() as connection:
        connection.execute("UPDATE setting SET value = '1.5' WHERE key = 'threshold'")
    assert _state_break(history) == ("setting", 10, STATE_CHANGED)
    assert "the settings (the threshold) differ from the state recorded by admin_event #5" in (
        history.verify().summary()
    )
    with pytest.raises(StoreError, match="^the settings were changed outside Gatekeeper"):
        history.store.set_threshold(0.5)
    with pytest.raises(StoreError, match="^the settings were changed outside Gatekeeper"):
        history.store.add_person("Bob")
    history.store.record_attempt(**attempt())  # the door's log carries on
    assert _state_break(history)[0] == "setting"


def test_active_flag_changed_with_sql_is_detected(history: History) -> None:
    history.store.set_active("Alice", False)
    assert history.verify().ok
    with history.raw() as connection:
        connection.execute("UPDATE person SET active = TRUE WHERE name = 'Alice'")
    assert _state_break(history)[::2] == ("person", STATE_CHANGED)
    with pytest.raises(StoreError, match="^the people were changed outside Gatekeeper"):
        history.store.set_active("Alice", True)


@pytest.mark.parametrize("change", ["replace the embedding", "add an encoding"])
def test_gallery_changed_with_sql_is_detected(
    history: History, make_embedding: Callable, sha: Callable, change: str
) -> None:
    history.store.add_encoding(
        "Alice", model_id="dlib_resnet_v1", embedding=make_embedding(1), image_sha256=sha(b"a")
    )
    assert history.verify().ok
    stranger = make_embedding(2).tobytes()
    with history.raw() as connection:
        if change == "replace the embedding":
            connection.execute("UPDATE face_encoding SET embedding = ?", (stranger,))
        else:
            connection.execute(
                "INSERT INTO face_encoding (person_id, model_id, embedding, image_sha256, created) "
                "SELECT id, 'dlib_resnet_v1', ?, ?, created FROM person WHERE name = 'Alice'",
                (stranger, sha(b"b")),
            )
    assert _state_break(history)[::2] == ("face_encoding", STATE_CHANGED)
    assert "the gallery (encodings) differ" in history.verify().summary()


def test_people_inserted_into_a_new_database_are_detected(
    database: DatabaseUnderTest, images_dir: Path
) -> None:
    open_store(database.url, images_dir=images_dir).close()
    with database.raw() as connection:
        connection.execute(
            "INSERT INTO person (name, display_name, created, active) "
            "VALUES ('Mallory', 'Mallory', '2026-01-01T00:00:00.000000+00:00', TRUE)"
        )
    with open_store(database.url, images_dir=images_dir) as store:
        report = store.verify_chain()
    assert not report.ok and report.first_break.table == "person"


def test_state_records_are_the_stores_alone(store: Store) -> None:
    with pytest.raises(ValueError, match="invalid admin event kind 'state'"):
        store.log_admin_event("state", "settings:" + "0" * 64)


def test_person_id_is_not_covered_so_erasure_keeps_the_chain(history: History) -> None:
    history.store.remove_person("Alice")
    report = history.verify()
    assert report.ok and report.rows_checked == 14


def test_worker_processes_agree_with_one_pass(
    store: Store, database: DatabaseUnderTest, attempt: Callable
) -> None:
    for i in range(40):
        store.record_attempt(**attempt(box=(i, i, 50, 50)))
    report = store.verify_chain(workers=2)
    assert report.ok and report.rows_checked == 41
    with database.raw() as connection:
        connection.execute("UPDATE attempt SET box_x = 0 WHERE seq = 31")
    in_processes, one_pass = store.verify_chain(workers=2), store.verify_chain(workers=1)
    assert in_processes == one_pass
    assert (one_pass.first_break.seq, one_pass.first_break.reason) == (31, EDITED)


def test_default_workers_use_idle_cpus_for_long_chains_only(monkeypatch) -> None:
    monkeypatch.setattr(audit.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(audit.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert audit.default_workers(audit.PARALLEL_MIN_ROWS - 1) == 1
    assert audit.default_workers(audit.PARALLEL_MIN_ROWS) == 4
    monkeypatch.setattr(audit.os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    assert audit.default_workers(10**6) == 2
    monkeypatch.setattr(audit.os, "getloadavg", lambda: (7.0, 0.0, 0.0))
    assert audit.default_workers(10**6) == 1
