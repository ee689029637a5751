"""Verifying the audit hash chain over recognition attempts and administrative events.

Design
------
The chain's format (one chain across both tables, the row hash, the head and its signature)
and appending to it are ``gatekeeper.store.chain``'s; this module checks a chain as stored.

**State.** The live settings, people and gallery are tied to the chain by state records (see
``gatekeeper.store.state``); verifying compares them with the newest one.

**Verifying** streams rows in ``seq`` order (each table's rows by its ``seq`` index, merged)
and recomputes every hash. That is Python work per row, so long chains are split into ``seq``
ranges checked by worker processes, each with its own connection (on PostgreSQL under the
snapshot of the verifying transaction, so they all see the same rows); each range reports its
first row, that row's link and its last hash, and joining the ranges finds the same first break
as one pass would.

**Verifying without the key** checks every hash and link but not the head signature: a
signed head verified so is reported as not checked (``ChainReport.unchecked``), never as OK,
since a chain rewritten without the key hashes just as well.

**Anchors.** With a key, someone with write access can still put back an older database, or
delete the newest rows and restore an older signed head copied earlier: both are valid signed
chains. The head kept outside the database (``Head``; ``gatekeeper.anchor`` publishes it)
closes that: verifying against kept heads (``KeptHead``) finds a chain that ends before a kept
head (``ROLLED_BACK``) or whose row at a kept ``seq`` has another hash (``DIVERGED``: rolled
back, then written on). With the key, every kept head must carry this key's signature.

**Limits.** Without a key, someone with write access can recompute every hash and the head.
With a key and no anchor, a rollback to an older signed head cannot be told; with an anchor,
only one to a point after the newest kept head.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import math
import multiprocessing
import operator
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peewee import Database, chunked

from gatekeeper.store import state
from gatekeeper.store.chain import (
    BASE_WIDTH,
    CHAINED_COLUMNS,
    CHAINED_MODELS,
    GENESIS_HASH,
    ChainHeadMissing,
    Head,
    KeptHead,
    UntrustedHead,
    append_rows,
    canonical,
    current_head,
    encode_array,
    head_problem,
    read_head,
    row_hash,
    sign_head,
)

if TYPE_CHECKING:
    from gatekeeper.store.backends import Backend

#: What callers of this module also find here (the chain's format is ``chain``'s).
__all__ = [
    "BAD_SIGNATURE",
    "CHAINED_COLUMNS",
    "DELETED",
    "DIVERGED",
    "EDITED",
    "FOREIGN_HEAD",
    "GENESIS_HASH",
    "HEAD_MISMATCH",
    "INSERTED",
    "ROLLED_BACK",
    "STATE_CHANGED",
    "ChainBreak",
    "ChainHeadMissing",
    "ChainReport",
    "Head",
    "KeptHead",
    "UntrustedHead",
    "append_rows",
    "canonical",
    "current_head",
    "default_workers",
    "head_problem",
    "row_hash",
    "sign_head",
    "state_problem",
    "verify_chain",
]

#: Reasons a chain fails to verify (``ChainBreak.reason``).
EDITED = "edited"
DELETED = "deleted"
INSERTED = "inserted out of band"
HEAD_MISMATCH = "head mismatch"
BAD_SIGNATURE = "bad signature"
STATE_CHANGED = "state changed outside the chain"
ROLLED_BACK = "rolled back"
DIVERGED = "diverged"
FOREIGN_HEAD = "not this site's head"


@dataclass(frozen=True)
class ChainBreak:
    """Where and why the chain first fails to verify.

    ``table`` is ``attempt``, ``admin_event`` or ``chain_head``, or for live state that differs
    from its record ``setting``, ``person`` or ``face_encoding``; ``row_id`` is the row's id (None
    for the head, for rows that no longer exist and for state); ``seq`` the sequence number
    concerned (for state: of the state record).
    """

    table: str
    row_id: int | None
    seq: int | None
    reason: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.table} #{self.row_id}" if self.row_id is not None else self.table
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{where}{seq}: {self.reason}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    """The result of ``verify_chain``.

    ``rows_checked`` counts rows verified before the first break (all rows when ``ok``);
    ``head_seq`` is the head's sequence number; ``signature_checked`` says whether an audit key
    was available to check the head signature, ``signed`` whether the head carries one;
    ``anchored`` counts the kept heads the chain was compared with.

    ``ok`` means nothing wrong was found; a signed head verified without the key is ``ok`` and
    ``unchecked``: its hashes are sound, but so would a forgery's be.
    """

    ok: bool
    rows_checked: int
    head_seq: int
    signature_checked: bool
    first_break: ChainBreak | None = None
    signed: bool = False
    anchored: int = 0

    @property
    def unchecked(self) -> bool:
        """The chain verified, but its head is signed and there was no key to check it."""
        return self.ok and self.signed and not self.signature_checked

    def summary(self) -> str:
        """One line for people: "audit chain OK (N rows...)", not checked, or what is wrong."""
        rows = self.rows_checked
        kept = f"; matches {self.anchored} kept head(s)" if self.anchored else ""
        if self.unchecked:
            return (
                f"audit chain NOT VERIFIED: its {rows} rows hash correctly{kept}, but the head "
                "is signed and no audit key was given, so the signature was not checked (a "
                "chain rewritten without the key looks the same); verify with the site's key"
            )
        if self.ok:
            signed = (
                "signature valid"
                if self.signature_checked
                else "unsigned: without a key a rewrite cannot be told"
            )
            return f"audit chain OK ({rows} rows, {signed}{kept})"
        found = self.first_break
        if found.reason == ROLLED_BACK:
            return f"audit chain ROLLED BACK: {found.detail} ({rows} rows verified)"
        if found.reason == DIVERGED:
            return f"audit chain DIVERGED from a kept head: {found.detail} ({rows} rows verified)"
        if found.reason == FOREIGN_HEAD:
            return f"audit anchor REFUSED: {found.detail} (the chain's {rows} rows verified)"
        return f"audit chain BROKEN at {found} ({rows} rows verified)"


#: Chains at least this long are verified by several processes (when there are CPUs to spare).
PARALLEL_MIN_ROWS = 200_000
#: At most this many verifying processes.
MAX_WORKERS = 4


@dataclass(frozen=True)
class _RowRef:
    table: str
    row_id: int
    seq: int


@dataclass(frozen=True)
class _Segment:
    """What verifying the rows of one ``seq`` range found on its own.

    The first row's sequence number and its link to the previous range are left to
    ``_stitch``, which knows the previous range. ``rows_ok`` counts rows verified before
    ``found`` (all rows when ``found`` is None); ``first_ok`` says whether the first row's own
    hash matched.
    """

    first: _RowRef | None
    first_prev: str | None
    first_ok: bool
    last: _RowRef | None
    last_hash: str | None
    rows_ok: int
    found: ChainBreak | None


def _stream(backend: Backend, db: Database, first: int, last: int) -> Iterator[tuple[Any, ...]]:
    """The chained rows of both tables with ``first <= seq <= last``, in ``seq`` order, as
    ``(table, seq, prev_hash, *values, row_hash, id)``: the canonical array is a prefix of the
    row. Each table is read in ``seq`` order through its unique ``seq`` index, and the two
    streams are merged."""
    streams = []
    for table, columns in CHAINED_COLUMNS.items():
        model = CHAINED_MODELS[table]
        query = (
            model.select(
                model.seq,
                model.prev_hash,
                *(getattr(model, name) for name in columns),
                model.row_hash,
                model.id,
            )
            .where(model.seq.between(first, last))
            .order_by(model.seq)
        )
        streams.append(_named(table, backend.stream(db, query, 10_000)))
    return heapq.merge(*streams, key=operator.itemgetter(1))


def _named(table: str, rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Each row with the table's name in front."""
    for row in rows:
        yield (table, *row)


def _check_segment(rows: Iterable[tuple[Any, ...]]) -> _Segment:
    """Check sequence numbers, row hashes and links within one range (see ``_Segment``).

    The loop keeps plain locals (no per-row objects): it runs once per chained row.
    """
    widths = {table: 3 + len(columns) for table, columns in CHAINED_COLUMNS.items()}
    bases = {table: 3 + width for table, width in BASE_WIDTH.items()}
    encode, sha256 = encode_array, hashlib.sha256
    first: _RowRef | None = None
    first_prev: str | None = None
    last_table, last_id, last_seq, last_hash = "", 0, 0, ""
    ok = 0

    def segment(first_ok: bool, rows_ok: int, found: ChainBreak | None) -> _Segment:
        last = _RowRef(last_table, last_id, last_seq) if ok else None
        return _Segment(
            first, first_prev, first_ok, last, last_hash if ok else None, rows_ok, found
        )

    for row in rows:
        table, seq, prev, stored, row_id = row[0], row[1], row[2], row[-2], row[-1]
        if first is None:
            first, first_prev = _RowRef(table, row_id, seq), prev
        elif seq <= last_seq:
            detail = f"sequence number already used by {last_table} #{last_id}"
            return segment(True, ok, ChainBreak(table, row_id, seq, INSERTED, detail))
        elif seq > last_seq + 1:
            detail = f"row(s) with seq {last_seq + 1}..{seq - 1} are missing before this row"
            return segment(True, ok, ChainBreak(table, row_id, seq, DELETED, detail))
        try:
            end, base = widths[table], bases[table]
            while end > base and row[end - 1] is None:
                end -= 1
            digest = sha256(encode(row[:end]).encode("utf-8")).hexdigest()
        except (TypeError, ValueError):
            digest = None
        if digest != stored:
            detail = "the row's contents do not match its hash"
            return segment(ok > 0, ok, ChainBreak(table, row_id, seq, EDITED, detail))
        if ok and prev != last_hash:
            detail = "the row's hash was rewritten; the next row still links to the original"
            return segment(True, ok - 1, ChainBreak(last_table, last_id, last_seq, EDITED, detail))
        last_table, last_id, last_seq, last_hash = table, row_id, seq, stored
        ok += 1
    return segment(True, ok, None)


def _verify_range(backend: Backend, snapshot: str | None, first: int, last: int) -> _Segment:
    """``_check_segment`` over one range, in a worker process with its own read-only
    connection (reading the verifying transaction's ``snapshot`` where the backend has one)."""
    db = backend.connect_reader()
    try:
        with backend.errors(db), backend.snapshot(db, snapshot):
            return _check_segment(_stream(backend, db, first, last))
    finally:
        db.close()


def _stitch(
    segments: Iterable[_Segment], head_seq: int, head_hash: str
) -> tuple[ChainBreak | None, int]:
    """Join consecutive ranges: the first break in ``seq`` order, or the rows verified."""
    expected, last_hash, last, checked = 1, GENESIS_HASH, None, 0
    for segment in segments:
        first = segment.first
        if first is None:
            continue
        if first.seq > expected:
            detail = f"row(s) with seq {expected}..{first.seq - 1} are missing before this row"
            return ChainBreak(first.table, first.row_id, first.seq, DELETED, detail), checked
        if not segment.first_ok:
            return segment.found, checked
        if segment.first_prev != last_hash:
            if last is None:
                detail = "the first row does not start from the genesis hash"
                return ChainBreak(first.table, first.row_id, first.seq, INSERTED, detail), checked
            detail = "the row's hash was rewritten; the next row still links to the original"
            return ChainBreak(last.table, last.row_id, last.seq, EDITED, detail), checked - 1
        if segment.found is not None:
            return segment.found, checked + segment.rows_ok
        checked += segment.rows_ok
        expected, last_hash, last = segment.last.seq + 1, segment.last_hash, segment.last
    if checked < head_seq:
        detail = f"row(s) with seq {expected}..{head_seq} are missing (newest rows deleted)"
        return ChainBreak("chain_head", None, expected, DELETED, detail), checked
    if last_hash != head_hash:
        detail = "the head's hash does not match the newest row"
        return ChainBreak("chain_head", None, head_seq, HEAD_MISMATCH, detail), checked
    return None, checked


def verify_chain(
    backend: Backend,
    db: Database,
    key: bytes | None,
    *,
    workers: int | None = None,
    anchor: Sequence[KeptHead] = (),
) -> ChainReport:
    """Recompute the chain from the genesis hash and report the first break, if any: then
    check the head signature (with a key), the chain against the ``anchor``'s kept heads
    (``_anchor_break``) and that the live state matches the newest state record
    (``gatekeeper.store.state``), all in one read snapshot.

    Streams rows in ``seq`` order in chunks, never building row objects, so memory stays flat.
    ``workers`` processes (default: ``default_workers``) each check a ``seq`` range, and the
    ranges are then joined; the result is the same as checking in one pass.
    """
    with backend.snapshot(db):
        head = read_head(db)
        keyed = key is not None
        if head is None:
            missing = ChainBreak("chain_head", None, None, DELETED, "the chain head row is missing")
            return ChainReport(False, 0, 0, keyed, missing)
        head_seq, head_hash, signature = head
        signed = signature is not None
        stray = _outside(db, head_seq)
        if stray is not None:
            return ChainReport(False, 0, head_seq, keyed, stray, signed)
        if workers is None:
            workers = default_workers(head_seq)
        if workers <= 1 or head_seq < workers:
            segments: Iterable[_Segment] = [_check_segment(_stream(backend, db, 1, head_seq))]
        else:
            snapshot = backend.export_snapshot(db)
            segments = _parallel_segments(backend, snapshot, head_seq, workers)
        found, checked = _stitch(segments, head_seq, head_hash)
        if found is None:
            problem = head_problem(key, head_seq, head_hash, signature)
            if problem is not None:
                found = ChainBreak("chain_head", None, head_seq, BAD_SIGNATURE, problem)
        if found is None and anchor:
            found = _anchor_break(db, key, head_seq, anchor)
        if found is None:
            found = _state_break(backend, db, head_seq)
    anchored = len(anchor) if found is None else 0
    return ChainReport(found is None, checked, head_seq, keyed, found, signed, anchored)


def _anchor_break(
    db: Database, key: bytes | None, head_seq: int, kept: Sequence[KeptHead]
) -> ChainBreak | None:
    """A break if the verified chain ``1..head_seq`` disagrees with a kept head: with ``key``,
    one not signed with it (another site's, or an edited anchor); one whose ``seq`` is in the
    chain but whose row hash differs (``DIVERGED``, the lowest such ``seq``); one beyond the
    chain's end (``ROLLED_BACK``, the highest)."""
    if key is not None:
        for head in kept:
            if head.signature is None or not hmac.compare_digest(
                head.signature, sign_head(key, head.seq, head.hash)
            ):
                detail = (
                    f"{head.where} is not a head signed with this site's audit key (another "
                    "site's anchor, or an edited one)"
                )
                return ChainBreak("anchor", None, head.seq, FOREIGN_HEAD, detail)
    hashes = _row_hashes(db, sorted({head.seq for head in kept if 0 < head.seq <= head_seq}))
    hashes[0] = GENESIS_HASH
    for head in sorted(kept, key=operator.attrgetter("seq")):
        if head.seq <= head_seq and hashes[head.seq] != head.hash:
            detail = (
                f"{head.where} kept seq {head.seq} with hash {head.hash[:16]}…, but the "
                f"database's row {head.seq} hashes to {hashes[head.seq][:16]}…: the history up "
                f"to seq {head.seq} was replaced (rolled back, then written on)"
            )
            return ChainBreak("chain_head", None, head.seq, DIVERGED, detail)
    newest = max(kept, key=operator.attrgetter("seq"))
    if newest.seq > head_seq:
        detail = (
            f"{newest.where} kept seq {newest.seq}, but the chain ends at seq {head_seq}: "
            f"rows {head_seq + 1}..{newest.seq} are gone (an older copy of the database, or the "
            "newest rows deleted and an older signed head put back)"
        )
        return ChainBreak("chain_head", None, head_seq, ROLLED_BACK, detail)
    return None


def _row_hashes(db: Database, seqs: Sequence[int]) -> dict[int, str]:
    """The ``row_hash`` of each chained row whose ``seq`` is in ``seqs``, by ``seq``."""
    found: dict[int, str] = {}
    for chunk in chunked(seqs, 500):
        for model in CHAINED_MODELS.values():
            query = model.select(model.seq, model.row_hash).where(model.seq.in_(chunk))
            found.update(db.execute(query).fetchall())
    return found


#: Where each part of the state lives, and how a report names it.
_STATE_TABLES = {
    "settings": "setting",
    "people": "person",
    "encodings": "face_encoding",
    "schedules": "schedule_window",
    "access": "person",
}
_STATE_NAMES = {
    "settings": "the settings (the threshold)",
    "people": "the people (names, display names, active flags)",
    "encodings": "the gallery (encodings)",
    "schedules": "the access schedules (names, windows)",
    "access": "the people's access (schedules, validity dates)",
}


def _state_break(backend: Backend, db: Database, head_seq: int) -> ChainBreak | None:
    """A break if the live state differs from the newest state record at or before
    ``head_seq`` (none: the empty state of a new site)."""
    record = state.recorded(db, head_seq)
    changed = state.differences(state.current(backend, db), record)
    if not changed:
        return None
    what = ", ".join(_STATE_NAMES[part] for part in changed)
    table = _STATE_TABLES[changed[0]]
    if record is None:
        detail = (
            f"{what} are not covered by any state record in the chain (changed outside "
            "Gatekeeper, or a database from before state records: opening it for writing "
            "records them)"
        )
        return ChainBreak(table, None, None, STATE_CHANGED, detail)
    detail = f"{what} differ from the state recorded by admin_event #{record.row_id}"
    return ChainBreak(table, None, record.seq, STATE_CHANGED, detail)


def state_problem(backend: Backend, db: Database, key: bytes | None) -> str | None:
    """Why the live state must not be used to decide, or None when the chain vouches for it.

    Cheaper than :func:`verify_chain`, for a decision about to use the state: in one read
    snapshot, the live state must match the newest state record, the rows from that record to
    the head must be intact and end at the head (so the record cannot be edited and re-hashed
    on its own), and with a key the head must be signed by it. Rows before the record are
    ``audit verify``'s business. Costs one pass over the state and over the rows since the last
    change made through Gatekeeper.
    """
    with backend.snapshot(db):
        head = read_head(db)
        if head is None:
            return "the audit chain head is missing"
        head_seq, head_hash, signature = head
        problem = head_problem(key, head_seq, head_hash, signature)
        if problem is not None:
            return problem
        record = state.recorded(db, head_seq)
        changed = state.differences(state.current(backend, db), record)
        if changed:
            where = "any state record" if record is None else "the audit log's state record"
            return f"{', '.join(_STATE_NAMES[p] for p in changed)} differ from {where}"
        if record is None:
            return None
        tail = _check_segment(_stream(backend, db, record.seq, head_seq))
        intact = (
            tail.found is None
            and tail.first is not None
            and tail.first.seq == record.seq
            and tail.rows_ok == head_seq - record.seq + 1
            and tail.last_hash == head_hash
        )
        return None if intact else "the audit log since the last state record is not intact"


def _outside(db: Database, head_seq: int) -> ChainBreak | None:
    """A row whose ``seq`` lies outside ``1..head_seq`` (inserted behind the head's back);
    four index lookups."""
    for table, model in CHAINED_MODELS.items():
        for condition in (model.seq < 1, model.seq > head_seq):
            query = model.select(model.id, model.seq).where(condition).order_by(model.seq)
            row = db.execute(query.limit(1)).fetchone()
            if row is not None:
                detail = f"sequence number outside the chain (1..{head_seq})"
                return ChainBreak(table, row[0], row[1], INSERTED, detail)
    return None


def default_workers(rows: int) -> int:
    """How many processes should verify ``rows`` chained rows: one for short chains, else one
    per idle CPU (CPUs minus the 1-minute load average, plus this process), at most
    ``MAX_WORKERS``. Extra workers on busy CPUs only add start-up time."""
    if rows < PARALLEL_MIN_ROWS:
        return 1
    cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(1, min(MAX_WORKERS, cpus, math.floor(cpus - load) + 1))


def _ranges(head_seq: int, parts: int) -> list[tuple[int, int]]:
    """``1..head_seq`` cut into at most ``parts`` consecutive, nearly equal inclusive ranges."""
    bounds = [1 + head_seq * i // parts for i in range(parts + 1)]
    return [(lo, hi - 1) for lo, hi in itertools.pairwise(bounds) if hi > lo]


def _parallel_segments(
    backend: Backend, snapshot: str | None, head_seq: int, workers: int
) -> list[_Segment]:
    """Check ``1..head_seq`` in ``workers`` ranges, one process each (spawned: safe in a
    process that runs threads), each reading through its own connection of ``backend``."""
    ranges = _ranges(head_seq, workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(ranges), mp_context=context) as pool:
        futures = [pool.submit(_verify_range, backend, snapshot, lo, hi) for lo, hi in ranges]
        return [future.result() for future in futures]
