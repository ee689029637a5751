"""The attempt log: recording, filters, keyset pagination, streaming, concurrent writers."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import peewee
import pytest
from helpers import DatabaseUnderTest

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.store import AttemptFilter, NewAttempt, Store, open_store

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def test_record_and_query_round_trip(store: Store, attempt: Callable) -> None:
    person = store.add_person("José Núñez")
    when = datetime(2026, 11, 28, 15, 2, 45, 123456, tzinfo=timezone(timedelta(hours=1)))
    attempt_id = store.record_attempt(
        **attempt(name="José Núñez", person_id=person.id, distance=0.3125, time=when)
    )
    (row,) = store.query_attempts(AttemptFilter())
    assert row.id == attempt_id
    assert row.time == when and row.time.tzinfo == UTC
    assert (row.camera_id, row.person_id, row.person_name) == (
        "front-door",
        person.id,
        "José Núñez",
    )
    assert (row.distance, row.threshold, row.decision) == (0.3125, 0.6, "granted")
    assert (row.model_id, row.box) == ("dlib_resnet_v1", (10, 20, 110, 120))


def test_unknown_attempt_without_name_distance_or_box(store: Store, attempt: Callable) -> None:
    store.record_attempt(**attempt(decision="unknown", name=None, distance=None, box=None))
    (row,) = store.query_attempts(AttemptFilter())
    assert (row.person_name, row.distance, row.box) == (None, None, None)


def test_default_time_is_now_utc(store: Store, attempt: Callable) -> None:
    before = datetime.now(UTC)
    store.record_attempt(**attempt())
    (row,) = store.query_attempts(AttemptFilter())
    assert before <= row.time <= datetime.now(UTC)


def test_attempt_of_a_person_removed_meanwhile_keeps_the_name(
    store: Store, attempt: Callable
) -> None:
    person = store.add_person("Alice")
    store.remove_person("Alice")
    store.record_attempt(**attempt(person_id=person.id))
    (row,) = store.query_attempts(AttemptFilter())
    assert (row.person_id, row.person_name) == (None, "Alice")


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"decision": "maybe"}, UsageError, "unknown decision 'maybe'"),
        ({"time": datetime(2026, 1, 1)}, UsageError, "no time zone"),
        ({"distance": -0.1}, ValueError, "distance"),
        ({"distance": float("nan")}, ValueError, "distance"),
        ({"threshold": 0}, ValueError, "threshold"),
        ({"box": (1, 2, 3)}, ValueError, "box"),
        ({"name": None}, ValueError, "needs the person's name"),
    ],
)
def test_invalid_attempts_are_refused(
    store: Store, attempt: Callable, overrides: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        store.record_attempt(**attempt(**overrides))
    assert store.count_attempts(AttemptFilter()) == 0


def test_filter_refuses_unknown_decision_and_naive_times() -> None:
    with pytest.raises(UsageError, match="unknown decision 'granted '"):
        AttemptFilter(decision="granted ")
    with pytest.raises(UsageError, match="no time zone"):
        AttemptFilter(since=datetime(2026, 1, 1))
    with pytest.raises(UsageError, match="after"):
        AttemptFilter(since=START, until=START - timedelta(seconds=1))


def _populate(store: Store) -> list[NewAttempt]:
    """40 attempts over two cameras and three outcomes, several sharing a timestamp."""
    attempts = []
    for i in range(40):
        decision = ("granted", "denied", "unknown")[i % 3]
        attempts.append(
            NewAttempt(
                camera_id=("front-door", "garage")[i % 2],
                decision=decision,
                threshold=0.6,
                model_id="dlib_resnet_v1",
                name=None if decision == "unknown" else ("Alice", "王小明")[i % 2],
                distance=0.5,
                time=START + timedelta(seconds=i // 4),
            )
        )
    store.record_attempts(attempts)
    return attempts


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (AttemptFilter(), lambda a: True),
        (AttemptFilter(person="王小明"), lambda a: a.name == "王小明"),
        (AttemptFilter(decision="denied"), lambda a: a.decision == "denied"),
        (AttemptFilter(camera="garage"), lambda a: a.camera_id == "garage"),
        (
            AttemptFilter(since=START + timedelta(seconds=2), until=START + timedelta(seconds=5)),
            lambda a: START + timedelta(seconds=2) <= a.time < START + timedelta(seconds=5),
        ),
        (AttemptFilter(person_contains="lic"), lambda a: a.name == "Alice"),
        (AttemptFilter(person_contains="ALI"), lambda a: a.name == "Alice"),
        (AttemptFilter(person_contains="小"), lambda a: a.name == "王小明"),
        (AttemptFilter(person_contains="ａｌｉ"), lambda a: a.name == "Alice"),
        (
            AttemptFilter(person="Alice", decision="granted", camera="front-door"),
            lambda a: (a.name, a.decision, a.camera_id) == ("Alice", "granted", "front-door"),
        ),
    ],
)
def test_filters_select_exactly_the_matching_attempts(
    store: Store, filter: AttemptFilter, expected: Callable[[NewAttempt], bool]
) -> None:
    attempts = _populate(store)
    want = sum(1 for a in attempts if expected(a))
    assert want > 0
    assert store.count_attempts(filter) == want
    assert len(store.query_attempts(filter, limit=1000)) == want
    assert sum(1 for _ in store.iter_attempts(filter, chunk_size=3)) == want


def test_a_part_of_a_name_is_text_not_a_pattern_and_works_read_only(
    store: Store, database: DatabaseUnderTest, images_dir: Path
) -> None:
    _populate(store)
    for text in ("%", "_", "Alicia", "a%e"):
        assert store.count_attempts(AttemptFilter(person_contains=text)) == 0, text
    with pytest.raises(UsageError, match="empty"):
        AttemptFilter(person_contains=" ")
    store.close()
    with open_store(database.url, images_dir=images_dir, read_only=True) as reader:
        (row,) = reader.query_attempts(AttemptFilter(person_contains="lic"), limit=1)
        assert row.person_name == "Alice"


def test_keyset_pages_are_newest_first_without_gaps_or_repeats(store: Store) -> None:
    _populate(store)
    everything = store.query_attempts(AttemptFilter(), limit=1000)
    expected = sorted(everything, key=lambda row: (row.time, row.id), reverse=True)
    assert [row.id for row in everything] == [row.id for row in expected]
    pages, before = [], None
    while page := store.query_attempts(AttemptFilter(), limit=7, before_id=before):
        pages.append(page)
        before = page[-1].id
    assert [row.id for page in pages for row in page] == [row.id for row in expected]
    assert [len(page) for page in pages] == [7] * 5 + [5]


def test_pages_follow_time_not_insertion_order(store: Store, attempt: Callable) -> None:
    late = store.record_attempt(**attempt(time=START + timedelta(hours=1)))
    early = store.record_attempt(**attempt(time=START))
    first = store.query_attempts(AttemptFilter(), limit=1)
    assert [row.id for row in first] == [late]
    assert [r.id for r in store.query_attempts(AttemptFilter(), before_id=late)] == [early]


def test_iter_attempts_streams_oldest_first_across_chunks(store: Store) -> None:
    _populate(store)
    rows = list(store.iter_attempts(AttemptFilter(), chunk_size=6))
    assert len(rows) == 40
    assert rows == sorted(rows, key=lambda row: (row.time, row.id))
    assert len({row.id for row in rows}) == 40


def test_page_size_and_cursor_are_checked(store: Store) -> None:
    with pytest.raises(UsageError, match="page size"):
        store.query_attempts(AttemptFilter(), limit=0)
    with pytest.raises(UsageError, match="no attempt with id 99"):
        store.query_attempts(AttemptFilter(), before_id=99)


def test_deep_page_on_a_large_log(store: Store) -> None:
    """Keyset pages deep into 100,000 attempts (``benchmarks/bench_console.py`` times them)."""
    store.record_attempts(
        NewAttempt(
            camera_id="front-door",
            decision="unknown",
            threshold=0.6,
            model_id="dlib_resnet_v1",
            time=START + timedelta(seconds=i),
        )
        for i in range(100_000)
    )
    oldest = next(store.iter_attempts(AttemptFilter(), chunk_size=2))
    page = store.query_attempts(AttemptFilter(decision="unknown"), limit=100, before_id=50_000)
    assert [row.id for row in page] == list(range(49_999, 49_899, -1))
    assert store.query_attempts(AttemptFilter(camera="front-door"), before_id=oldest.id) == []


def _writer(database: str, images: str, worker: int, count: int) -> None:
    with open_store(
        database, images_dir=Path(images), busy_timeout_s=30, audit_key="test-key"
    ) as store:
        for i in range(count):
            store.record_attempt(
                camera_id=f"camera-{worker}",
                name=None,
                person_id=None,
                distance=None,
                threshold=0.6,
                decision="unknown",
                model_id="dlib_resnet_v1",
                box=(i, 0, 1, 1),
            )


def test_concurrent_writers_in_several_processes_keep_one_valid_chain(
    store: Store, database: DatabaseUnderTest, images_dir: Path
) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(database.url, str(images_dir), n, 60))
        for n in range(3)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    assert store.count_attempts(AttemptFilter()) == 180
    report = store.verify_chain()
    assert report.ok, report.summary()
    assert report.rows_checked == 181  # and the new database's state record


def test_a_denial_reason_is_stored_exported_and_chained(
    store: Store, database: DatabaseUnderTest, attempt: Callable
) -> None:
    """``reason`` (schema v5) is kept with the attempt and covered by its row hash: changing it
    behind the store's back breaks the chain, while rows without one hash as before."""
    store.record_attempt(**attempt())
    denied = store.record_attempt(**attempt(decision="denied", reason="outside schedule"))
    (newest, older) = store.query_attempts(AttemptFilter())
    assert (newest.id, newest.reason, older.reason) == (denied, "outside schedule", None)
    assert store.verify_chain().ok
    with database.raw() as connection:
        connection.execute("UPDATE attempt SET reason = 'holiday' WHERE id = ?", (denied,))
    report = store.verify_chain()
    assert not report.ok and report.first_break.row_id == denied


@pytest.mark.parametrize("reason", ["", "  ", "two\nlines"])
def test_a_reason_is_one_non_empty_line(store: Store, attempt: Callable, reason: str) -> None:
    with pytest.raises(ValueError, match="reason must be one non-empty line"):
        store.record_attempt(**attempt(decision="denied", reason=reason))


@pytest.mark.parametrize("committed", [True, False], ids=["it-committed", "it-did-not"])
def test_a_retry_after_a_commit_of_unknown_outcome_writes_each_attempt_once(
    store: Store, monkeypatch, committed: bool
) -> None:
    """The connection is lost during COMMIT (the server's answer never arrives): the caller
    gets a StoreError and retries the batch with a newer attempt after it, as the console's
    queue does. Whether or not that commit happened, every attempt ends up in the log once."""
    first = [_new(i) for i in range(3)]
    real_commit = store._db.commit

    def lost_answer() -> None:
        if committed:
            real_commit()
        else:
            store._db.rollback()
        raise peewee.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(store._db, "commit", lost_answer)
    with pytest.raises(StoreError):
        store.record_attempts(first)
    monkeypatch.setattr(store._db, "commit", real_commit)
    store.record_attempts([*first, _new(3)])
    boxes = [row.box[0] for row in store.iter_attempts(AttemptFilter())]
    assert boxes == [0, 1, 2, 3]
    assert store.verify_chain().ok


def _new(i: int) -> NewAttempt:
    return NewAttempt(
        camera_id="door",
        decision="unknown",
        threshold=0.6,
        model_id="dlib_resnet_v1",
        box=(i, 0, 1, 1),
        time=START + timedelta(seconds=i),
    )
