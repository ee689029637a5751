"""The chain's rows as the store writes and reads them: the frozen hash of a known row (the
canonical encoding, version 1, must never change); attempts without a face box; values that
cannot be encoded; a rewritten last row of a worker's range; what appending returns and where
it moves the head (with the statements compiled afresh, as after a change to their builders);
rows of both tables interleaved or moved on disk by an update; worker processes reading the
verifying transaction's snapshot."""

from __future__ import annotations

import hashlib

import pytest
from helpers import DatabaseUnderTest

from gatekeeper.errors import StoreError
from gatekeeper.store import NewAttempt, Store, audit, chain
from gatekeeper.store.audit import (
    CHAINED_COLUMNS,
    EDITED,
    GENESIS_HASH,
    ChainReport,
    canonical,
    row_hash,
    sign_head,
)
from gatekeeper.store.backends import postgres
from gatekeeper.store.compiled import Statement

ATTEMPT = (
    "2026-12-01T10:00:00.000000+00:00",
    "front-door",
    "Zoë 山田",
    0.1 + 0.2,
    0.6,
    "granted",
    "dlib_resnet_v1",
    10,
    20,
    110,
    120,
    None,
)


def test_a_known_row_has_its_frozen_canonical_text_and_hash() -> None:
    text = (
        '["attempt",3,"' + "ab" * 32 + '","2026-12-01T10:00:00.000000+00:00","front-door",'
        '"Zoë 山田",0.30000000000000004,0.6,"granted","dlib_resnet_v1",10,20,110,120]'
    )
    assert canonical("attempt", 3, "ab" * 32, ATTEMPT) == text
    assert row_hash("attempt", 3, "ab" * 32, ATTEMPT) == hashlib.sha256(text.encode()).hexdigest()
    assert row_hash("attempt", 3, "ab" * 32, ATTEMPT) == (
        "e7aa31f7dcfea127372ba040fe4a57950f7377c854b0b0f8c0265bbb2b7b1ac5"
    )


def _chain(values: list[tuple[str, tuple]]) -> list[tuple]:
    """The rows ``_check_segment`` reads: ``(table, seq, prev, *values, row_hash, id)``."""
    rows, prev = [], GENESIS_HASH
    for seq, (table, chained) in enumerate(values, 1):
        digest = row_hash(table, seq, prev, chained)
        rows.append((table, seq, prev, *chained, digest, seq))
        prev = digest
    return rows


NO_FACE = ("2026-12-01T10:00:00.000000+00:00", "door", None, None, 0.6, "unknown", "dlib")


def test_attempts_without_a_box_or_reason_verify() -> None:
    """Trailing NULLs of the first version's columns stay in the encoding; only those of
    columns added later are left out."""
    rows = _chain(
        [
            ("attempt", (*NO_FACE, None, None, None, None, None)),
            ("attempt", (*NO_FACE, 1, 2, 3, None, None)),
            ("attempt", (*NO_FACE, None, None, None, None, "no face")),
        ]
    )
    segment = audit._check_segment(rows)
    assert (segment.found, segment.rows_ok, segment.last_hash) == (None, 3, rows[-1][-2])


def test_a_value_that_cannot_be_encoded_never_matches_a_hash() -> None:
    """Bytes put in a text column, and an empty stored hash: still an edited row."""
    rows = _chain([("admin_event", ("t", "export", "root", "x"))] * 3)
    table, seq, prev, *values, _, row_id = rows[1]
    values[3] = b"blob"
    rows[1] = (table, seq, prev, *values, "", row_id)
    segment = audit._check_segment(rows)
    found = segment.found
    assert (found.table, found.row_id, found.seq, found.reason) == ("admin_event", 2, 2, EDITED)
    assert found.detail == "the row's contents do not match its hash"


def test_a_rewritten_last_row_of_a_range_is_blamed_when_the_ranges_are_joined() -> None:
    values = [("admin_event", ("t", "export", "root", str(i))) for i in range(6)]
    rows = _chain(values)
    table, seq, prev, *chained, _, row_id = rows[2]
    chained[3] = "Mallory"
    rows[2] = (table, seq, prev, *chained, row_hash(table, seq, prev, chained), row_id)
    segments = [audit._check_segment(rows[:3]), audit._check_segment(rows[3:])]
    found, checked = audit._stitch(segments, 6, rows[-1][-2])
    assert (found.table, found.row_id, found.seq, found.reason, checked) == (
        "admin_event",
        3,
        3,
        EDITED,
        2,
    )
    assert found.detail == "the row's hash was rewritten; the next row still links to the original"


@pytest.fixture
def statements_built_now(monkeypatch) -> None:
    """The append and head statements compiled afresh from their builders (they are compiled
    once per database class and process; a mutation run changes the builders after that)."""
    monkeypatch.setattr(chain, "_READ_HEAD", Statement(1, chain.head_query))
    monkeypatch.setattr(chain, "_MOVE_HEAD", Statement(4, chain._move_head))
    lock = Statement(1, lambda row: chain.head_query(row).for_update())
    monkeypatch.setattr(postgres, "_LOCK_HEAD", lock)
    chain._insert_one.cache_clear()
    chain._append_one.cache_clear()
    yield
    chain._insert_one.cache_clear()
    chain._append_one.cache_clear()


def _attempt(store: Store, name: str = "Alice", distance: float = 0.4) -> int:
    return store.record_attempt(
        camera_id="front-door",
        name=name,
        person_id=None,
        distance=distance,
        threshold=0.6,
        decision="granted",
        model_id="dlib_resnet_v1",
        box=(10, 20, 110, 120),
    )


def _head(database: DatabaseUnderTest) -> tuple:
    with database.raw() as connection:
        return tuple(connection.execute("SELECT seq, hash, signature FROM chain_head").fetchone())


def _newest(database: DatabaseUnderTest, table: str) -> tuple:
    with database.raw() as connection:
        return tuple(
            connection.execute(
                f"SELECT id, seq, row_hash, prev_hash FROM {table} ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        )


@pytest.mark.usefixtures("statements_built_now")
def test_appending_returns_the_new_rows_id_and_moves_the_signed_head_onto_it(
    keyed_store: Store, database: DatabaseUnderTest
) -> None:
    seq, digest, _ = _head(database)
    for i in range(2):
        attempt_id = _attempt(keyed_store, distance=0.3 + i / 10)
        row_id, new_seq, row_digest, prev = _newest(database, "attempt")
        assert (attempt_id, new_seq, prev) == (row_id, seq + 1, digest)
        assert _head(database) == (new_seq, row_digest, sign_head(b"test-key", new_seq, row_digest))
        seq, digest, _ = _head(database)
    keyed_store.log_admin_event("export", "3 rows to attempts.csv")
    _, event_seq, event_digest, event_prev = _newest(database, "admin_event")
    assert (event_seq, event_prev) == (seq + 1, digest)
    assert _head(database)[:2] == (event_seq, event_digest)
    report = keyed_store.verify_chain()
    assert report == ChainReport(True, event_seq, event_seq, True, None, True)


def test_rows_of_both_tables_interleaved_and_moved_on_disk_verify(
    keyed_store: Store, database: DatabaseUnderTest
) -> None:
    """Attempts and admin events taking turns, and rows rewritten in place with their own
    values (PostgreSQL then stores them at the end of the table), with the tables' statistics
    gathered (a small table is then scanned rather than read through its index)."""
    for i in range(3):
        _attempt(keyed_store, distance=0.3 + i / 10)
        keyed_store.log_admin_event("export", f"export {i}")
    with database.raw() as connection:
        connection.execute("UPDATE attempt SET camera_id = camera_id WHERE seq = 2")
        connection.execute("UPDATE admin_event SET detail = detail WHERE seq = 3")
        connection.execute("ANALYZE")
    head_seq = _head(database)[0]
    assert keyed_store.verify_chain(workers=1) == ChainReport(
        True, head_seq, head_seq, True, None, True
    )


def test_worker_processes_read_the_snapshot_the_verification_began_with(
    pg_server, tmp_path, monkeypatch
) -> None:
    """A row edited once verification has begun is not seen by the workers (PostgreSQL
    exports the verifying transaction's snapshot to them)."""
    from gatekeeper.store import open_store

    url = pg_server.create_database()
    try:
        with open_store(url, images_dir=tmp_path / "images", audit_key="test-key") as store:
            for i in range(4):
                _attempt(store, distance=0.3 + i / 10)
            database = DatabaseUnderTest("postgresql", url)
            backend = type(store.dialect)
            exported = backend.export_snapshot

            def export_then_edit(self, db):
                snapshot = exported(self, db)
                with database.raw() as connection:
                    connection.execute("UPDATE attempt SET camera_id = 'back' WHERE seq = 2")
                return snapshot

            monkeypatch.setattr(backend, "export_snapshot", export_then_edit)
            report = store.verify_chain(workers=2)
            assert (report.ok, report.rows_checked) == (True, 5)
            monkeypatch.undo()
            found = store.verify_chain(workers=1).first_break
            assert (found.seq, found.reason) == (2, EDITED), "seen once the edit is committed"
    finally:
        pg_server.drop_database(url)


def test_the_ranges_go_to_workers_only_when_each_gets_a_row_with_the_verifying_snapshot(
    keyed_store: Store, database: DatabaseUnderTest, monkeypatch
) -> None:
    """What verify_chain hands the worker processes (done here, range by range, by the same
    code): nothing with one worker or fewer rows than workers, else the ranges and the
    snapshot it verifies under, which on PostgreSQL hides a row edited after it began."""
    for i in range(4):
        _attempt(keyed_store, distance=0.3 + i / 10)
    head_seq = _head(database)[0]
    handed = []

    def in_this_process(backend, snapshot, rows, workers):
        handed.append((rows, workers))
        if database.path is None:
            with database.raw() as connection:
                connection.execute("UPDATE attempt SET camera_id = 'back' WHERE seq = 2")
        segments = [
            audit._verify_range(backend, snapshot, lo, hi)
            for lo, hi in audit._ranges(rows, workers)
        ]
        if database.path is None:
            with database.raw() as connection:
                connection.execute("UPDATE attempt SET camera_id = 'front-door' WHERE seq = 2")
        return segments

    monkeypatch.setattr(audit, "_parallel_segments", in_this_process)
    verified = ChainReport(True, head_seq, head_seq, True, None, True)
    for workers in (None, 1, 2, head_seq, head_seq + 1):
        assert keyed_store.verify_chain(workers=workers) == verified, workers
    assert handed == [(head_seq, 2), (head_seq, head_seq)]


@pytest.mark.usefixtures("statements_built_now")
def test_a_batch_is_chained_in_order_with_the_head_signed_on_its_last_row(
    keyed_store: Store, database: DatabaseUnderTest
) -> None:
    alice = keyed_store.add_person("Alice")
    before = _head(database)[0]
    batch = [
        NewAttempt("door", "granted", 0.6, "dlib", "Alice", alice.id, 0.31, (1, 2, 3, 4)),
        NewAttempt("door", "unknown", 0.6, "dlib", None, None, None, None),
        NewAttempt("door", "denied", 0.6, "dlib", "Alice", alice.id, 0.2, None, reason="late"),
    ]
    assert keyed_store.record_attempts(batch[:2]) == 2
    assert keyed_store.record_attempts(batch) == 3
    batch = [*batch[:2], *batch]
    columns = ", ".join(CHAINED_COLUMNS["attempt"])
    with database.raw() as connection:
        rows = connection.execute(
            f"SELECT seq, prev_hash, row_hash, person_id, {columns} FROM attempt ORDER BY seq"
        ).fetchall()
    prev = _newest_before(database, before)
    for (seq, prev_hash, stored, person_id, *values), wanted in zip(rows, batch, strict=True):
        assert (seq, prev_hash, person_id) == (before + 1, prev, wanted.person_id)
        assert stored == row_hash("attempt", seq, prev, values)
        assert values[2:4] == [wanted.name, wanted.distance]
        before, prev = seq, stored
    assert _head(database) == (before, prev, sign_head(b"test-key", before, prev))


def _newest_before(database: DatabaseUnderTest, seq: int) -> str:
    """The row hash of the chained row ``seq``."""
    with database.raw() as connection:
        for table in CHAINED_COLUMNS:
            found = connection.execute(
                f"SELECT row_hash FROM {table} WHERE seq = ?", (seq,)
            ).fetchone()
            if found is not None:
                return found[0]
    raise AssertionError(f"no row {seq}")


@pytest.mark.parametrize(
    ("head", "key", "why"),
    [
        (
            "unsigned",
            "test-key",
            "the chain head is not signed (rewritten, or written without the key)",
        ),
        (
            "forged",
            "test-key",
            "the head signature does not match (chain rewritten, or a different key)",
        ),
        ("signed", None, "the audit log is signed, and this process has no audit key"),
    ],
)
def test_a_head_that_cannot_be_vouched_for_is_not_extended(
    keyed_store: Store, database: DatabaseUnderTest, tmp_path, head, key, why
) -> None:
    from gatekeeper.store import open_store

    _attempt(keyed_store)
    signature = {"unsigned": None, "forged": "0" * 64, "signed": _head(database)[2]}[head]
    with database.raw() as connection:
        connection.execute("UPDATE chain_head SET signature = ?", (signature,))
    before = database.dump()
    with (
        open_store(database.url, images_dir=tmp_path / "images", audit_key=key) as store,
        pytest.raises(StoreError) as refused,
    ):
        _attempt(store)
    assert str(refused.value) == (
        f"refusing to extend the audit log: {why}; nothing was written "
        "(run 'gatekeeper audit verify')"
    )
    assert database.dump() == before


def test_appending_needs_the_head_row_and_a_write_transaction(
    keyed_store: Store, database: DatabaseUnderTest
) -> None:
    with pytest.raises(RuntimeError, match="^append_rows must run inside a write transaction$"):
        chain.append_rows(keyed_store._db, "admin_event", [("t", "export", "root", "x")], None)
    with database.raw() as connection:
        connection.execute("DELETE FROM chain_head")
    with pytest.raises(StoreError) as refused:
        _attempt(keyed_store)
    assert str(refused.value) == (
        "the audit chain head is missing (the log was tampered with); run verify"
    )
