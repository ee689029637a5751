"""Kept visitor crops: the face of an ``unknown``, ``spoof`` or ``denied`` attempt, for review.

The queries behind the ``Store``'s visitor methods, written on peewee's query builder alone (no
SQL text), so that they run unchanged on every database backend. Each function takes the
store's database and runs inside the caller's transaction; the ``Store`` methods open the
transaction and chain the admin events (dismissal, expiry, enrolment).

A crop is biometric data: it is kept only while the site's ``[visitors] keep`` is on, and its
row is deleted (not flagged) when it is dismissed or expires, and with the person it shows
when they are removed. The attempt it came from stays in the chained log either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from peewee import Database

from gatekeeper.errors import NotFoundError, UsageError
from gatekeeper.store.models import Attempt, Visitor

#: The decisions whose face crop may be kept: nobody recognised, a photo or a screen, or a
#: recognised person who was refused.
KEPT_DECISIONS = ("unknown", "spoof", "denied")
#: The review state of a crop nobody has acted on yet, and of one enrolled as a person.
NEW, ENROLLED = "new", "enrolled"


@dataclass(frozen=True)
class VisitorRow:
    """A kept crop and the attempt it came from.

    ``kept`` is when the face was captured (UTC; the retention counts from it); ``width`` and
    ``height`` the crop's size in pixels; ``status`` ``new`` or ``enrolled`` (then
    ``enrolled_name`` is who it was enrolled as). From the attempt: its ``time`` (UTC),
    ``camera_id``, ``decision``, ``reason`` (why a recognised person was refused),
    ``distance`` (L2, to the closest enrolled person; None with an empty gallery) and
    ``person_name`` (who a ``spoof`` or ``denied`` face matched). ``crop`` is the JPEG itself,
    read only by :func:`get` (None in listings).
    """

    id: int
    attempt_id: int
    kept: datetime
    width: int
    height: int
    status: str
    enrolled_name: str | None
    time: datetime
    camera_id: str
    decision: str
    reason: str | None
    distance: float | None
    person_name: str | None
    crop: bytes | None = field(default=None, repr=False)  # biometric data: never in a log line

    def describe(self) -> str:
        """One line for admin events and messages: ``visitor 3 (attempt 41, unknown at
        front-door, 2026-12-01T10:14:02+00:00)``."""
        return (
            f"visitor {self.id} (attempt {self.attempt_id}, {self.decision} at "
            f"{self.camera_id}, {self.time.isoformat(timespec='seconds')})"
        )


_COLUMNS = (
    Visitor.id,
    Visitor.attempt,
    Visitor.kept,
    Visitor.width,
    Visitor.height,
    Visitor.status,
    Visitor.enrolled_name,
    Attempt.time,
    Attempt.camera_id,
    Attempt.decision,
    Attempt.reason,
    Attempt.distance,
    Attempt.person_name,
)


def _select(db: Database, *extra):
    return Visitor.select(*_COLUMNS, *extra).join(Attempt).bind(db)


def keep(
    db: Database, attempt_id: int, crop: bytes, width: int, height: int, kept: datetime
) -> int:
    """Keep the JPEG ``crop`` (``width`` × ``height`` pixels, captured at ``kept``) of an
    attempt; returns the visitor id. Raises ``NotFoundError`` for an attempt that does not exist,
    ``UsageError`` for one whose decision is not in :data:`KEPT_DECISIONS` or that already has
    a crop."""
    if not crop or width < 1 or height < 1:
        raise ValueError(f"a crop needs bytes and a size, got {len(crop)} bytes {width}x{height}")
    decision = Attempt.select(Attempt.decision).where(Attempt.id == attempt_id).bind(db).scalar()
    if decision is None:
        raise NotFoundError(f"no attempt with id {attempt_id}")
    if decision not in KEPT_DECISIONS:
        raise UsageError(
            f"attempt {attempt_id} is {decision!r}: only the faces of "
            f"{', '.join(KEPT_DECISIONS)} attempts are kept"
        )
    if Visitor.select().where(Visitor.attempt == attempt_id).bind(db).exists():
        raise UsageError(f"attempt {attempt_id} already has a kept crop")
    return (
        Visitor.insert(
            attempt=attempt_id, kept=kept, crop=crop, width=width, height=height, status=NEW
        )
        .bind(db)
        .execute()
    )


def _row(values: tuple, crop: bytes | None = None) -> VisitorRow:
    return VisitorRow(*values, crop=None if crop is None else bytes(crop))


def newest(db: Database, limit: int) -> list[VisitorRow]:
    """The ``limit`` most recent crops, newest attempt first (then newest crop), without the
    JPEGs."""
    query = _select(db).order_by(Attempt.time.desc(), Visitor.id.desc()).limit(limit)
    return [_row(values) for values in query.tuples()]


def get(db: Database, visitor_id: int) -> VisitorRow:
    """One crop with its JPEG; ``NotFoundError`` "no such visitor: N" when there is none."""
    values = _select(db, Visitor.crop).where(Visitor.id == visitor_id).tuples().first()
    if values is None:
        raise NotFoundError(f"no such visitor: {visitor_id}")
    return _row(values[:-1], values[-1])


def delete(db: Database, visitor_id: int) -> VisitorRow:
    """Delete one crop's row (the JPEG with it); returns what it was (without the JPEG)."""
    row = get(db, visitor_id)
    Visitor.delete().where(Visitor.id == visitor_id).bind(db).execute()
    return replace(row, crop=None)


def mark_enrolled(db: Database, visitor_id: int, name: str) -> VisitorRow:
    """Mark a crop ``enrolled`` as ``name``; returns it as it was before (without the JPEG)."""
    row = get(db, visitor_id)
    (
        Visitor.update(status=ENROLLED, enrolled_name=name)
        .where(Visitor.id == visitor_id)
        .bind(db)
        .execute()
    )
    return replace(row, crop=None)


def erase_person(db: Database, person_id: int, name: str) -> int:
    """Delete every crop of a person being removed: those of the attempts recorded as them
    (``denied``, ``spoof``) and those enrolled as ``name``; returns how many. Run it before the
    person's row is deleted, while their attempts still point at them."""
    theirs = Attempt.select(Attempt.id).where(Attempt.person == person_id)
    return (
        Visitor.delete()
        .where(Visitor.attempt.in_(theirs) | (Visitor.enrolled_name == name))
        .bind(db)
        .execute()
    )


def expire(db: Database, cutoff: datetime) -> int:
    """Delete every crop captured before ``cutoff`` (UTC-aware); returns how many."""
    return Visitor.delete().where(Visitor.kept < cutoff).bind(db).execute()
