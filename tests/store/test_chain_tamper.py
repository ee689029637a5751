"""Tampering the walk and the state digests must catch, on both backends, done with the
database's own driver: the first row of every range the verification checks (seq 1, and the
first row of each worker's range) edited and re-hashed, serial and in worker ranges; a template
moved to another person; rows outside the chain; what the report says."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers import DatabaseUnderTest, RawConnection

from gatekeeper.errors import StoreError
from gatekeeper.store import Store, audit, open_store
from gatekeeper.store.audit import CHAINED_COLUMNS, EDITED, INSERTED, STATE_CHANGED, row_hash

#: Rows in the chain of :func:`_history`: state record, enrol + state, 12 attempts.
ROWS = 15


def _history(store: Store, attempt: Callable) -> None:
    alice = store.add_person("Alice")
    for i in range(ROWS - 3):
        store.record_attempt(**attempt(person_id=alice.id, distance=0.3 + i / 100))


def _row(connection: RawConnection, seq: int) -> tuple[str, int, str, list]:
    """The chained row ``seq``: its table, id, prev hash and chained values."""
    for table, columns in CHAINED_COLUMNS.items():
        found = connection.execute(
            f"SELECT id, prev_hash, {', '.join(columns)} FROM {table} WHERE seq = ?", (seq,)
        ).fetchone()
        if found is not None:
            return table, found[0], found[1], list(found[2:])
    raise AssertionError(f"no row with seq {seq}")


def _rewrite(connection: RawConnection, seq: int, hashed: bool = True) -> tuple[str, int]:
    """Edit row ``seq`` (who it was about, or who did it) and, with ``hashed``, store the hash
    of its new contents, as a tamperer without the key can; returns its table and id."""
    table, row_id, prev, values = _row(connection, seq)
    column = "person_name" if table == "attempt" else "os_user"
    values[CHAINED_COLUMNS[table].index(column)] = "Mallory"
    digest = row_hash(table, seq, prev, values)
    connection.execute(f"UPDATE {table} SET {column} = 'Mallory' WHERE id = ?", (row_id,))
    if hashed:
        connection.execute(f"UPDATE {table} SET row_hash = ? WHERE id = ?", (digest, row_id))
    return table, row_id


def _in_this_process(backend, snapshot, head_seq: int, workers: int) -> list:
    """The worker processes' job done here, range by range: the same code and snapshot."""
    return [
        audit._verify_range(backend, snapshot, lo, hi)
        for lo, hi in audit._ranges(head_seq, workers)
    ]


@pytest.mark.parametrize("workers", [1, 2, 4], ids=["one-pass", "2-ranges", "4-ranges"])
def test_a_rewritten_first_row_of_every_checked_range_is_found(
    store: Store, database: DatabaseUnderTest, attempt: Callable, workers: int, monkeypatch
) -> None:
    monkeypatch.setattr(audit, "_parallel_segments", _in_this_process)
    _history(store, attempt)
    assert store.verify_chain(workers=workers).ok
    for first, _ in audit._ranges(ROWS, workers):
        with database.raw() as connection:
            original = _row(connection, first)
            table, row_id = _rewrite(connection, first)
        report = store.verify_chain(workers=workers)
        found = report.first_break
        assert (found.table, found.row_id, found.seq, found.reason) == (
            table,
            row_id,
            first,
            EDITED,
        ), (workers, first)
        assert report.rows_checked == first - 1
        assert "the row's hash was rewritten" in report.summary()
        with database.raw() as connection:  # put it back for the next range
            old_table, old_id, prev, values = original
            column = "person_name" if old_table == "attempt" else "os_user"
            was = values[CHAINED_COLUMNS[old_table].index(column)]
            connection.execute(
                f"UPDATE {old_table} SET {column} = ?, row_hash = ? WHERE id = ?",
                (was, row_hash(old_table, first, prev, values), old_id),
            )
        assert store.verify_chain(workers=workers).ok


def test_worker_processes_find_a_rewritten_first_row_of_their_range(
    store: Store, database: DatabaseUnderTest, attempt: Callable
) -> None:
    _history(store, attempt)
    second_range = audit._ranges(ROWS, 2)[1][0]
    with database.raw() as connection:
        table, row_id = _rewrite(connection, second_range)
    in_processes = store.verify_chain(workers=2)
    assert in_processes == store.verify_chain(workers=1)
    found = in_processes.first_break
    assert (found.table, found.row_id, found.seq, found.reason) == (
        table,
        row_id,
        second_range,
        EDITED,
    )


def test_an_edited_first_row_is_found_without_a_rehash(
    store: Store, database: DatabaseUnderTest, attempt: Callable
) -> None:
    _history(store, attempt)
    with database.raw() as connection:
        table, row_id = _rewrite(connection, 1, hashed=False)
    report = store.verify_chain(workers=1)
    assert (report.ok, report.rows_checked, report.head_seq) == (False, 0, ROWS)
    assert (report.first_break.table, report.first_break.row_id) == (table, row_id)
    assert report.first_break.detail == "the row's contents do not match its hash"


def test_a_template_moved_to_another_person_is_detected(
    store: Store,
    database: DatabaseUnderTest,
    make_embedding: Callable,
    sha: Callable,
    images_dir,
) -> None:
    """Alice's face opening the door as Bob: the embedding, its image and model unchanged,
    only the person it belongs to."""
    for seed, name in enumerate(("Alice", "Bob")):
        store.add_encoding(
            name,
            model_id="dlib_resnet_v1",
            embedding=make_embedding(seed),
            image_sha256=sha(name.encode()),
        )
    assert store.verify_chain().ok
    with database.raw() as connection:
        connection.execute(
            "UPDATE face_encoding SET person_id = (SELECT id FROM person WHERE name = 'Bob') "
            "WHERE person_id = (SELECT id FROM person WHERE name = 'Alice')"
        )
    assert sorted(store.gallery("dlib_resnet_v1").names) == ["Bob", "Bob"], "the door's view"
    report = store.verify_chain()
    assert not report.ok
    found = report.first_break
    assert (found.table, found.row_id, found.reason) == ("face_encoding", None, STATE_CHANGED)
    assert found.detail.startswith("the gallery (encodings) differ from the state recorded by ")
    with pytest.raises(StoreError, match="^the encodings were changed outside Gatekeeper"):
        store.add_encoding(
            "Carol", model_id="dlib_resnet_v1", embedding=make_embedding(9), image_sha256=sha(b"c")
        )
    with open_store(database.url, images_dir=images_dir) as keyless:
        assert keyless.verify_chain().first_break.table == "face_encoding", "needs no key"


@pytest.mark.parametrize("seq", [0, -3, 99], ids=["zero", "negative", "beyond-the-head"])
@pytest.mark.parametrize("table", ["attempt", "admin_event"])
def test_a_row_outside_the_chain_is_inserted_out_of_band(
    store: Store, database: DatabaseUnderTest, attempt: Callable, table: str, seq: int
) -> None:
    _history(store, attempt)
    with database.raw() as connection:
        columns = ", ".join((*CHAINED_COLUMNS[table], "seq", "prev_hash", "row_hash"))
        connection.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns.replace('seq,', '?,', 1)} "
            f"FROM {table} WHERE seq = (SELECT MAX(seq) FROM {table})",
            (seq,),
        )
        (row_id,) = connection.execute(f"SELECT id FROM {table} WHERE seq = ?", (seq,)).fetchone()
    report = store.verify_chain()
    assert (report.ok, report.rows_checked, report.head_seq) == (False, 0, ROWS)
    found = report.first_break
    assert (found.table, found.row_id, found.seq, found.reason) == (table, row_id, seq, INSERTED)
    assert found.detail == f"sequence number outside the chain (1..{ROWS})"
