"""State records: the site's live state (settings, people, the gallery) tied to the audit chain.

The hash chain covers the history (attempts and admin events), but what decides at the door is
the current state: the threshold, who is active, which templates are enrolled. Those are plain
rows that SQL could change without touching the chain. So every change made through the store
ends with a chained ``state`` admin event whose detail holds a digest of each part of the
state as it now is::

    threshold 0.55, 3 people (2 active), 7 encodings; settings:<sha256> people:<sha256>
    encodings:<sha256>

(one line). ``audit verify`` recomputes the digests and compares them with the newest state
record in the chain; a writer compares them before changing anything, so a change made behind
the store's back is not blessed by the next ordinary one.

What each digest covers (SHA-256 of the part's name followed by the compact JSON array of its
rows, each row an array, in a fixed order):

- ``settings``: every ``setting`` row (key, value) except the ``gallery_version`` counter;
- ``people``: every person's name, display name and active flag;
- ``encodings``: every encoding's person name, model id, source-image SHA-256, kept-photo
  path and the SHA-256 of its embedding blob, in id order;
- ``schedules`` (schema v5): every access schedule's name with each of its windows (weekday,
  start and end minute; a schedule without windows as one row of NULLs);
- ``access`` (schema v5): the schedule name and validity dates of every person who has any.

Parts added later (:data:`ADDED_PARTS`) are missing from the records written before they
existed: such a record stands for the part's empty digest, which a database migrated to them
(empty schedules, nobody limited) has, so it still verifies.

Not covered: row ids, creation times, the gallery counter, the kept photo files themselves
(their source image's SHA-256 is), schedule descriptions, and columns added to these tables
later unless listed here.
Every database is created with a state record. A chain without one stands for the empty state;
a database written before state records existed is adopted (its state recorded as found, trust
on first use) the first time it is opened for writing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peewee import JOIN, SQL, Case, Database, Select, fn

from gatekeeper.store.models import (
    GALLERY_VERSION_KEY,
    THRESHOLD_KEY,
    AdminEvent,
    FaceEncoding,
    Person,
    Schedule,
    ScheduleWindow,
    Setting,
)

if TYPE_CHECKING:
    from gatekeeper.store.backends import Backend

#: The ``admin_event.kind`` of state records; only the store writes it.
STATE_KIND = "state"


def _parts() -> dict[str, Select]:
    """The parts of the state, in the order they are recorded, with the query listing each
    one's rows in a fixed order (the embedding blob, when present, is last and hashed on its
    own). Text is ordered by code point on both backends (PostgreSQL columns are ``COLLATE
    "C"``)."""
    limited = (
        Person.schedule.is_null(False)
        | Person.valid_from.is_null(False)
        | Person.valid_until.is_null(False)
    )
    return {
        "settings": Setting.select(Setting.key, Setting.value)
        .where(Setting.key != GALLERY_VERSION_KEY)
        .order_by(Setting.key),
        "people": Person.select(Person.name, Person.display_name, Person.active).order_by(
            Person.name
        ),
        "encodings": FaceEncoding.select(
            Person.name,
            FaceEncoding.model_id,
            FaceEncoding.image_sha256,
            FaceEncoding.photo_path,
            FaceEncoding.embedding,
        )
        .join(Person, JOIN.LEFT_OUTER, on=FaceEncoding.person == Person.id)
        .order_by(FaceEncoding.id),
        "schedules": Schedule.select(
            Schedule.name,
            ScheduleWindow.weekday,
            ScheduleWindow.start_minute,
            ScheduleWindow.end_minute,
        )
        .join(ScheduleWindow, JOIN.LEFT_OUTER, on=ScheduleWindow.schedule == Schedule.id)
        .order_by(
            Schedule.name,
            ScheduleWindow.weekday,
            ScheduleWindow.start_minute,
            ScheduleWindow.end_minute,
        ),
        "access": Person.select(Person.name, Schedule.name, Person.valid_from, Person.valid_until)
        .join(Schedule, JOIN.LEFT_OUTER, on=Person.schedule == Schedule.id)
        .where(limited)
        .order_by(Person.name),
    }


PARTS: dict[str, Select] = _parts()
#: The parts added after the first state records, at the end of ``PARTS``: a record without
#: one of them stands for its empty digest.
ADDED_PARTS = ("schedules", "access")

#: Rows read and encoded per step (the digest does not depend on it).
_CHUNK = 5000

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

_RECORD_RE = re.compile(
    " ".join(f"{part}:(?P<{part}>[0-9a-f]{{64}})" for part in PARTS if part not in ADDED_PARTS)
    + "".join(f"(?: {part}:(?P<{part}>[0-9a-f]{{64}}))?" for part in ADDED_PARTS)
    + "$"
)


def _stored(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row as SQLite stores it: a boolean is the integer 1 or 0 (PostgreSQL returns
    ``True``/``False``, which JSON would write as ``true``/``false``)."""
    return tuple(int(value) if isinstance(value, bool) else value for value in row)


@dataclass(frozen=True)
class State:
    """The digests of the site's state (``PARTS`` → SHA-256 hex) and a line for people."""

    digests: dict[str, str]
    summary: str

    def record(self) -> str:
        """The detail of the ``state`` admin event recording this state."""
        digests = " ".join(f"{part}:{self.digests[part]}" for part in PARTS)
        return f"{self.summary}; {digests}"


#: The state of a new site: no settings, nobody, no encodings.
EMPTY_DIGESTS = {part: hashlib.sha256(f"{part}[]".encode("ascii")).hexdigest() for part in PARTS}


def current(
    backend: Backend,
    db: Database,
    parts: Iterable[str] = PARTS,
    unchanged: State | None = None,
) -> State:
    """The digests of the state as stored now (read in the caller's transaction).

    Only ``parts`` are read; the others are taken from ``unchanged``, a state known to hold
    for them (the one checked before a change that cannot touch them). Costs a few
    microseconds per row: an encoding's 512-byte embedding is hashed on its own.
    """
    digests = {} if unchanged is None else dict(unchanged.digests)
    for part in parts:
        digest = hashlib.sha256(f"{part}[".encode("ascii"))
        separator = b""
        rows: list[tuple[Any, ...]] = []
        for row in backend.stream(db, PARTS[part], _CHUNK):
            if part == "encodings":
                row = (*row[:-1], hashlib.sha256(row[-1]).hexdigest())
            rows.append(_stored(row))
            if len(rows) == _CHUNK:
                digest.update(separator + _encode(rows)[1:-1].encode("utf-8"))
                separator, rows = b",", []
        if rows:
            digest.update(separator + _encode(rows)[1:-1].encode("utf-8"))
        digest.update(b"]")
        digests[part] = digest.hexdigest()
    return State(digests, _summary(db))


def _summary(db: Database) -> str:
    threshold = Setting.select(Setting.value).where(Setting.key == THRESHOLD_KEY).scalar(db)
    is_active = Case(None, [(Person.active, 1)], 0)
    people, active = db.execute(
        Person.select(fn.COUNT(SQL("*")), fn.COALESCE(fn.SUM(is_active), 0))
    ).fetchone()
    encodings = db.execute(FaceEncoding.select(fn.COUNT(SQL("*")))).fetchone()[0]
    shown = "unset" if threshold is None else threshold
    return f"threshold {shown}, {people} people ({active} active), {encodings} encodings"


@dataclass(frozen=True)
class Recorded:
    """The newest state record in the chain: its row, sequence number and digests."""

    row_id: int
    seq: int
    digests: dict[str, str]


def recorded(db: Database, head_seq: int | None = None) -> Recorded | None:
    """The newest state record (at or before ``head_seq`` if given), or None if there is none.
    A ``state`` event whose detail is not a state record counts as a record of nothing."""
    query = AdminEvent.select(AdminEvent.id, AdminEvent.seq, AdminEvent.detail).where(
        AdminEvent.kind == STATE_KIND
    )
    if head_seq is not None:
        query = query.where(AdminEvent.seq <= head_seq)
    row = db.execute(query.order_by(AdminEvent.seq.desc()).limit(1)).fetchone()
    if row is None:
        return None
    found = _RECORD_RE.search(row[2])
    digests = {} if found is None else found.groupdict()
    digests = {part: digest or EMPTY_DIGESTS[part] for part, digest in digests.items()}
    return Recorded(row[0], row[1], digests)


def differences(state: State, record: Recorded | None) -> list[str]:
    """The parts of ``state`` that differ from ``record`` (None: the empty state)."""
    expected = EMPTY_DIGESTS if record is None else record.digests
    return [part for part in PARTS if expected.get(part) != state.digests[part]]
