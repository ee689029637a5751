"""The audit hash chain over recognition attempts and administrative events.

Design
------
**One chain across both tables.** ``attempt`` and ``admin_event`` rows share one global sequence
number ``seq`` (1, 2, 3... without gaps), so the whole history (who came in, who changed the
threshold just before) has one unambiguous order, one head and one signature. Each table has a
unique index on ``seq``; the head guarantees a number is not used by both tables.

**Row hash.** Each chained row stores ``prev_hash`` (the ``row_hash`` of ``seq - 1``, or
``GENESIS_HASH`` for ``seq`` 1) and ``row_hash = SHA-256(canonical encoding)`` in lowercase hex.
The canonical encoding (version 1) is the JSON array
``[table, seq, prev_hash, *CHAINED_COLUMNS[table]]`` written without whitespace, UTF-8,
non-ASCII kept as is, NaN refused, with values exactly as stored: times as their stored
32-character ISO-8601 UTC text, floats in Python's shortest round-trip ``repr``, integers,
strings and ``null``. The table name is part of the encoding, so a row cannot be moved between
tables. Columns chained later (``ADDED_COLUMNS``: ``attempt.reason`` since schema v5) are in the
encoding only when they are not NULL, so rows written before they existed keep their hashes.
Ids and ``attempt.person_id`` are *not* covered: erasing a person (biometric erasure)
sets ``person_id`` to NULL and the chain still verifies, while the name as it was stays covered.

**Head.** ``chain_head`` (one row) holds the newest ``seq`` and ``hash``, so deleting the newest
rows is detected. With an audit key, ``signature = HMAC-SHA256(key, "<seq>:<hash>")`` in hex:
rewriting the whole chain (or appending forged rows and moving the head) then needs the key.
The empty chain's head (``seq`` 0, ``GENESIS_HASH``) is signed too, when a keyed site is created,
so emptying the log is a bad signature rather than a valid empty chain.

**State.** The live settings, people and gallery are tied to the chain by state records (see
``gatekeeper.store.state``); verifying compares them with the newest one.

**Verifying** streams rows in ``seq`` order (each table's rows by its ``seq`` index, merged)
and recomputes every hash. That is Python work per row, so long chains are split into ``seq``
ranges checked by worker processes, each with its own connection (on PostgreSQL under the
snapshot of the verifying transaction, so they all see the same rows); each range reports its
first row, that row's link and its last hash, and joining the ranges finds the same first break
as one pass would.

**Appending** happens inside the backend's write transaction (the caller's), which holds the
lock serialising every writer from its start (SQLite's write lock, ``BEGIN IMMEDIATE``; on
PostgreSQL the head row, ``SELECT … FOR UPDATE``): read the head, check it, insert the rows,
update the head. Appenders in any process, on any host, form one chain. The check keeps a
forgery detectable: with the key, a head that is unsigned or signed otherwise is not extended
(signing it would bless whatever chain it ends); without the key, a signed head is not extended
either (that would drop the signature). Either refusal is ``UntrustedHead``; nothing is
written.

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

import functools
import hashlib
import heapq
import hmac
import itertools
import json
import math
import multiprocessing
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from json import encoder as json_encoder
from typing import TYPE_CHECKING, Any

from peewee import Database, Model, Select, Table, chunked

from gatekeeper.store import state
from gatekeeper.store.compiled import Statement
from gatekeeper.store.models import ATTEMPT_CHAINED, AdminEvent, Attempt

if TYPE_CHECKING:
    from gatekeeper.store.backends import Backend

#: ``prev_hash`` of the first chained row and ``chain_head.hash`` of an empty chain.
GENESIS_HASH = "0" * 64

#: The columns covered by the row hash, in canonical order, per chained table.
CHAINED_COLUMNS: dict[str, tuple[str, ...]] = {
    "attempt": ATTEMPT_CHAINED,
    "admin_event": ("time", "kind", "os_user", "detail"),
}
#: The chained columns each table gained after its first version, at the end of its
#: ``CHAINED_COLUMNS``: trailing NULLs among them are left out of the canonical encoding.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {"attempt": ("reason",)}
#: How many values every canonical encoding of a table's rows has, at least.
_BASE_WIDTH = {
    table: len(columns) - len(ADDED_COLUMNS.get(table, ()))
    for table, columns in CHAINED_COLUMNS.items()
}

#: The model of each chained table.
CHAINED_MODELS: dict[str, type[Model]] = {"attempt": Attempt, "admin_event": AdminEvent}

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


def _json_array_encoder() -> Callable[[Sequence[Any]], str]:
    """Compact JSON text of a flat array: ``json.dumps(items, ensure_ascii=False,
    separators=(",", ":"), allow_nan=False)``.

    Reuses one C encoder from the json module's accelerator when present: ``json.dumps``
    builds a new one on every call, which costs a third of the time on short rows. Raises
    ``TypeError`` for values other than str, int, float and None, ``ValueError`` for NaN.
    """
    if json_encoder.c_make_encoder is None:
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    chunks = json_encoder.c_make_encoder(
        None, None, json_encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return lambda items: "".join(chunks(items, 0))


_encode_array = _json_array_encoder()


def _encoded_values(table: str, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` without the trailing NULLs of columns in ``ADDED_COLUMNS``."""
    base = _BASE_WIDTH[table]
    end = len(values)
    while end > base and values[end - 1] is None:
        end -= 1
    return values[:end]


def canonical(table: str, seq: int, prev_hash: str, values: Sequence[Any]) -> str:
    """The canonical encoding (version 1) of a chained row: the compact JSON array
    ``[table, seq, prev_hash, *values]``, trailing NULLs of added columns left out (see the
    module docstring)."""
    return _encode_array((table, seq, prev_hash, *_encoded_values(table, values)))


def row_hash(table: str, seq: int, prev_hash: str, values: Sequence[Any]) -> str:
    """SHA-256 hex of a row's canonical encoding; ``values`` follow ``CHAINED_COLUMNS[table]``."""
    return hashlib.sha256(canonical(table, seq, prev_hash, values).encode("utf-8")).hexdigest()


def sign_head(key: bytes, seq: int, head_hash: str) -> str:
    """HMAC-SHA256 hex of the chain head ``"<seq>:<hash>"`` under the audit key."""
    return hmac.new(key, f"{seq}:{head_hash}".encode("ascii"), hashlib.sha256).hexdigest()


class ChainHeadMissing(Exception):
    """The ``chain_head`` row is gone, so nothing can be appended safely."""


class UntrustedHead(Exception):
    """The chain head cannot be vouched for with the key at hand, so it is not extended; the
    message says why."""


def head_problem(key: bytes | None, seq: int, head_hash: str, signature: str | None) -> str | None:
    """Why the head ``(seq, head_hash, signature)`` must not be trusted under ``key`` (None: no
    key), or None when it may. Without a key any unsigned head is fine."""
    if key is None:
        return None
    if signature is None:
        if seq == 0:
            return (
                "the empty chain's head is not signed (the log was emptied, "
                "or the database was created without the key)"
            )
        return "the chain head is not signed (rewritten, or written without the key)"
    if not hmac.compare_digest(signature, sign_head(key, seq, head_hash)):
        return "the head signature does not match (chain rewritten, or a different key)"
    return None


#: ``chain_head`` as a plain table, for the statements of the append path (see
#: ``gatekeeper.store.compiled``): its values are stored as given.
HEAD_TABLE = Table("chain_head", ("id", "seq", "hash", "signature"), primary_key="id")


def head_query(row: Any) -> Any:
    """The select of the head row ``row``'s ``(seq, hash, signature)``."""
    return HEAD_TABLE.select(HEAD_TABLE.seq, HEAD_TABLE.hash, HEAD_TABLE.signature).where(
        HEAD_TABLE.id == row
    )


_READ_HEAD = Statement(1, head_query)


def _move_head(seq: Any, head_hash: Any, signature: Any, row: Any) -> Any:
    """The update moving the head row ``row`` to ``(seq, head_hash, signature)``."""
    return HEAD_TABLE.update(
        {HEAD_TABLE.seq: seq, HEAD_TABLE.hash: head_hash, HEAD_TABLE.signature: signature}
    ).where(HEAD_TABLE.id == row)


_MOVE_HEAD = Statement(4, _move_head)


@functools.cache
def _plain(table: str, columns: tuple[str, ...]) -> tuple[Table, list[Any]]:
    """``table`` as a plain table of ``columns`` (and ``id``), with those columns: values are
    stored as given, already in stored form."""
    target = Table(table, (*columns, "id"), primary_key="id")
    return target, [getattr(target, name) for name in columns]


def _insert_returning_id(table: str, columns: tuple[str, ...], row: Sequence[Any]) -> Any:
    target, fields = _plain(table, columns)
    return target.insert(dict(zip(fields, row, strict=True))).returning(target.id)


@functools.cache
def _insert_one(table: str, columns: tuple[str, ...]) -> Statement:
    """The statement inserting one row of ``columns`` into ``table``, returning its id."""
    return Statement(len(columns), lambda *row: _insert_returning_id(table, columns, row))


@functools.cache
def _append_one(table: str, columns: tuple[str, ...]) -> Statement:
    """The statement inserting one row of ``columns`` into ``table`` and moving the head to
    ``(seq, hash, signature)`` (its last four values, with the head row's id), returning the
    new row's id: a data-modifying ``WITH`` (PostgreSQL, see ``Backend.combined_append``)."""

    def build(*values: Any) -> Any:
        *row, seq, head_hash, signature, head_row = values
        new = _insert_returning_id(table, columns, row).cte("appended", columns=("id",))
        moved = _move_head(seq, head_hash, signature, head_row)
        return moved.with_cte(new).returning(Select([new], [new.c.id]))

    return Statement(len(columns) + 4, build)


def read_head(db: Database) -> tuple[int, str, str | None] | None:
    """The chain head ``(seq, hash, signature)``, or None when its row is gone."""
    return _READ_HEAD.execute(db, 1).fetchone()


@dataclass(frozen=True)
class Head:
    """The chain head as an operator keeps it outside the database: ``seq`` and ``hash`` (see
    the module docstring), ``time`` the stored time of the row at ``seq`` (ISO-8601 UTC text;
    None for the empty chain) and ``signature`` (None when the site has no key)."""

    seq: int
    hash: str
    time: str | None
    signature: str | None

    def record(self) -> dict[str, Any]:
        """The head as a JSON object's fields: one line of an anchor file."""
        return {"seq": self.seq, "hash": self.hash, "time": self.time, "signature": self.signature}


@dataclass(frozen=True)
class KeptHead:
    """A head kept outside the database, read back to verify against; ``where`` names it in
    messages (``heads.jsonl line 3``)."""

    seq: int
    hash: str
    signature: str | None
    where: str


def current_head(db: Database) -> Head | None:
    """The chain head with the time of its newest row, or None when the head row is gone; call
    inside a read snapshot, so both come from one state of the database."""
    head = read_head(db)
    if head is None:
        return None
    seq, head_hash, signature = head
    time = None
    for model in CHAINED_MODELS.values():
        row = db.execute(model.select(model.time).where(model.seq == seq)).fetchone()
        if row is not None:
            time = row[0]
    return Head(seq, head_hash, time, signature)


def append_rows(
    db: Database,
    table: str,
    rows: Sequence[Sequence[Any]],
    key: bytes | None,
    unchained: Sequence[str] = (),
    head: tuple[int, str, str | None] | None = None,
    combine: bool = False,
) -> tuple[int, int, str]:
    """Append rows to the chain and move the head; returns the id of the last inserted row and
    the new head's sequence number and hash. ``head`` is the chain head as this transaction's
    write lock read it, if nothing has moved it since (else it is read here); with
    ``combine`` (``Backend.combined_append``) one row is inserted and the head moved in one
    statement.

    Must run inside the caller's write transaction (see the module docstring). Each row holds
    the values of ``CHAINED_COLUMNS[table]`` in their stored form (str, int, float or None; the
    hash covers exactly these values) followed by the values of the ``unchained`` columns.
    Raises ``ChainHeadMissing`` or ``UntrustedHead`` (see the module docstring) before writing.
    """
    if not db.in_transaction():
        raise RuntimeError("append_rows must run inside a write transaction")
    chained = CHAINED_COLUMNS[table]
    if head is None:
        head = read_head(db)
    if head is None:
        raise ChainHeadMissing
    seq, prev, signature = head
    if key is None and signature is not None:
        raise UntrustedHead("the audit log is signed, and this process has no audit key")
    problem = head_problem(key, seq, prev, signature)
    if problem is not None:
        raise UntrustedHead(problem)
    params = []
    for row in rows:
        seq += 1
        digest = row_hash(table, seq, prev, row[: len(chained)])
        params.append((*row, seq, prev, digest))
        prev = digest
    columns = (*chained, *unchained, "seq", "prev_hash", "row_hash")
    signature = sign_head(key, seq, prev) if key is not None else None
    if len(params) == 1 and combine:
        appended = _append_one(table, columns).execute(db, *params[0], seq, prev, signature, 1)
        ((last_id,),) = appended.fetchall()
        return last_id, seq, prev
    if len(params) == 1:
        ((last_id,),) = _insert_one(table, columns).execute(db, *params[0]).fetchall()
    else:
        target, fields = _plain(table, columns)
        sql, _ = db.get_sql_context().sql(target.insert(params[:1], columns=fields)).query()
        db.cursor().executemany(sql, params)
        model = CHAINED_MODELS[table]
        last_id = model.select(model.id).where(model.seq == seq).scalar(db)
    _MOVE_HEAD.execute(db, seq, prev, signature, 1)
    return last_id, seq, prev


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
    bases = {table: 3 + width for table, width in _BASE_WIDTH.items()}
    encode, sha256 = _encode_array, hashlib.sha256
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
