"""The attempt log in the store: recording attempts (chained), and listing, counting and
streaming them.

Recording is one ``store.change`` with no state part (see ``gatekeeper.store.change``): the
attempts are appended to the audit chain with ``person_id`` left out of the hash (erasing a
person sets it to NULL). A commit whose answer was lost with the connection is resolved on the
next call (:meth:`AttemptLog.record`). Reads page by keyset, so a page is an index range scan at
any depth, and exports stream in chunks.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from peewee import SQL, Expression, ModelSelect, Tuple, chunked, fn

from gatekeeper.errors import UsageError
from gatekeeper.store.models import (
    ATTEMPT_CHAINED,
    ATTEMPT_FIELDS,
    DECISIONS,
    Attempt,
    Person,
    from_db_time,
    to_db_time,
    utc_now,
)
from gatekeeper.store.names import name_key, validate_name

if TYPE_CHECKING:
    from gatekeeper.store.store import Store

log = logging.getLogger(__name__)

#: Largest page ``query_attempts`` returns, in rows.
MAX_PAGE = 10_000

Box = tuple[int, int, int, int]

#: The stored columns of an attempt's face box, in the order of ``Box``.
_BOX_COLUMNS = ("box_x", "box_y", "box_w", "box_h")

_ATTEMPT_COLUMNS = tuple(
    Attempt.person if name == "person_id" else getattr(Attempt, name) for name in ATTEMPT_FIELDS
)


def _attempts(conditions: list[Expression]) -> ModelSelect:
    """The attempts matching every condition, as ``ATTEMPT_FIELDS``."""
    query = Attempt.select(*_ATTEMPT_COLUMNS)
    return query.where(*conditions) if conditions else query


def check_page(limit: int) -> None:
    """Refuse a page size outside ``1..MAX_PAGE`` (``UsageError``)."""
    if not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"page size must be between 1 and {MAX_PAGE}, got {limit}")


@dataclass(frozen=True)
class AttemptFilter:
    """Which attempts to list, count or export; every field is optional (None: any).

    ``since`` (inclusive) and ``until`` (exclusive) are timezone-aware datetimes; ``person`` is
    an exact name; ``person_contains`` a part of a name, ignoring case and compatibility forms
    (``lin`` finds ``Lin-Manuel``; what the console's search uses); ``decision`` one of
    ``DECISIONS``; ``camera`` an exact camera id.
    """

    since: datetime | None = None
    until: datetime | None = None
    person: str | None = None
    decision: str | None = None
    camera: str | None = None
    person_contains: str | None = None

    def __post_init__(self) -> None:
        if self.decision is not None and self.decision not in DECISIONS:
            raise UsageError(
                f"unknown decision {self.decision!r} (choose from {', '.join(DECISIONS)})"
            )
        if self.person is not None:
            object.__setattr__(self, "person", validate_name(self.person))
        if self.person_contains is not None and not self.person_contains.strip():
            raise UsageError("the part of a name to look for is empty")
        since = None if self.since is None else to_db_time(self.since)
        until = None if self.until is None else to_db_time(self.until)
        if since is not None and until is not None and since > until:
            raise UsageError(f"'since' ({since}) is after 'until' ({until})")

    def where(self, names: Callable[[], Iterable[str]]) -> list[Expression]:
        """Conditions on the ``attempt`` table. ``names()`` lists the distinct names in the
        log; it is called only for ``person_contains``, which is matched against each in Python
        (:func:`.names.name_key` folds case and compatibility forms as no SQL engine does)."""
        conditions = [
            condition
            for condition, value in (
                (Attempt.time >= self.since, self.since),
                (Attempt.time < self.until, self.until),
                (Attempt.person_name == self.person, self.person),
                (Attempt.decision == self.decision, self.decision),
                (Attempt.camera_id == self.camera, self.camera),
            )
            if value is not None
        ]
        if self.person_contains is not None:
            part = name_key(self.person_contains)
            matching = [name for name in names() if part in name_key(name)]
            conditions.append(Attempt.person_name.in_(matching))
        return conditions


@dataclass(frozen=True)
class NewAttempt:
    """A recognition attempt to record.

    ``name`` (the person's name at that moment) is required unless ``decision`` is
    ``unknown``; ``person_id`` may be None, and is stored as None when that person has been
    removed meanwhile. ``distance`` (≥ 0, None when there was nothing to compare) and
    ``threshold`` (> 0) are L2 distances; ``box`` is ``(x, y, w, h)`` pixels or None;
    ``time`` defaults to the moment of recording; ``reason`` says why a recognised person was
    not granted (``denied``: "outside schedule", "deactivated"...), one line of text.
    """

    camera_id: str
    decision: str
    threshold: float
    model_id: str
    name: str | None = None
    person_id: int | None = None
    distance: float | None = None
    box: Box | None = None
    time: datetime | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise UsageError(
                f"unknown decision {self.decision!r} (choose from {', '.join(DECISIONS)})"
            )
        if not self.camera_id:
            raise ValueError("camera_id must not be empty")
        if not self.model_id:
            raise ValueError("model_id must not be empty")
        if self.name is None:
            if self.decision != "unknown":
                raise ValueError(f"a {self.decision!r} attempt needs the person's name")
        else:
            object.__setattr__(self, "name", validate_name(self.name))
        threshold = float(self.threshold)
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"threshold must be a positive distance, got {self.threshold!r}")
        object.__setattr__(self, "threshold", threshold)
        if self.distance is not None:
            distance = float(self.distance)
            if not (math.isfinite(distance) and distance >= 0):
                raise ValueError(f"distance must be finite and >= 0, got {self.distance!r}")
            object.__setattr__(self, "distance", distance)
        if self.box is not None:
            box = tuple(int(v) for v in self.box)
            if len(box) != 4 or box[2] < 0 or box[3] < 0:
                raise ValueError(f"box must be (x, y, w, h) with w, h >= 0, got {self.box!r}")
            object.__setattr__(self, "box", box)
        if self.time is not None:
            to_db_time(self.time)
        if self.reason is not None and (not self.reason.strip() or "\n" in self.reason):
            raise ValueError(f"reason must be one non-empty line, got {self.reason!r}")

    def chain_row(self, now: str) -> tuple[Any, ...]:
        """The stored values: ``ATTEMPT_CHAINED`` (``audit.CHAINED_COLUMNS['attempt']``) then
        ``person_id``. A column holds the field of its name, but time, name and box."""
        stored = {
            "time": now if self.time is None else to_db_time(self.time),
            "person_name": self.name,
            **dict(zip(_BOX_COLUMNS, self.box or (None,) * len(_BOX_COLUMNS), strict=True)),
        }
        return (
            *(stored[name] if name in stored else getattr(self, name) for name in ATTEMPT_CHAINED),
            self.person_id,
        )


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """A recorded attempt (see ``NewAttempt``); ``person_id`` is None once the person is
    removed, while ``person_name`` keeps the name as it was."""

    id: int
    seq: int
    time: datetime
    camera_id: str
    person_id: int | None
    person_name: str | None
    distance: float | None
    threshold: float
    decision: str
    model_id: str
    box: Box | None
    reason: str | None = None

    @classmethod
    def from_db(cls, row: tuple[Any, ...]) -> AttemptRow:
        """Build from stored values in ``ATTEMPT_FIELDS`` order."""
        values = dict(zip(ATTEMPT_FIELDS, row, strict=True))
        box = tuple(values.pop(name) for name in _BOX_COLUMNS)
        values["time"] = from_db_time(values["time"])
        return cls(**values, box=None if box[0] is None else box)


class AttemptLog:
    """The attempt log of one store; remembers, per thread, a batch whose commit had no
    answer (see :meth:`record`)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._committing = threading.local()

    def record(self, batch: list[NewAttempt]) -> int:
        """Write ``batch`` in one transaction; returns the last attempt's id.

        When the connection is lost during the commit, whether it happened is unknown: the
        batch is remembered, and the next call (a retry, the same attempts first) first looks
        for its last row in the chain, and writes only what the lost commit did not."""
        batch, written = self._resolve_unknown_commit(batch)
        if not batch:
            return written
        now = to_db_time(utc_now())
        with self._store.change() as tx:
            wanted = {a.person_id for a in batch if a.person_id is not None}
            present: set[int] = set()
            for ids in chunked(sorted(wanted), 500):
                present.update(
                    row[0]
                    for row in tx.db.execute(Person.select(Person.id).where(Person.id.in_(ids)))
                )
            rows = []
            for attempt in batch:
                row = attempt.chain_row(now)
                if attempt.person_id is not None and attempt.person_id not in present:
                    row = (*row[:-1], None)
                rows.append(row)
            last_id, seq, head_hash = tx.append("attempt", rows, unchained=("person_id",))
            self._committing.value = (tuple(batch), seq, head_hash, last_id)
        self._committing.value = None
        return last_id

    def _resolve_unknown_commit(self, batch: list[NewAttempt]) -> tuple[list[NewAttempt], int]:
        """``batch`` without the attempts a commit of unknown outcome (see :meth:`record`) did
        write, and the id of the last of those (0 if none)."""
        committing = getattr(self._committing, "value", None)
        if committing is None:
            return batch, 0
        earlier, seq, head_hash, last_id = committing
        found = self._store.db.execute(
            Attempt.select(Attempt.id).where((Attempt.seq == seq) & (Attempt.row_hash == head_hash))
        ).fetchone()
        self._committing.value = None
        if found is None or tuple(batch[: len(earlier)]) != earlier:
            return batch, 0
        log.warning("%d attempt(s) were committed before the connection was lost", len(earlier))
        return batch[len(earlier) :], last_id

    def query(self, filter: AttemptFilter, limit: int, before_id: int | None) -> list[AttemptRow]:
        """One page of attempts, newest first (see ``Store.query_attempts``)."""
        check_page(limit)
        db = self._store.db
        conditions = self._conditions(filter)
        if before_id is not None:
            row = db.execute(Attempt.select(Attempt.time).where(Attempt.id == before_id)).fetchone()
            if row is None:
                raise UsageError(f"no attempt with id {before_id}")
            conditions.append(Tuple(Attempt.time, Attempt.id) < Tuple(row[0], before_id))
        query = _attempts(conditions).order_by(Attempt.time.desc(), Attempt.id.desc())
        return [AttemptRow.from_db(row) for row in db.execute(query.limit(limit)).fetchall()]

    def _conditions(self, filter: AttemptFilter) -> list[Expression]:
        return filter.where(self._logged_names)

    def _logged_names(self) -> list[str]:
        """Every distinct person name in the attempt log."""
        query = Attempt.select(Attempt.person_name).distinct()
        named = query.where(Attempt.person_name.is_null(False))
        return [row[0] for row in self._store.db.execute(named).fetchall()]

    def count(self, filter: AttemptFilter) -> int:
        """How many attempts match ``filter``."""
        query = Attempt.select(fn.COUNT(SQL("*")))
        conditions = self._conditions(filter)
        if conditions:
            query = query.where(*conditions)
        return query.scalar(self._store.db)

    def values(self, filter: AttemptFilter, chunk_size: int) -> Iterator[tuple[Any, ...]]:
        """Every matching attempt, oldest first, as stored values (see
        ``Store.iter_attempt_values``), fetched by keyset ``chunk_size`` rows at a time."""
        db, dialect = self._store.db, self._store.dialect
        with dialect.errors(db):
            conditions = self._conditions(filter)
        after: list[Expression] = []
        while True:
            query = _attempts([*conditions, *after]).order_by(Attempt.time, Attempt.id)
            with dialect.errors(db):
                rows = db.execute(query.limit(chunk_size)).fetchall()
            yield from rows
            if len(rows) < chunk_size:
                return
            after = [Tuple(Attempt.time, Attempt.id) > Tuple(rows[-1][2], rows[-1][0])]
