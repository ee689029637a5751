"""Rollbacks a signed chain cannot show by itself, caught against kept heads, and keyless
verification and copying of a signed chain (issue 19, findings 2 and 3), on both backends.

The tampering is done as an attacker with write access would: with the database's own driver,
or by putting back an older copy of the whole database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest, rehash_chain, sqlite_backup

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.store import Store, open_store
from gatekeeper.store import copy as site_copy
from gatekeeper.store.audit import (
    BAD_SIGNATURE,
    DIVERGED,
    FOREIGN_HEAD,
    ROLLED_BACK,
    Head,
    KeptHead,
    sign_head,
)

#: The key of the ``store`` fixture (``tests/store/conftest.py``).
KEY = "test-key"


def _kept(head: Head, where: str = "kept line 1") -> KeptHead:
    return KeptHead(head.seq, head.hash, head.signature, where)


def _record(store: Store, attempt: Callable, count: int) -> None:
    for i in range(count):
        store.record_attempt(**attempt(distance=0.3 + i / 100))


@pytest.fixture
def site(store: Store, attempt: Callable) -> Store:
    """A keyed site: the new database's state record, Alice's enrolment, four attempts."""
    store.add_person("Alice")
    _record(store, attempt, 4)
    return store


def _raw_head(database: DatabaseUnderTest) -> tuple[int, str, str | None]:
    with database.raw() as connection:
        return connection.execute("SELECT seq, hash, signature FROM chain_head").fetchone()


def _roll_back_in_place(database: DatabaseUnderTest, head: tuple[int, str, str | None]) -> None:
    """Delete every row after the older head ``head`` and put that head back, signature and
    all: the attack a signed chain cannot show."""
    seq, head_hash, signature = head
    with database.raw() as connection:
        connection.execute("DELETE FROM attempt WHERE seq > ?", (seq,))
        connection.execute("DELETE FROM admin_event WHERE seq > ?", (seq,))
        connection.execute(
            "UPDATE chain_head SET seq = ?, hash = ?, signature = ? WHERE id = 1",
            (seq, head_hash, signature),
        )


def test_an_older_signed_head_put_back_verifies_alone_and_is_caught_by_a_kept_head(
    site: Store, database: DatabaseUnderTest, attempt: Callable
) -> None:
    older = _raw_head(database)
    _record(site, attempt, 3)
    newest = site.chain_head()
    assert newest.seq == older[0] + 3
    assert newest.signature == sign_head(KEY.encode(), newest.seq, newest.hash)
    _roll_back_in_place(database, older)
    alone = site.verify_chain()
    assert alone.ok and alone.signature_checked, "a signed rollback is a valid signed chain"
    report = site.verify_chain(anchor=[_kept(newest)])
    assert not report.ok and report.first_break.reason == ROLLED_BACK
    assert report.summary().startswith(
        f"audit chain ROLLED BACK: kept line 1 kept seq {newest.seq}, but the chain ends at "
        f"seq {older[0]}: rows {older[0] + 1}..{newest.seq} are gone"
    )


def test_writes_signed_on_top_of_a_rollback_diverge_from_the_kept_head(
    site: Store, database: DatabaseUnderTest, attempt: Callable
) -> None:
    older = _raw_head(database)
    _record(site, attempt, 2)
    kept = site.chain_head()
    _roll_back_in_place(database, older)
    _record(site, attempt, 5)  # the key signs on top of the restored head
    assert site.verify_chain().ok
    report = site.verify_chain(anchor=[_kept(kept, "heads.jsonl line 7")])
    assert not report.ok
    assert (report.first_break.reason, report.first_break.seq) == (DIVERGED, kept.seq)
    assert report.summary().startswith(
        f"audit chain DIVERGED from a kept head: heads.jsonl line 7 kept seq {kept.seq} with hash "
        f"{kept.hash[:16]}…, but the database's row {kept.seq} hashes to "
    )


@pytest.fixture
def older_copy(database: DatabaseUnderTest, tmp_path: Path, pg_server) -> Callable[[], str]:
    """``older_copy()``: the site's database as it is now, copied aside (SQLite: the file,
    through SQLite's backup; PostgreSQL: ``db copy`` into a new database); its URL."""
    made: list[str] = []

    def copy() -> str:
        if database.path is not None:
            sqlite_backup(database.path, tmp_path / "older.db")
            return str(tmp_path / "older.db")
        url = pg_server.create_database()
        made.append(url)
        site_copy.copy_site(database.url, url, images_dir=tmp_path / "images", audit_key=KEY)
        return url

    yield copy
    for url in made:
        pg_server.drop_database(url)


def test_an_older_copy_of_the_database_is_rolled_back_against_the_kept_head(
    site: Store, attempt: Callable, older_copy: Callable[[], str], images_dir: Path
) -> None:
    aside = older_copy()
    site.set_threshold(0.55)
    _record(site, attempt, 2)
    kept = [_kept(site.chain_head(), "heads.jsonl line 2")]
    with open_store(aside, images_dir=images_dir, audit_key=KEY, read_only=True) as restored:
        assert restored.verify_chain().ok
        report = restored.verify_chain(anchor=kept)
    assert not report.ok and report.first_break.reason == ROLLED_BACK


def test_a_chain_that_holds_every_kept_head_verifies(site: Store, attempt: Callable) -> None:
    kept = [_kept(site.chain_head(), "line 1")]
    _record(site, attempt, 2)
    kept.append(_kept(site.chain_head(), "line 2"))
    report = site.verify_chain(anchor=kept)
    assert report.ok and report.anchored == 2
    assert report.summary().endswith("signature valid; matches 2 kept head(s))")


def test_a_kept_head_not_signed_with_the_key_is_refused(site: Store) -> None:
    head = site.chain_head()
    forged = KeptHead(head.seq + 50, head.hash, "0" * 64, "heads.jsonl line 3")
    report = site.verify_chain(anchor=[forged])
    assert not report.ok and report.first_break.reason == FOREIGN_HEAD
    assert report.summary().startswith(
        "audit anchor REFUSED: heads.jsonl line 3 is not a head signed with this site's audit key"
    )


def _forge_without_the_key(database: DatabaseUnderTest) -> None:
    """Rename an attempt's person and recompute every hash and the head, leaving the old
    signature in place: what someone without the key can do."""
    with database.raw() as connection:
        connection.execute("UPDATE attempt SET person_name = 'Mallory' WHERE seq = 4")
        rehash_chain(connection)


@pytest.fixture
def forged(site: Store, database: DatabaseUnderTest, attempt: Callable) -> DatabaseUnderTest:
    """The keyed site, rewritten without the key (its head's signature no longer matches)."""
    site.record_attempt(**attempt(person_id=None))
    _forge_without_the_key(database)
    assert site.verify_chain().first_break.reason == BAD_SIGNATURE
    return database


def test_keyless_verification_of_a_forged_signed_chain_says_it_checked_no_signature(
    forged: DatabaseUnderTest, images_dir: Path
) -> None:
    with open_store(forged.url, images_dir=images_dir, read_only=True) as keyless:
        report = keyless.verify_chain()
    summary = report.summary()
    assert not summary.startswith("audit chain OK"), summary
    assert summary.startswith("audit chain NOT VERIFIED: its 8 rows hash correctly, but the head")
    assert "the signature was not checked" in summary
    assert report.unchecked and report.signed and not report.signature_checked


def _absent(target: DatabaseUnderTest) -> bool:
    return not target.path.exists() if target.path is not None else target.tables() == []


@pytest.fixture
def target(request, tmp_path: Path, pg_server) -> Iterator[DatabaseUnderTest]:
    """A fresh database of either backend, to copy into."""
    if request.param == "sqlite":
        path = tmp_path / "target" / "copy.db"
        path.parent.mkdir()
        yield DatabaseUnderTest("sqlite", str(path), path)
        return
    url = pg_server.create_database()
    yield DatabaseUnderTest("postgresql", url)
    pg_server.drop_database(url)


@pytest.mark.parametrize("target", ["sqlite", "postgresql"], indirect=True)
def test_db_copy_of_a_signed_chain_needs_the_key_and_never_carries_a_forgery(
    forged: DatabaseUnderTest, target: DatabaseUnderTest, images_dir: Path
) -> None:
    with pytest.raises(UsageError, match="the source's audit log is signed: db copy needs"):
        site_copy.copy_site(forged.url, target.url, images_dir=images_dir)
    assert _absent(target)
    with pytest.raises(StoreError, match="not copied: the source's audit chain cannot be vouched"):
        site_copy.copy_site(forged.url, target.url, images_dir=images_dir, audit_key=KEY)
    assert _absent(target)


def test_commit_listeners_hear_what_each_committed_transaction_chained(
    database: DatabaseUnderTest, images_dir: Path, attempt: Callable
) -> None:
    heard: list[tuple[int, int]] = []
    with open_store(
        database.url, images_dir=images_dir, audit_key=KEY, busy_timeout_s=0.2
    ) as store:
        store.on_commit(lambda attempts, admin_events: heard.append((attempts, admin_events)))
        store.record_attempt(**attempt())
        store.set_threshold(0.55)  # the threshold event and its state record
        store.record_attempts([])  # nothing to write: no transaction
        store.get_threshold(0.6)  # reads commit nothing
        with database.locked(), pytest.raises(StoreError):
            store.log_admin_event("export", "refused: the lock is held")
        store.log_admin_event("export", "1 attempt")
    assert heard == [(1, 0), (0, 2), (0, 1)]


def test_a_change_rolled_back_with_the_transaction_it_joined_leaves_the_next_change_trusted(
    store: Store,
) -> None:
    """A change inside an outer transaction that then fails is undone with it, and so is the
    state that change left: the next change must compare with the state as it is, not be
    refused as a change made outside Gatekeeper."""
    store.set_threshold(0.55)
    with pytest.raises(RuntimeError), store.change():
        store.set_threshold(0.5)
        raise RuntimeError("the outer transaction fails after the change joined it")
    assert store.get_threshold(0.6) == 0.55
    store.set_threshold(0.45)
    assert store.get_threshold(0.6) == 0.45
    assert store.state_problem() is None
