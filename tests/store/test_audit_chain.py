"""The audit hash chain detects tampering done behind the store's back with ``sqlite3``."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

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
    canonical,
    row_hash,
)


@dataclass
class History:
    """A store with nine chained rows, and how the test verifies it."""

    store: Store
    verify: Callable[[], ChainReport]

    @property
    def path(self) -> Path:
        return self.store.path


def _segments_in_this_process(path: str, head_seq: int, workers: int) -> list:
    """The worker processes' job done here, range by range (same code, same files, faster)."""
    return [audit._verify_range(path, lo, hi) for lo, hi in audit._ranges(head_seq, workers)]


@pytest.fixture(params=[1, 2, 4], ids=["one-pass", "2-ranges", "4-ranges"])
def history(
    store: Store, attempt: Callable, request: pytest.FixtureRequest, monkeypatch
) -> History:
    """Nine chained rows: an admin event (seq 1), five attempts (2-6), a threshold change (7)
    and two more attempts (8-9). Verified in one pass or in 2 or 4 ``seq`` ranges joined
    afterwards, which must find the same first break."""
    monkeypatch.setattr(audit, "_parallel_segments", _segments_in_this_process)
    alice = store.add_person("Alice")
    for i in range(5):
        store.record_attempt(**attempt(person_id=alice.id, distance=0.3 + i / 100))
    store.set_threshold(0.55)
    store.record_attempt(**attempt(decision="unknown", name=None, distance=0.9))
    store.record_attempt(**attempt(person_id=alice.id, camera_id="garage"))
    history = History(store, functools.partial(store.verify_chain, workers=request.param))
    report = history.verify()
    assert report.ok and report.rows_checked == 9 and report.signature_checked
    return history


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain ``sqlite3`` connection, as a tamperer would use; commits on exit."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            yield connection
    finally:
        connection.close()


def _rows(connection: sqlite3.Connection) -> list[tuple[str, int, int, list]]:
    """Every chained row as (table, id, seq, values) in seq order."""
    rows = []
    for table, columns in CHAINED_COLUMNS.items():
        names = ", ".join(columns)
        for row_id, seq, *values in connection.execute(f"SELECT id, seq, {names} FROM {table}"):
            rows.append((table, row_id, seq, values))
    return sorted(rows, key=lambda row: row[2])


def _rehash_all(connection: sqlite3.Connection) -> None:
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


def test_empty_chain_verifies(store: Store) -> None:
    report = store.verify_chain()
    assert report.ok and report.rows_checked == 0 and report.head_seq == 0


def test_edited_attempt_is_detected(history: Store) -> None:
    with raw(history.path) as connection:
        connection.execute("UPDATE attempt SET decision = 'granted' WHERE seq = 8")
    assert _break(history) == ("attempt", 6, 8, EDITED)


def test_edited_admin_event_is_detected(history: Store) -> None:
    with raw(history.path) as connection:
        connection.execute("UPDATE admin_event SET os_user = 'someone-else' WHERE seq = 7")
    assert _break(history) == ("admin_event", 2, 7, EDITED)


def test_edited_and_rehashed_row_is_blamed_not_its_successor(history: Store) -> None:
    with raw(history.path) as connection:
        (table, row_id, seq, values) = _rows(connection)[3]
        (prev,) = connection.execute(
            "SELECT prev_hash FROM attempt WHERE id = ?", (row_id,)
        ).fetchone()
        values[2] = "Mallory"
        connection.execute(
            "UPDATE attempt SET person_name = 'Mallory', row_hash = ? WHERE id = ?",
            (row_hash(table, seq, prev, values), row_id),
        )
    assert _break(history) == ("attempt", row_id, 4, EDITED)


def test_deleted_middle_row_is_detected(history: Store) -> None:
    with raw(history.path) as connection:
        connection.execute("DELETE FROM attempt WHERE seq = 4")
    table, _, seq, reason = _break(history)
    assert (table, seq, reason) == ("attempt", 5, DELETED)
    assert "seq 4..4 are missing" in history.verify().first_break.detail


def test_deleted_newest_rows_are_detected(history: Store) -> None:
    with raw(history.path) as connection:
        connection.execute("DELETE FROM attempt WHERE seq >= 8")
    assert _break(history) == ("chain_head", None, 8, DELETED)
    assert "newest rows deleted" in history.verify().summary()


def test_row_inserted_with_sqlite3_is_detected(history: Store) -> None:
    with raw(history.path) as connection:
        (head,) = connection.execute("SELECT hash FROM chain_head").fetchone()
        values = ["2026-11-28T14:00:00.000000+00:00", "front-door", "Mallory", 0.1, 0.6]
        values += ["granted", "dlib_resnet_v1", 1, 2, 3, 4]
        columns = ", ".join(CHAINED_COLUMNS["attempt"])
        connection.execute(
            f"INSERT INTO attempt ({columns}, seq, prev_hash, row_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 10, ?, ?)",
            (*values, head, row_hash("attempt", 10, head, values)),
        )
    table, _, seq, reason = _break(history)
    assert (table, seq, reason) == ("attempt", 10, INSERTED)


def test_row_inserted_with_a_used_sequence_number_is_detected(history: Store) -> None:
    with raw(history.path) as connection:
        connection.execute(
            "INSERT INTO admin_event (seq, time, kind, os_user, detail, prev_hash, row_hash) "
            "SELECT seq, time, 'enrol', 'x', 'forged', prev_hash, row_hash FROM attempt "
            "WHERE seq = 5"
        )
    assert _break(history)[2:] == (5, INSERTED)


def test_head_moved_without_rows_is_a_head_mismatch(history: Store) -> None:
    with raw(history.path) as connection:
        connection.execute("UPDATE chain_head SET hash = ?", ("f" * 64,))
    assert _break(history) == ("chain_head", None, 9, HEAD_MISMATCH)


def test_missing_head_is_detected_and_blocks_writes(history: Store, attempt: Callable) -> None:
    with raw(history.path) as connection:
        connection.execute("DELETE FROM chain_head")
    assert _break(history)[3] == DELETED
    with pytest.raises(StoreError, match="chain head is missing"):
        history.store.record_attempt(**attempt())


def test_full_rewrite_needs_the_key(history: Store, db_path: Path, images_dir: Path) -> None:
    with raw(history.path) as connection:
        connection.execute("UPDATE attempt SET person_name = 'Mallory' WHERE seq = 2")
        _rehash_all(connection)
    with open_store(str(db_path), images_dir=images_dir) as keyless:
        assert keyless.verify_chain().ok, "without the key a full rewrite cannot be told"
    assert _break(history) == ("chain_head", None, 9, BAD_SIGNATURE)


def test_wrong_key_is_a_bad_signature(history: Store, db_path: Path, images_dir: Path) -> None:
    with open_store(str(db_path), images_dir=images_dir, audit_key="guess") as other:
        report = other.verify_chain()
    assert not report.ok and report.first_break.reason == BAD_SIGNATURE


def test_write_without_the_key_leaves_the_head_unsigned(
    history: Store, db_path: Path, images_dir: Path
) -> None:
    with open_store(str(db_path), images_dir=images_dir) as keyless:
        keyless.log_admin_event("export", "0 attempts")
    table, _, _, reason = _break(history)
    assert (table, reason) == ("chain_head", BAD_SIGNATURE)
    assert "not signed" in history.verify().first_break.detail


def test_person_id_is_not_covered_so_erasure_keeps_the_chain(history: Store) -> None:
    history.store.remove_person("Alice")
    report = history.verify()
    assert report.ok and report.rows_checked == 10


def test_worker_processes_agree_with_one_pass(store: Store, attempt: Callable) -> None:
    for i in range(40):
        store.record_attempt(**attempt(box=(i, i, 50, 50)))
    report = store.verify_chain(workers=2)
    assert report.ok and report.rows_checked == 40
    with raw(store.path) as connection:
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
