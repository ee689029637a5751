"""The audit hash chain's format and how rows are appended to it (attempts, admin events).

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

**Appending** happens inside the backend's write transaction (the caller's), which holds the
lock serialising every writer from its start (SQLite's write lock, ``BEGIN IMMEDIATE``; on
PostgreSQL the head row, ``SELECT … FOR UPDATE``): read the head, check it, insert the rows,
update the head. Appenders in any process, on any host, form one chain. The check keeps a
forgery detectable: with the key, a head that is unsigned or signed otherwise is not extended
(signing it would bless whatever chain it ends); without the key, a signed head is not extended
either (that would drop the signature). Either refusal is ``UntrustedHead``; nothing is
written.

Verifying the chain is ``gatekeeper.store.audit``'s; the format is frozen by
``tests/store/test_chain_format.py`` (every chain ever written verifies only while it holds).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json import encoder as json_encoder
from typing import Any

from peewee import Database, Model, Select, Table

from gatekeeper.store.compiled import Statement
from gatekeeper.store.models import ATTEMPT_CHAINED, AdminEvent, Attempt

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
BASE_WIDTH = {
    table: len(columns) - len(ADDED_COLUMNS.get(table, ()))
    for table, columns in CHAINED_COLUMNS.items()
}

#: The model of each chained table.
CHAINED_MODELS: dict[str, type[Model]] = {"attempt": Attempt, "admin_event": AdminEvent}


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


encode_array = _json_array_encoder()


def _encoded_values(table: str, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` without the trailing NULLs of columns in ``ADDED_COLUMNS``."""
    base = BASE_WIDTH[table]
    end = len(values)
    while end > base and values[end - 1] is None:
        end -= 1
    return values[:end]


def canonical(table: str, seq: int, prev_hash: str, values: Sequence[Any]) -> str:
    """The canonical encoding (version 1) of a chained row: the compact JSON array
    ``[table, seq, prev_hash, *values]``, trailing NULLs of added columns left out (see the
    module docstring)."""
    return encode_array((table, seq, prev_hash, *_encoded_values(table, values)))


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
