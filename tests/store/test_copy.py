"""``db copy``: a whole site into a new, empty database of either backend, verified there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.schedule import parse_windows
from gatekeeper.store import AttemptFilter, NewAttempt, Store, open_store
from gatekeeper.store import copy as site_copy

KEY = "test-key"
START = datetime(2026, 11, 28, 14, 2, 45, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path: Path) -> Iterator[DatabaseUnderTest]:
    """A second fresh database, of each backend, to copy into."""
    if request.param == "sqlite":
        path = tmp_path / "target" / "copy.db"
        path.parent.mkdir()
        yield DatabaseUnderTest("sqlite", str(path), path)
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield DatabaseUnderTest("postgresql", url)
    server.drop_database(url)


def _populate(store: Store, make_embedding: Callable, sha: Callable) -> None:
    """A small site: two people (one with a schedule and dates), templates with qualities,
    a threshold, attempts of every decision with a reason, and admin events."""
    for i, name in enumerate(("José Núñez", "王小明")):
        store.add_encoding(
            name,
            model_id="dlib_resnet_v1",
            embedding=make_embedding(i),
            image_sha256=sha(name.encode()),
            quality={"face_px": 120 + i, "sharpness": 31.5, "pose": 0.1, "detector_score": 0.99},
        )
    store.set_schedule("office", parse_windows(["Mon-Fri 07:00-19:00"]))
    store.assign_schedule("王小明", "office")
    store.set_validity("王小明", date(2026, 1, 1), date(2027, 6, 30))
    store.set_threshold(0.55)
    store.record_attempts(
        NewAttempt(
            camera_id=("front-door", "back-door")[i % 2],
            decision=("granted", "unknown", "denied", "spoof")[i % 4],
            threshold=0.55,
            model_id="dlib_resnet_v1",
            name=None if i % 4 == 1 else "José Núñez",
            distance=0.3 + i / 1000,
            box=(i, 2 * i, 100, 110),
            time=START + timedelta(seconds=i),
            reason="outside schedule office" if i % 4 == 2 else None,
        )
        for i in range(40)
    )
    store.log_admin_event("export", "40 attempts to a.csv")


def _contents(store: Store) -> tuple:
    """What a site holds, as its users see it."""
    people = [(p.name, p.active, p.encodings, p.low_quality) for p in store.list_people()]
    gallery = store.gallery("dlib_resnet_v1")
    return (
        people,
        store.list_schedules(),
        store.get_threshold(0.6),
        list(store.iter_attempts(AttemptFilter())),
        gallery.names,
        gallery.embeddings.tobytes(),
    )


def test_a_site_copied_to_either_backend_keeps_everything_and_verifies(
    database: DatabaseUnderTest,
    target: DatabaseUnderTest,
    images_dir: Path,
    make_embedding: Callable,
    sha: Callable,
    monkeypatch,
) -> None:
    monkeypatch.setattr(site_copy, "CHUNK", 7)  # many chunks: the keyset paging is exercised
    with open_store(database.url, images_dir=images_dir, audit_key=KEY) as source:
        _populate(source, make_embedding, sha)
        before = _contents(source)
        head = source.verify_chain()
    report = site_copy.copy_site(database.url, target.url, images_dir=images_dir, audit_key=KEY)
    assert report.chain.ok and report.chain.signature_checked
    assert report.chain.head_seq == head.head_seq and report.rows["attempt"] == 40
    with open_store(target.url, images_dir=images_dir, audit_key=KEY) as copied:
        assert _contents(copied) == before
        new = copied.record_attempt(
            camera_id="lobby",
            name=None,
            person_id=None,
            distance=None,
            threshold=0.55,
            decision="unknown",
            model_id="dlib_resnet_v1",
            box=None,
        )
        assert new > max(row.id for row in before[3]), "new rows get ids after the copied ones"
        assert copied.verify_chain().ok


def test_a_target_that_is_not_empty_is_refused_and_left_alone(
    database: DatabaseUnderTest, target: DatabaseUnderTest, images_dir: Path
) -> None:
    open_store(database.url, images_dir=images_dir).close()
    with open_store(target.url, images_dir=images_dir) as existing:
        existing.log_admin_event("export", "the target's own history")
    before = target.dump()
    with pytest.raises(UsageError, match="the target must be a new, empty database"):
        site_copy.copy_site(database.url, target.url, images_dir=images_dir)
    assert target.dump() == before


def test_a_copy_that_fails_its_check_leaves_no_target(
    database: DatabaseUnderTest,
    target: DatabaseUnderTest,
    images_dir: Path,
    make_embedding: Callable,
    sha: Callable,
) -> None:
    """A source whose chain was tampered with copies faithfully, fails verification on the
    target, and the target is removed again: a retry finds it empty."""
    with open_store(database.url, images_dir=images_dir) as source:
        _populate(source, make_embedding, sha)
    with database.raw() as connection:
        connection.execute("UPDATE attempt SET person_name = 'Mallory' WHERE id = 5")
    with pytest.raises(StoreError, match="copy check failed: .*BROKEN at attempt #5"):
        site_copy.copy_site(database.url, target.url, images_dir=images_dir)
    if target.path is not None:
        assert not target.path.exists()
    else:
        assert target.tables() == []


def test_a_signed_site_copied_with_its_key_keeps_its_signature(
    database: DatabaseUnderTest,
    target: DatabaseUnderTest,
    images_dir: Path,
    make_embedding: Callable,
    sha: Callable,
) -> None:
    """The head and its signature are copied as they are (checked with the key on both sides);
    the target verifies with the key, and only with the key may it be extended."""
    with open_store(database.url, images_dir=images_dir, audit_key=KEY) as source:
        _populate(source, make_embedding, sha)
    report = site_copy.copy_site(database.url, target.url, images_dir=images_dir, audit_key=KEY)
    assert report.chain.ok and report.chain.signature_checked
    with open_store(target.url, images_dir=images_dir, audit_key=KEY) as copied:
        assert copied.verify_chain().signature_checked and copied.verify_chain().ok
    with (
        open_store(target.url, images_dir=images_dir) as keyless,
        pytest.raises(StoreError, match="refusing to extend the audit log"),
    ):
        keyless.log_admin_event("export", "no key")
