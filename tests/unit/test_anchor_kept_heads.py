"""Verifying against heads kept outside the database (``verify_chain(..., anchor=...)``), in
this process, on both backends: a kept head signed with another key or not signed at all, one
whose row hash differs (DIVERGED, the lowest such seq), one beyond the chain's end (ROLLED_BACK,
the highest); the exact break and how many kept heads the report counts. Also what the chain
head reads as (``Store.chain_head``), and the whole report of a chain whose head row is gone,
whose head is signed otherwise or which has a row beyond its head."""

from __future__ import annotations

import pytest
from helpers import DatabaseUnderTest

from gatekeeper.store import Store, open_store
from gatekeeper.store.audit import (
    BAD_SIGNATURE,
    DELETED,
    DIVERGED,
    FOREIGN_HEAD,
    GENESIS_HASH,
    INSERTED,
    ROLLED_BACK,
    ChainBreak,
    ChainReport,
    Head,
    KeptHead,
    sign_head,
)

KEY = b"test-key"


def _attempt(store: Store, distance: float) -> int:
    return store.record_attempt(
        camera_id="front-door",
        name="Alice",
        person_id=None,
        distance=distance,
        threshold=0.6,
        decision="granted",
        model_id="dlib_resnet_v1",
        box=(10, 20, 110, 120),
    )


def _kept(head: Head, where: str) -> KeptHead:
    return KeptHead(head.seq, head.hash, head.signature, where)


@pytest.fixture
def history(keyed_store: Store) -> list[Head]:
    """A chain of attempts and admin events, newest an attempt; the head after each row."""
    heads = [keyed_store.chain_head()]
    for i in range(6):
        if i == 1:
            keyed_store.set_threshold(0.55)  # an admin event (and a state record) among them
        else:
            _attempt(keyed_store, 0.3 + i / 100)
        heads.append(keyed_store.chain_head())
    return heads


def _break(report: ChainReport) -> tuple:
    found = report.first_break
    return (found.table, found.row_id, found.seq, found.reason, found.detail)


def test_a_chain_that_matches_its_kept_heads_counts_them(
    keyed_store: Store, history: list[Head], database: DatabaseUnderTest, tmp_path
) -> None:
    head = history[-1]
    kept = [_kept(h, f"heads.jsonl line {i}") for i, h in enumerate(history, 1)]
    kept.append(KeptHead(0, GENESIS_HASH, sign_head(KEY, 0, GENESIS_HASH), "heads.jsonl line 0"))
    report = keyed_store.verify_chain(anchor=kept)
    assert report == ChainReport(True, head.seq, head.seq, True, None, True, len(kept))
    assert report.summary().endswith(f"; matches {len(kept)} kept head(s))")
    with open_store(database.url, images_dir=tmp_path / "images") as keyless:
        foreign = KeptHead(head.seq, head.hash, sign_head(b"other", head.seq, head.hash), "x")
        unsigned = KeptHead(head.seq, head.hash, None, "y")
        report = keyless.verify_chain(anchor=[*kept, foreign, unsigned])
    assert report == ChainReport(True, head.seq, head.seq, False, None, True, len(kept) + 2)
    assert report.unchecked, "without the key neither the head nor the kept ones are checked"


def test_the_head_reads_as_its_seq_hash_signature_and_the_newest_rows_time(
    keyed_store: Store, history: list[Head], database: DatabaseUnderTest
) -> None:
    with database.raw() as connection:
        seq, digest, signature = connection.execute(
            "SELECT seq, hash, signature FROM chain_head"
        ).fetchone()
        times = {}
        for table in ("attempt", "admin_event"):
            times.update(connection.execute(f"SELECT seq, time FROM {table}").fetchall())
    assert signature == sign_head(KEY, seq, digest)
    assert history[-1] == Head(seq, digest, times[seq], signature)
    assert history[2].time == times[history[2].seq], "an admin event's time (a state record)"
    assert history[-1].record() == {
        "seq": seq,
        "hash": digest,
        "time": times[seq],
        "signature": signature,
    }
    assert len({h.seq for h in history}) == len(history)


@pytest.mark.parametrize("who", ["another site", "unsigned", "edited"])
def test_with_the_key_a_kept_head_not_signed_with_it_is_refused(
    keyed_store: Store, history: list[Head], who: str
) -> None:
    good = _kept(history[2], "heads.jsonl line 1")
    head = history[4]
    bad = {
        "another site": KeptHead(head.seq, head.hash, sign_head(b"other", head.seq, head.hash), ""),
        "unsigned": KeptHead(head.seq, head.hash, None, ""),
        "edited": KeptHead(head.seq, history[3].hash, head.signature, ""),
    }[who]
    bad = KeptHead(bad.seq, bad.hash, bad.signature, "heads.jsonl line 2")
    later = KeptHead(history[5].seq, history[5].hash, None, "heads.jsonl line 3")
    report = keyed_store.verify_chain(anchor=[good, bad, later])
    assert (report.ok, report.rows_checked, report.anchored) == (False, history[-1].seq, 0)
    assert _break(report) == (
        "anchor",
        None,
        head.seq,
        FOREIGN_HEAD,
        "heads.jsonl line 2 is not a head signed with this site's audit key (another site's "
        "anchor, or an edited one)",
    )


def _diverged(kept: KeptHead, actual: str) -> tuple:
    return (
        "chain_head",
        None,
        kept.seq,
        DIVERGED,
        f"{kept.where} kept seq {kept.seq} with hash {kept.hash[:16]}…, but the database's row "
        f"{kept.seq} hashes to {actual[:16]}…: the history up to seq {kept.seq} was replaced "
        "(rolled back, then written on)",
    )


def test_a_kept_head_whose_row_hashes_otherwise_is_the_lowest_divergence(
    keyed_store: Store, history: list[Head]
) -> None:
    """Kept heads signed with the key whose rows differ: the lowest seq is reported, whatever
    the order of the anchor file; the first row, an admin event's and the genesis count too."""

    def forged(head: Head, where: str) -> KeptHead:
        other = ("f" if head.hash[0] != "f" else "e") * 64
        return KeptHead(head.seq, other, sign_head(KEY, head.seq, other), where)

    newest, threshold = history[-1], history[2]
    fine = [_kept(h, "fine") for h in history]
    for lowest, higher in [(history[1], newest), (threshold, newest), (history[0], history[2])]:
        kept = [*fine, forged(higher, "heads.jsonl line 9"), forged(lowest, "heads.jsonl line 7")]
        report = keyed_store.verify_chain(anchor=kept)
        assert (report.ok, report.rows_checked, report.anchored) == (False, newest.seq, 0)
        assert _break(report) == _diverged(kept[-1], lowest.hash)
    at_the_head = forged(newest, "heads.jsonl line 3")  # rolled back, written on as far
    report = keyed_store.verify_chain(anchor=[*fine, at_the_head])
    assert _break(report) == _diverged(at_the_head, newest.hash)
    genesis = forged(Head(0, GENESIS_HASH, None, None), "heads.jsonl line 1")
    assert _break(keyed_store.verify_chain(anchor=[genesis])) == _diverged(genesis, GENESIS_HASH)
    beyond = KeptHead(newest.seq + 3, "a" * 64, sign_head(KEY, newest.seq + 3, "a" * 64), "b")
    forged_first = forged(history[1], "heads.jsonl line 2")
    report = keyed_store.verify_chain(anchor=[beyond, forged_first])
    assert _break(report) == _diverged(forged_first, history[1].hash), "diverged before gone"


def test_a_chain_ending_before_a_kept_head_is_rolled_back_to_the_highest(
    keyed_store: Store, history: list[Head], database: DatabaseUnderTest
) -> None:
    """The newest rows deleted and an older signed head put back: a valid signed chain, which
    only the heads kept elsewhere tell from the real one."""
    kept = [_kept(history[5], "heads.jsonl line 5"), _kept(history[6], "heads.jsonl line 6")]
    kept.insert(0, _kept(history[1], "heads.jsonl line 1"))
    older = history[3]
    with database.raw() as connection:
        connection.execute("DELETE FROM attempt WHERE seq > ?", (older.seq,))
        connection.execute("DELETE FROM admin_event WHERE seq > ?", (older.seq,))
        connection.execute(
            "UPDATE chain_head SET seq = ?, hash = ?, signature = ?",
            (older.seq, older.hash, older.signature),
        )
    assert keyed_store.verify_chain().ok, "without the anchor the rollback cannot be told"
    report = keyed_store.verify_chain(anchor=[kept[1], kept[2], kept[0]])
    assert (report.ok, report.rows_checked, report.anchored) == (False, older.seq, 0)
    newest = kept[2]
    assert _break(report) == (
        "chain_head",
        None,
        older.seq,
        ROLLED_BACK,
        f"heads.jsonl line 6 kept seq {newest.seq}, but the chain ends at seq {older.seq}: "
        f"rows {older.seq + 1}..{newest.seq} are gone (an older copy of the database, or the "
        "newest rows deleted and an older signed head put back)",
    )
    assert report.summary().startswith("audit chain ROLLED BACK: heads.jsonl line 6 kept seq")


def test_a_missing_head_row_is_reported_before_anything_else(
    keyed_store: Store, history: list[Head], database: DatabaseUnderTest, tmp_path
) -> None:
    with database.raw() as connection:
        connection.execute("DELETE FROM chain_head")
    missing = ChainBreak("chain_head", None, None, DELETED, "the chain head row is missing")
    kept = [_kept(history[-1], "heads.jsonl line 1")]
    assert keyed_store.verify_chain(anchor=kept) == ChainReport(False, 0, 0, True, missing)
    with open_store(database.url, images_dir=tmp_path / "images") as keyless:
        assert keyless.verify_chain() == ChainReport(False, 0, 0, False, missing)


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("edited", "the head signature does not match (chain rewritten, or a different key)"),
        ("removed", "the chain head is not signed (rewritten, or written without the key)"),
        ("other key", "the head signature does not match (chain rewritten, or a different key)"),
    ],
)
def test_a_head_not_signed_with_the_key_is_a_bad_signature(
    keyed_store: Store,
    history: list[Head],
    database: DatabaseUnderTest,
    tmp_path,
    how: str,
    problem: str,
) -> None:
    head = history[-1]
    kept = [_kept(head, "heads.jsonl line 1")]
    signature = {"edited": "0" * 64, "removed": None, "other key": head.signature}[how]
    with database.raw() as connection:
        connection.execute("UPDATE chain_head SET signature = ?", (signature,))
    key = "another-key" if how == "other key" else "test-key"
    with open_store(database.url, images_dir=tmp_path / "images", audit_key=key) as store:
        report = store.verify_chain(anchor=kept)
    found = ChainBreak("chain_head", None, head.seq, BAD_SIGNATURE, problem)
    assert report == ChainReport(False, head.seq, head.seq, True, found, signature is not None)


def test_a_row_beyond_the_head_is_reported_with_the_keys_and_signatures_state(
    keyed_store: Store, history: list[Head], database: DatabaseUnderTest, tmp_path
) -> None:
    """Two rows beyond the head (the lower one written last, the tables analysed so that a
    small table is scanned): the lowest is reported."""
    head = history[-1]
    with database.raw() as connection:
        for seq in (head.seq + 5, head.seq + 1):
            connection.execute(
                "INSERT INTO admin_event (seq, time, kind, os_user, detail, prev_hash, row_hash) "
                "VALUES (?, ?, 'export', 'root', 'x', ?, ?)",
                (seq, head.time, head.hash, "b" * 64),
            )
        connection.execute("ANALYZE")
        (row_id,) = connection.execute(
            "SELECT id FROM admin_event WHERE seq = ?", (head.seq + 1,)
        ).fetchone()
    stray = ChainBreak(
        "admin_event",
        row_id,
        head.seq + 1,
        INSERTED,
        f"sequence number outside the chain (1..{head.seq})",
    )
    assert keyed_store.verify_chain() == ChainReport(False, 0, head.seq, True, stray, True)
    with open_store(database.url, images_dir=tmp_path / "images") as keyless:
        assert keyless.verify_chain() == ChainReport(False, 0, head.seq, False, stray, True)
