"""The audit chain's walk as pure functions over the rows a database streams: every kind of
tampering at every position, found alike in one pass and in 2, 3 or 4 ranges joined afterwards
(the worker processes' split), the canonical encoding and the head's signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Callable

import pytest

from gatekeeper.store import audit, chain
from gatekeeper.store.audit import (
    BAD_SIGNATURE,
    DELETED,
    EDITED,
    GENESIS_HASH,
    HEAD_MISMATCH,
    INSERTED,
    ChainBreak,
    ChainReport,
    canonical,
    head_problem,
    row_hash,
    sign_head,
)

Row = tuple  # (table, seq, prev_hash, *values, row_hash, id), as audit._stream yields them


def _values(seq: int) -> tuple[str, tuple]:
    """Row ``seq``'s table and chained values: attempts, every fourth row an admin event."""
    time = f"2026-12-01T10:{seq:02d}:00.000000+00:00"
    if seq % 4 == 1:
        return "admin_event", (time, "state", "root", f"threshold 0.6; settings:{seq}")
    reason = "outside schedule staff" if seq % 3 == 0 else None
    name = "José" if seq % 2 else None
    box = (seq, seq + 1, 60, 60)
    return "attempt", (time, "door", name, 0.3 + seq / 100, 0.6, "granted", "dlib", *box, reason)


def _chain(length: int = 12) -> list[Row]:
    """A valid chain of ``length`` rows, ids counted per table from 1."""
    rows, prev, ids = [], GENESIS_HASH, {"attempt": 0, "admin_event": 0}
    for seq in range(1, length + 1):
        table, values = _values(seq)
        ids[table] += 1
        digest = row_hash(table, seq, prev, values)
        rows.append((table, seq, prev, *values, digest, ids[table]))
        prev = digest
    return rows


def _with(row: Row, **changes) -> Row:
    """``row`` with its ``prev`` hash, ``values`` or ``stored`` hash replaced."""
    table, seq, prev, *values, stored, row_id = row
    prev = changes.get("prev", prev)
    values = changes.get("values", values)
    return (table, seq, prev, *values, changes.get("stored", stored), row_id)


def _rehashed(row: Row, **changes) -> Row:
    """``row`` changed and given the hash of its new contents, as a tamperer without the key can."""
    changed = _with(row, **changes)
    table, seq, prev, *values, _, row_id = changed
    return (table, seq, prev, *values, row_hash(table, seq, prev, values), row_id)


def _renamed(row: Row) -> tuple:
    """``row``'s values with Mallory for the person (attempt) or the OS user (admin event)."""
    values = list(row[3:-2])
    values[2] = "Mallory"
    return tuple(values)


def _walk(rows: list[Row], parts: int, head_seq: int, head_hash: str):
    """What verify_chain finds in ``rows``: one pass, or ``parts`` seq ranges joined."""
    if parts == 1:
        segments = [audit._check_segment(rows)]
    else:
        segments = [
            audit._check_segment([row for row in rows if lo <= row[1] <= hi])
            for lo, hi in audit._ranges(head_seq, parts)
        ]
    found, checked = audit._stitch(segments, head_seq, head_hash)
    where = None if found is None else (found.table, found.row_id, found.seq, found.reason)
    return where, checked, found


def _ref(row: Row) -> tuple:
    return row[0], row[-1], row[1]


N = 12
CHAIN = _chain(N)
HEAD = CHAIN[-1][-2]
PARTS = [1, 2, 3, 4]


def _tampered(kind: str, p: int) -> tuple[list[Row], tuple, int]:
    """The chain with row ``p`` tampered by ``kind``, the break verify must report (table,
    row id, seq, reason) and how many rows it must count as verified."""
    rows = list(CHAIN)
    i = p - 1
    last = p == N
    if kind == "edited":
        rows[i] = _with(rows[i], values=_renamed(rows[i]))
        return rows, (*_ref(CHAIN[i]), EDITED), p - 1
    if kind == "edited and rehashed":
        rows[i] = _rehashed(rows[i], values=_renamed(rows[i]))
        if last:
            return rows, ("chain_head", None, N, HEAD_MISMATCH), N
        return rows, (*_ref(CHAIN[i]), EDITED), p - 1
    if kind == "relinked and rehashed":
        rows[i] = _rehashed(rows[i], prev="e" * 64)
        if p == 1:
            return rows, (*_ref(CHAIN[0]), INSERTED), 0
        return rows, (*_ref(CHAIN[i - 1]), EDITED), p - 2
    if kind == "hash replaced":
        rows[i] = _with(rows[i], stored="f" * 64)
        return rows, (*_ref(CHAIN[i]), EDITED), p - 1
    if kind == "deleted":
        del rows[i]
        if last:
            return rows, ("chain_head", None, N, DELETED), N - 1
        return rows, (*_ref(CHAIN[i + 1]), DELETED), p - 1
    if kind == "seq reused":
        forged = ("admin_event", p, *CHAIN[i][2:-1], 99)
        rows.insert(p, forged)
        return rows, ("admin_event", 99, p, INSERTED), p
    raise AssertionError(kind)


KINDS = [
    "edited",
    "edited and rehashed",
    "relinked and rehashed",
    "hash replaced",
    "deleted",
    "seq reused",
]


def test_an_untouched_chain_verifies_whole_in_one_pass_and_in_ranges() -> None:
    for parts in PARTS:
        assert _walk(CHAIN, parts, N, HEAD)[:2] == (None, N), parts


@pytest.mark.parametrize("kind", KINDS)
def test_every_tampering_at_every_row_is_found_alike_in_one_pass_and_in_ranges(kind) -> None:
    for p in range(1, N + 1):
        rows, expected, checked = _tampered(kind, p)
        for parts in PARTS:
            assert _walk(rows, parts, N, HEAD)[:2] == (expected, checked), (kind, p, parts)


@pytest.mark.parametrize("parts", PARTS)
def test_a_rewritten_first_row_of_every_checked_range_is_found(parts) -> None:
    """The first row of each range (seq 1, and the first row of each worker's range) edited
    and re-hashed: blamed itself, not passed over for being first."""
    for first, _ in audit._ranges(N, parts):
        rows, expected, checked = _tampered("edited and rehashed", first)
        where, rows_checked, found = _walk(rows, parts, N, HEAD)
        assert (where, rows_checked) == (expected, checked), (parts, first)
        assert (
            found.detail == "the row's hash was rewritten; the next row still links to the original"
        )


def test_the_break_details_say_what_was_found() -> None:
    details = {}
    for kind, p in [("edited", 5), ("deleted", 5), ("deleted", N), ("seq reused", 5)]:
        rows, _, _ = _tampered(kind, p)
        details[kind, p] = _walk(rows, 1, N, HEAD)[2].detail
    rows, _, _ = _tampered("relinked and rehashed", 1)
    genesis = _walk(rows, 2, N, HEAD)[2].detail
    assert details == {
        ("edited", 5): "the row's contents do not match its hash",
        ("deleted", 5): "row(s) with seq 5..5 are missing before this row",
        ("deleted", N): "row(s) with seq 12..12 are missing (newest rows deleted)",
        ("seq reused", 5): "sequence number already used by admin_event #2",
    }
    assert genesis == "the first row does not start from the genesis hash"


@pytest.mark.parametrize("parts", PARTS)
def test_a_whole_range_deleted_is_one_gap(parts) -> None:
    rows = [row for row in CHAIN if not 4 <= row[1] <= 9]
    where, checked, found = _walk(rows, parts, N, HEAD)
    assert (where, checked) == ((*_ref(CHAIN[9]), DELETED), 3)
    assert found.detail == "row(s) with seq 4..9 are missing before this row"


@pytest.mark.parametrize("parts", PARTS)
def test_the_newest_rows_deleted_and_a_moved_head_are_told_apart(parts) -> None:
    where, checked, found = _walk(CHAIN[:9], parts, N, HEAD)
    assert (where, checked) == (("chain_head", None, 10, DELETED), 9)
    assert found.detail == "row(s) with seq 10..12 are missing (newest rows deleted)"
    where, checked, found = _walk(CHAIN, parts, N, "a" * 64)
    assert (where, checked) == (("chain_head", None, N, HEAD_MISMATCH), N)
    assert found.detail == "the head's hash does not match the newest row"


def test_an_empty_chain_verifies_against_the_genesis_head() -> None:
    for parts in PARTS:
        assert _walk([], parts, 0, GENESIS_HASH)[:2] == (None, 0)
    assert _walk([], 1, 0, "a" * 64)[:2] == (("chain_head", None, 0, HEAD_MISMATCH), 0)


@pytest.mark.parametrize("bad", [math.nan, b"bytes"], ids=["nan", "bytes"])
def test_a_value_that_cannot_be_encoded_is_an_edited_row(bad) -> None:
    rows = list(CHAIN)
    values = list(rows[5][3:-2])
    values[3] = bad
    rows[5] = _with(rows[5], values=tuple(values))
    assert _walk(rows, 1, N, HEAD)[:2] == ((*_ref(CHAIN[5]), EDITED), 5)


def test_a_segment_reports_its_first_and_last_rows() -> None:
    segment = audit._check_segment(CHAIN[3:7])
    assert (segment.first, segment.first_prev, segment.first_ok) == (
        audit._RowRef(*_ref(CHAIN[3])),
        CHAIN[2][-2],
        True,
    )
    assert (segment.last, segment.last_hash, segment.rows_ok, segment.found) == (
        audit._RowRef(*_ref(CHAIN[6])),
        CHAIN[6][-2],
        4,
        None,
    )
    empty = audit._check_segment([])
    assert (empty.first, empty.last, empty.last_hash, empty.rows_ok) == (None, None, None, 0)
    edited_first = audit._check_segment([_with(CHAIN[3], stored="0" * 64), *CHAIN[4:7]])
    assert not edited_first.first_ok and edited_first.last is None
    assert edited_first.last_hash is None and edited_first.rows_ok == 0


# --- ranges and workers ------------------------------------------------------------------------


def test_ranges_cover_the_chain_in_nearly_equal_consecutive_parts() -> None:
    assert audit._ranges(12, 4) == [(1, 3), (4, 6), (7, 9), (10, 12)]
    assert audit._ranges(10, 3) == [(1, 3), (4, 6), (7, 10)]
    assert audit._ranges(3, 4) == [(1, 1), (2, 2), (3, 3)]
    assert audit._ranges(1, 1) == [(1, 1)]


@pytest.mark.parametrize(
    ("cpus", "load", "rows", "workers"),
    [
        (4, 0.2, audit.PARALLEL_MIN_ROWS - 1, 1),
        (4, 0.2, audit.PARALLEL_MIN_ROWS, 4),
        (8, 0.0, 10**6, audit.MAX_WORKERS),
        (2, 0.5, 10**6, 2),
        (2, 0.99, 10**6, 2),
        (2, 1.0, 10**6, 2),
        (4, 2.5, 10**6, 2),
        (4, 3.0, 10**6, 2),
        (4, 9.0, 10**6, 1),
        (None, 0.0, 10**6, 1),
    ],
)
def test_workers_are_the_idle_cpus_plus_this_one(monkeypatch, cpus, load, rows, workers) -> None:
    monkeypatch.setattr(audit.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(audit.os, "getloadavg", lambda: (load, 9.0, 9.0))
    assert audit.default_workers(rows) == workers


def test_without_a_load_average_every_cpu_is_taken_as_idle(monkeypatch) -> None:
    def unavailable():
        raise OSError("no load average here")

    monkeypatch.setattr(audit.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(audit.os, "getloadavg", unavailable)
    assert audit.default_workers(10**6) == 3


# --- the canonical encoding and the head -------------------------------------------------------


def _reference(table: str, seq: int, prev: str, values) -> str:
    return json.dumps(
        [table, seq, prev, *values], ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def test_the_canonical_encoding_is_compact_json_without_trailing_added_nulls() -> None:
    base = ["2026-12-01T10:00:00.000000+00:00", "door", "Zoë", 0.1 + 0.2, 0.6, "granted"]
    base += ["dlib", 1, 2, 3, 4]
    assert canonical("attempt", 3, "ab" * 32, [*base, None]) == _reference(
        "attempt", 3, "ab" * 32, base
    )
    assert canonical("attempt", 3, "ab" * 32, [*base, "deactivated"]) == _reference(
        "attempt", 3, "ab" * 32, [*base, "deactivated"]
    )
    holes = [None] * 11
    assert canonical("attempt", 1, GENESIS_HASH, [*holes, None]) == _reference(
        "attempt", 1, GENESIS_HASH, holes
    )
    event = ["2026-12-01T10:00:00.000000+00:00", "export", "root", None]
    assert canonical("admin_event", 2, "cd" * 32, event) == _reference(
        "admin_event", 2, "cd" * 32, event
    )


def test_the_row_hash_is_sha256_of_the_canonical_encoding() -> None:
    values = ["t", "k", "u", "d"]
    expected = hashlib.sha256(_reference("admin_event", 5, "0" * 64, values).encode()).hexdigest()
    assert row_hash("admin_event", 5, "0" * 64, values) == expected


@pytest.mark.parametrize("with_c_encoder", [True, False], ids=["c-encoder", "pure-python"])
def test_the_array_encoder_writes_what_json_dumps_would(monkeypatch, with_c_encoder) -> None:
    if not with_c_encoder:
        monkeypatch.setattr(chain.json_encoder, "c_make_encoder", None)
    encode: Callable = chain._json_array_encoder()
    items = ["attempt", 7, 'Zoë "Z" \\ \n', 0.1, 1e-7, -3, None, True, "日本"]
    assert encode(items) == json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    assert encode([]) == "[]"
    with pytest.raises(ValueError):
        encode([math.nan])
    with pytest.raises(ValueError):
        encode([math.inf])
    with pytest.raises(TypeError):
        encode([b"bytes"])


def test_the_head_signature_is_hmac_sha256_of_seq_and_hash() -> None:
    expected = hmac.new(b"k3y", b"12:" + b"ab" * 32, hashlib.sha256).hexdigest()
    assert sign_head(b"k3y", 12, "ab" * 32) == expected


@pytest.mark.parametrize(
    ("key", "seq", "signature", "problem"),
    [
        (None, 3, None, None),
        (None, 3, "any", None),
        (b"k", 3, "good", None),
        (
            b"k",
            0,
            None,
            "the empty chain's head is not signed (the log was emptied, or the "
            "database was created without the key)",
        ),
        (b"k", 3, None, "the chain head is not signed (rewritten, or written without the key)"),
        (
            b"k",
            3,
            "0" * 64,
            "the head signature does not match (chain rewritten, or a different key)",
        ),
    ],
)
def test_a_head_is_trusted_only_when_its_signature_is_the_keys(key, seq, signature, problem):
    if signature == "good":
        signature = sign_head(b"k", seq, "ab" * 32)
    assert head_problem(key, seq, "ab" * 32, signature) == problem


def test_a_break_and_a_report_read_as_one_line() -> None:
    row = ChainBreak("attempt", 6, 11, EDITED, "the row's contents do not match its hash")
    assert str(row) == "attempt #6 (seq 11): edited: the row's contents do not match its hash"
    head = ChainBreak("chain_head", None, None, DELETED, "the chain head row is missing")
    assert str(head) == "chain_head: deleted: the chain head row is missing"
    assert ChainReport(True, 12, 12, True).summary() == "audit chain OK (12 rows, signature valid)"
    assert ChainReport(True, 3, 3, False).summary() == (
        "audit chain OK (3 rows, unsigned: without a key a rewrite cannot be told)"
    )
    assert ChainReport(True, 12, 12, True, None, True, 2).summary() == (
        "audit chain OK (12 rows, signature valid; matches 2 kept head(s))"
    )
    signature = ChainBreak("chain_head", None, 12, BAD_SIGNATURE, "the head signature does not")
    assert ChainReport(False, 12, 12, True, signature).summary() == (
        "audit chain BROKEN at chain_head (seq 12): bad signature: the head signature does not "
        "(12 rows verified)"
    )


def test_a_signed_head_verified_without_the_key_is_reported_unchecked_never_ok() -> None:
    unchecked = ChainReport(True, 7, 7, False, None, True, 1)
    assert unchecked.unchecked
    assert unchecked.summary() == (
        "audit chain NOT VERIFIED: its 7 rows hash correctly; matches 1 kept head(s), but the "
        "head is signed and no audit key was given, so the signature was not checked (a chain "
        "rewritten without the key looks the same); verify with the site's key"
    )
    assert not ChainReport(True, 7, 7, True, None, True).unchecked, "checked with the key"
    assert not ChainReport(True, 7, 7, False, None, False).unchecked, "nothing to check"
    broken = ChainBreak("attempt", 1, 1, EDITED, "x")
    assert not ChainReport(False, 0, 7, False, broken, True).unchecked, "broken, not unchecked"


@pytest.mark.parametrize(
    ("reason", "summary"),
    [
        (audit.ROLLED_BACK, "audit chain ROLLED BACK: rows 8..9 are gone (5 rows verified)"),
        (
            audit.DIVERGED,
            "audit chain DIVERGED from a kept head: rows 8..9 are gone (5 rows verified)",
        ),
        (
            audit.FOREIGN_HEAD,
            "audit anchor REFUSED: rows 8..9 are gone (the chain's 5 rows verified)",
        ),
        (
            INSERTED,
            "audit chain BROKEN at chain_head (seq 7): inserted out of band: rows 8..9 are gone "
            "(5 rows verified)",
        ),
    ],
)
def test_each_anchor_finding_reads_as_its_own_line(reason, summary) -> None:
    found = ChainBreak("chain_head", None, 7, reason, "rows 8..9 are gone")
    assert ChainReport(False, 5, 7, True, found, True).summary() == summary
