"""Kept visitor crops: keep, list, get, dismiss, mark enrolled, expire; the chain verifies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest

from gatekeeper.errors import NotFoundError, UsageError
from gatekeeper.store import AttemptFilter, Store, open_store

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def jpeg(shared_data: Path) -> bytes:
    """A real JPEG (a face photo), standing in for a crop."""
    return (shared_data / "faces" / "probe" / "obama-240p.jpg").read_bytes()


def unknown(store: Store, attempt: Callable, when: datetime, **overrides) -> int:
    values = attempt(decision="unknown", name=None, distance=0.83, time=when, **overrides)
    return store.record_attempt(**values)


def admin_events(database: DatabaseUnderTest) -> list[tuple[str, str]]:
    with database.raw() as db:
        rows = db.execute(
            "SELECT kind, detail FROM admin_event WHERE kind LIKE ? ORDER BY seq", ("visitor%",)
        ).fetchall()
    return [tuple(row) for row in rows]


def test_kept_crops_are_listed_newest_first_with_their_attempt(
    store: Store, attempt: Callable, jpeg: bytes
) -> None:
    first = unknown(store, attempt, T0, camera_id="front-door")
    second = store.record_attempt(
        **attempt(decision="denied", time=T0 + timedelta(minutes=5), reason="deactivated")
    )
    spoof = store.record_attempt(**attempt(decision="spoof", time=T0 + timedelta(minutes=1)))
    ids = [
        store.keep_visitor(attempt_id, jpeg, 120, 160, kept=when)
        for attempt_id, when in ((first, T0), (second, T0 + timedelta(minutes=5)))
    ]
    ids.append(store.keep_visitor(spoof, jpeg, 64, 80, kept=T0 + timedelta(minutes=1)))

    rows = store.list_visitors()
    assert [r.attempt_id for r in rows] == [second, spoof, first]
    newest = rows[0]
    assert (newest.id, newest.decision, newest.reason, newest.person_name) == (
        ids[1],
        "denied",
        "deactivated",
        "Alice",
    )
    assert (newest.time, newest.kept, newest.camera_id) == (
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=5),
        "front-door",
    )
    assert (newest.status, newest.enrolled_name, newest.crop) == ("new", None, None)
    oldest = rows[-1]
    assert (oldest.decision, oldest.distance, oldest.person_name) == ("unknown", 0.83, None)
    assert [r.id for r in store.list_visitors(limit=1)] == [ids[1]]

    got = store.get_visitor(ids[2])
    assert (got.crop, got.width, got.height, got.decision) == (jpeg, 64, 80, "spoof")
    assert store.verify_chain().ok


def test_only_unknown_spoof_and_denied_attempts_of_the_log_may_keep_a_crop(
    store: Store, attempt: Callable, jpeg: bytes
) -> None:
    granted = store.record_attempt(**attempt(decision="granted"))
    with pytest.raises(UsageError, match="attempt .* is 'granted': only the faces of unknown"):
        store.keep_visitor(granted, jpeg, 10, 10, kept=T0)
    with pytest.raises(NotFoundError, match="no attempt with id 999"):
        store.keep_visitor(999, jpeg, 10, 10, kept=T0)
    stranger = unknown(store, attempt, T0)
    store.keep_visitor(stranger, jpeg, 10, 10, kept=T0)
    with pytest.raises(UsageError, match="already has a kept crop"):
        store.keep_visitor(stranger, jpeg, 10, 10, kept=T0)
    assert len(store.list_visitors()) == 1
    with pytest.raises(NotFoundError, match="no such visitor: 42"):
        store.get_visitor(42)
    with pytest.raises(UsageError, match="page size"):
        store.list_visitors(limit=0)


def test_dismissing_deletes_the_crop_keeps_the_attempt_and_is_chained(
    store: Store, database: DatabaseUnderTest, attempt: Callable, jpeg: bytes
) -> None:
    attempt_id = unknown(store, attempt, T0)
    visitor = store.keep_visitor(attempt_id, jpeg, 120, 160, kept=T0)
    dismissed = store.dismiss_visitor(visitor)
    assert dismissed.attempt_id == attempt_id
    with pytest.raises(NotFoundError):
        store.get_visitor(visitor)
    assert store.list_visitors() == []
    with database.raw() as db:
        assert tuple(db.execute("SELECT COUNT(*) FROM visitor").fetchone()) == (0,)
        assert [tuple(r) for r in db.execute("SELECT id FROM attempt").fetchall()] == [
            (attempt_id,)
        ]
    assert admin_events(database) == [
        (
            "visitor_dismiss",
            f"deleted the crop of visitor {visitor} (attempt {attempt_id}, unknown at "
            "front-door, 2026-12-01T10:00:00+00:00)",
        )
    ]
    assert store.verify_chain().ok
    with pytest.raises(NotFoundError, match=f"no such visitor: {visitor}"):
        store.dismiss_visitor(visitor)


def test_a_dismissed_crop_is_gone_from_the_database_file(
    db_path: Path, images_dir: Path, attempt: Callable, jpeg: bytes
) -> None:
    """Deleting a row in SQLite leaves its bytes in free pages unless they are overwritten
    (``secure_delete``): a face must not be recoverable from the file after dismissal."""
    marker = jpeg[len(jpeg) // 2 : len(jpeg) // 2 + 64]

    def file_holds_the_crop() -> bool:
        files = [db_path, db_path.with_name(db_path.name + "-wal")]
        return any(marker in path.read_bytes() for path in files if path.exists())

    with open_store(str(db_path), images_dir=images_dir) as store:
        kept = store.keep_visitor(unknown(store, attempt, T0), jpeg, 120, 160, kept=T0)
        other_crop = b"\xff\xd8another face\xff\xd9"
        other = store.keep_visitor(unknown(store, attempt, T0), other_crop, 9, 9, kept=T0)
    assert file_holds_the_crop(), "the test's marker must be found while the crop is kept"
    with open_store(str(db_path), images_dir=images_dir) as store:
        store.dismiss_visitor(kept)
        assert [v.id for v in store.list_visitors()] == [other]
    assert not file_holds_the_crop()


def test_expiry_deletes_what_is_older_than_the_cut_off_with_one_chained_event(
    store: Store, database: DatabaseUnderTest, attempt: Callable, jpeg: bytes
) -> None:
    ages = (timedelta(days=31), timedelta(days=30, seconds=1), timedelta(days=29))
    kept = [
        store.keep_visitor(unknown(store, attempt, T0 - age), jpeg, 9, 9, kept=T0 - age)
        for age in ages
    ]
    cutoff = T0 - timedelta(days=30)
    assert store.expire_visitors(cutoff, "retention 30 days") == 2
    assert [v.id for v in store.list_visitors()] == [kept[2]]
    assert admin_events(database) == [
        (
            "visitor_expire",
            "deleted 2 visitor crop(s) captured before 2026-11-01T10:00:00.000000+00:00 "
            "(retention 30 days)",
        )
    ]
    assert store.expire_visitors(cutoff, "retention 30 days") == 0
    assert len(admin_events(database)) == 1, "nothing expired: no event"
    assert store.verify_chain().ok
    assert store.count_attempts(AttemptFilter()) == 3, "the attempts stay"


def test_marking_enrolled_needs_the_person(
    store: Store, database: DatabaseUnderTest, attempt: Callable, jpeg: bytes
) -> None:
    visitor = store.keep_visitor(unknown(store, attempt, T0), jpeg, 9, 9, kept=T0)
    with pytest.raises(NotFoundError, match="no such person: Lin"):
        store.mark_visitor_enrolled(visitor, "Lin")
    store.add_person("Lin")
    store.mark_visitor_enrolled(visitor, "Lin")
    (row,) = store.list_visitors()
    assert (row.status, row.enrolled_name) == ("enrolled", "Lin")
    assert admin_events(database)[-1][0] == "visitor_enrol"
    assert admin_events(database)[-1][1].endswith("enrolled as Lin")
    assert store.verify_chain().ok


def _lin_with_crops(store: Store, attempt: Callable, jpeg: bytes) -> tuple[list[int], list[int]]:
    """Lin enrolled, with crops of her denied and spoof attempts and one enrolled as her, and
    the crops of a stranger and of Ann beside them: (Lin's visitor ids, the others')."""
    lin, ann = store.add_person("Lin").id, store.add_person("Ann").id
    mine, others = [], []
    for minute, (decision, name, person) in enumerate(
        [("denied", "Lin", lin), ("spoof", "Lin", lin), ("denied", "Ann", ann)] * 3
    ):
        when = T0 + timedelta(minutes=minute)
        values = attempt(decision=decision, name=name, person_id=person, time=when)
        if decision == "denied":
            values["reason"] = "deactivated"
        visitor = store.keep_visitor(store.record_attempt(**values), jpeg, 80, 112, kept=when)
        (mine if name == "Lin" else others).append(visitor)
    stranger = store.keep_visitor(unknown(store, attempt, T0), jpeg, 9, 9, kept=T0)
    others.append(stranger)
    enrolled = store.keep_visitor(unknown(store, attempt, T0), jpeg, 9, 9, kept=T0)
    store.mark_visitor_enrolled(enrolled, "Lin")
    mine.append(enrolled)
    return mine, others


def test_removing_a_person_erases_their_visitor_crops_and_keeps_their_attempts(
    store: Store, database: DatabaseUnderTest, attempt: Callable, jpeg: bytes
) -> None:
    """Erasure erases every kept face of the person: the crops of their denied and spoof
    attempts and a crop enrolled as them; the attempts stay, the chain verifies."""
    mine, others = _lin_with_crops(store, attempt, jpeg)
    attempts = store.count_attempts(AttemptFilter())

    report = store.remove_person("Lin")

    assert report.visitors_deleted == len(mine) == 7
    assert sorted(v.id for v in store.list_visitors()) == sorted(others)
    for visitor in mine:
        with pytest.raises(NotFoundError, match=f"no such visitor: {visitor}"):
            store.get_visitor(visitor)
    assert store.count_attempts(AttemptFilter()) == attempts, "the attempts stay"
    assert store.count_attempts(AttemptFilter(person="Lin")) == 6
    with database.raw() as db:
        (detail,) = db.execute("SELECT detail FROM admin_event WHERE kind = 'remove'").fetchone()
    assert detail == "Lin: erased 0 encodings, 0 photos and 7 visitor crops; 6 attempts kept"
    assert store.verify_chain().ok


def test_erased_crops_are_gone_from_the_database_file(
    db_path: Path, images_dir: Path, attempt: Callable, jpeg: bytes
) -> None:
    """Removal deletes the crops as dismissal and expiry do (``secure_delete``): a removed
    person's face is not recoverable from the file's free pages."""
    marker = jpeg[len(jpeg) // 2 : len(jpeg) // 2 + 64]

    def file_holds_the_crop() -> bool:
        files = [db_path, db_path.with_name(db_path.name + "-wal")]
        return any(marker in path.read_bytes() for path in files if path.exists())

    with open_store(str(db_path), images_dir=images_dir) as store:
        _lin_with_crops(store, attempt, jpeg)
        other_crop = b"\xff\xd8another face\xff\xd9"
        other = store.keep_visitor(unknown(store, attempt, T0), other_crop, 9, 9, kept=T0)
        for visitor in store.list_visitors():
            if visitor.id != other and visitor.person_name != "Lin" and visitor.status == "new":
                store.dismiss_visitor(visitor.id)
    assert file_holds_the_crop(), "the test's marker must be found while Lin's crops are kept"
    with open_store(str(db_path), images_dir=images_dir) as store:
        store.remove_person("Lin")
        assert [v.id for v in store.list_visitors()] == [other]
    assert not file_holds_the_crop()
