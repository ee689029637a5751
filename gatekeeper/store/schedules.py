"""Access schedules and validity dates in the store (schema v5), on peewee's query builder.

A schedule is a named set of weekly windows (``schedule``, ``schedule_window``) that several
people share (``person.schedule_id``); ``person.valid_from`` / ``valid_until`` are inclusive
local ISO dates. The policy itself (what the windows mean, the time zone) is
:mod:`gatekeeper.schedule`; here they are only kept, in its normalised form.

Every change is one ``store.change`` (:mod:`gatekeeper.store.change`) on the state part
``schedules`` or ``access`` (:mod:`gatekeeper.store.state`), checked before and recorded
after; it appends a chained admin event (``schedule`` for a schedule, ``access`` for a
person's schedule or dates) and bumps the gallery counter, so every running console reloads
who may enter when with its gallery, within a frame. A change that changes nothing writes
nothing. The ``Store`` methods of the same names are the way in.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from peewee import JOIN, Database

from gatekeeper.errors import GatekeeperError, NotFoundError, StoreError, UsageError
from gatekeeper.schedule import (
    Access,
    Window,
    check_validity,
    describe_validity,
    format_windows,
    normalise,
)
from gatekeeper.store.models import Person, Schedule, ScheduleWindow, utc_now
from gatekeeper.store.names import name_key, validate_name, validate_new_name

if TYPE_CHECKING:
    from gatekeeper.store.store import Store

#: Admin event kinds: a schedule created, replaced or deleted; a person's access changed.
SCHEDULE_KIND = "schedule"
ACCESS_KIND = "access"
#: What ``set_schedule`` did.
CREATED, REPLACED, UNCHANGED = "created", "replaced", "unchanged"
#: At most this many names are listed when a schedule in use cannot be deleted.
_NAMES_SHOWN = 5


@dataclass(frozen=True)
class ScheduleInfo:
    """A named schedule: its normalised ``windows``, its ``description`` and the names of the
    ``people`` assigned to it (by name)."""

    name: str
    description: str
    windows: tuple[Window, ...]
    people: tuple[str, ...]

    @property
    def text(self) -> list[str]:
        """The windows in the window syntax (``["Mon-Fri 07:00-19:00"]``)."""
        return format_windows(self.windows)


def _one_line(text: str, what: str) -> str:
    """``text`` stripped; refused when it holds a line break or another control character."""
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise UsageError(f"{what} must be one line of text, without control characters")
    return text.strip()


def _schedule_id(db: Database, name: str) -> int | None:
    return Schedule.select(Schedule.id).where(Schedule.name == name).tuples().bind(db).scalar()


def _require_schedule(db: Database, name: str) -> int:
    schedule_id = _schedule_id(db, name)
    if schedule_id is None:
        raise NotFoundError(f"no such schedule: {name}")
    return schedule_id


def _windows(db: Database, schedule_id: int | None = None) -> dict[int, list[Window]]:
    """The windows of one schedule (or all), by schedule id, in stored order."""
    query = ScheduleWindow.select(
        ScheduleWindow.schedule,
        ScheduleWindow.weekday,
        ScheduleWindow.start_minute,
        ScheduleWindow.end_minute,
    )
    if schedule_id is not None:
        query = query.where(ScheduleWindow.schedule == schedule_id)
    found: dict[int, list[Window]] = {}
    for owner, weekday, start, end in (
        query.order_by(
            ScheduleWindow.schedule,
            ScheduleWindow.weekday,
            ScheduleWindow.start_minute,
            ScheduleWindow.end_minute,
        )
        .tuples()
        .bind(db)
    ):
        found.setdefault(owner, []).append(Window(weekday, start, end))
    return found


def _text(windows: tuple[Window, ...] | list[Window]) -> str:
    return "; ".join(format_windows(windows)) if windows else "no windows"


def set_schedule(
    store: Store,
    name: str,
    windows: tuple[tuple[int, int, int], ...] | list[Window],
    *,
    description: str | None = None,
) -> str:
    """Create the schedule ``name`` with ``windows`` ``(weekday, start_minute, end_minute)``, or
    replace the windows (and, if given, the ``description``) of the one so named; returns
    :data:`CREATED`, :data:`REPLACED` or :data:`UNCHANGED`. Names follow the rules of person
    names; a new one may not look like an existing one (case, compatibility forms)."""
    name = validate_name(name)
    wanted = normalise(windows)
    if not wanted:
        raise UsageError("a schedule needs at least one window")
    described = None if description is None else _one_line(description, "a description")
    with store.change("schedules") as tx:
        db = tx.db
        row = (
            Schedule.select(Schedule.id, Schedule.description)
            .where(Schedule.name == name)
            .tuples()
            .bind(db)
            .first()
        )
        if row is None:
            _check_new_schedule_name(db, name)
            schedule_id = (
                Schedule.insert(name=name, description=described or "", created=utc_now())
                .bind(db)
                .execute()
            )
            outcome, detail = CREATED, f"created {name}: {_text(wanted)}"
        else:
            schedule_id, old_description = row
            old = tuple(_windows(db, schedule_id).get(schedule_id, ()))
            if old == wanted and described in (None, old_description):
                return UNCHANGED
            if described is not None and described != old_description:
                Schedule.update(description=described).where(Schedule.id == schedule_id).bind(
                    db
                ).execute()
            ScheduleWindow.delete().where(ScheduleWindow.schedule == schedule_id).bind(db).execute()
            outcome, detail = REPLACED, f"replaced {name}: {_text(wanted)} (was {_text(old)})"
        ScheduleWindow.insert_many(
            [(schedule_id, *window) for window in wanted],
            fields=[
                ScheduleWindow.schedule,
                ScheduleWindow.weekday,
                ScheduleWindow.start_minute,
                ScheduleWindow.end_minute,
            ],
        ).bind(db).execute()
        tx.bump_gallery()
        tx.log(SCHEDULE_KIND, detail)
    return outcome


def _check_new_schedule_name(db: Database, name: str) -> None:
    validate_new_name(name)
    key = name_key(name)
    for (other,) in Schedule.select(Schedule.name).tuples().bind(db):
        if name_key(other) == key:
            raise UsageError(
                f"{name!r} looks like the schedule {other!r} (names are compared ignoring case "
                f"and compatibility forms); use {other!r} to change it"
            )


def delete_schedule(store: Store, name: str) -> None:
    """Delete the schedule ``name``; refused (nothing written) while anybody is assigned to
    it, since deleting it would silently give them access at any time."""
    name = validate_name(name)
    with store.change("schedules") as tx:
        db = tx.db
        schedule_id = _require_schedule(db, name)
        users = [
            person
            for (person,) in Person.select(Person.name)
            .where(Person.schedule == schedule_id)
            .order_by(Person.name)
            .tuples()
            .bind(db)
        ]
        if users:
            shown = ", ".join(users[:_NAMES_SHOWN]) + (", …" if len(users) > _NAMES_SHOWN else "")
            count = "1 person" if len(users) == 1 else f"{len(users)} people"
            raise GatekeeperError(
                f"schedule {name} is assigned to {count} ({shown}): assign them another "
                "schedule or none first"
            )
        old = _windows(db, schedule_id).get(schedule_id, [])
        ScheduleWindow.delete().where(ScheduleWindow.schedule == schedule_id).bind(db).execute()
        Schedule.delete().where(Schedule.id == schedule_id).bind(db).execute()
        tx.bump_gallery()
        tx.log(SCHEDULE_KIND, f"deleted {name} (was {_text(old)})")


def list_schedules(store: Store, name: str | None = None) -> list[ScheduleInfo]:
    """Every schedule (or the one called ``name``), by name, with its windows and people."""
    db = store.db
    query = Schedule.select(Schedule.id, Schedule.name, Schedule.description)
    if name is not None:
        query = query.where(Schedule.name == validate_name(name))
    with store.dialect.snapshot(db):
        schedules = list(query.order_by(Schedule.name).tuples().bind(db))
        windows = _windows(db)
        people: dict[int, list[str]] = {}
        for owner, person in (
            Person.select(Person.schedule, Person.name)
            .where(Person.schedule.is_null(False))
            .order_by(Person.name)
            .tuples()
            .bind(db)
        ):
            people.setdefault(owner, []).append(person)
    return [
        ScheduleInfo(name, description, tuple(windows.get(sid, ())), tuple(people.get(sid, ())))
        for sid, name, description in schedules
    ]


def get_schedule(store: Store, name: str) -> ScheduleInfo:
    """The schedule called ``name``; :class:`NotFoundError` if there is none."""
    found = list_schedules(store, name)
    if not found:
        raise NotFoundError(f"no such schedule: {validate_name(name)}")
    return found[0]


def _person_access(db: Database, person: str) -> tuple[int, str | None, Any, Any]:
    """``(id, schedule name, valid_from, valid_until)`` of a person, as stored."""
    row = (
        Person.select(Person.id, Schedule.name, Person.valid_from, Person.valid_until)
        .join(Schedule, JOIN.LEFT_OUTER, on=(Person.schedule == Schedule.id))
        .where(Person.name == person)
        .tuples()
        .bind(db)
        .first()
    )
    if row is None:
        raise NotFoundError(f"no such person: {person}")
    return row


def assign_schedule(store: Store, person: str, schedule: str | None) -> bool:
    """Give ``person`` the schedule called ``schedule`` (``None``: none, any time); returns
    whether anything changed."""
    person = validate_name(person)
    schedule = None if schedule is None else validate_name(schedule)
    with store.change(ACCESS_KIND) as tx:
        person_id, old, _, _ = _person_access(tx.db, person)
        schedule_id = None if schedule is None else _require_schedule(tx.db, schedule)
        if old == schedule:
            return False
        Person.update(schedule=schedule_id).where(Person.id == person_id).bind(tx.db).execute()
        tx.bump_gallery()
        tx.log(
            ACCESS_KIND,
            f"{person}: schedule {schedule or 'none (any time)'} (was {old or 'none'})",
        )
    return True


def set_validity(
    store: Store, person: str, valid_from: date | None, valid_until: date | None
) -> bool:
    """Set ``person``'s validity dates (inclusive local dates; ``None``: no limit); returns
    whether anything changed. Refuses ``valid_until`` before ``valid_from``."""
    person = validate_name(person)
    check_validity(valid_from, valid_until)
    new = tuple(None if day is None else day.isoformat() for day in (valid_from, valid_until))
    with store.change(ACCESS_KIND) as tx:
        person_id, _, *old = _person_access(tx.db, person)
        if tuple(old) == new:
            return False
        Person.update(valid_from=new[0], valid_until=new[1]).where(Person.id == person_id).bind(
            tx.db
        ).execute()
        tx.bump_gallery()
        was = describe_validity(*(_stored_date(person, text) for text in old))
        tx.log(
            ACCESS_KIND, f"{person}: valid {describe_validity(valid_from, valid_until)} (was {was})"
        )
    return True


def _stored_date(person: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StoreError(f"the validity date of {person} is not a date: {text!r}") from None


def access_rules(store: Store) -> dict[int, Access]:
    """The :class:`Access` of every person whose access is limited, by person id (everybody
    else may enter at any time); read in one transaction."""
    db = store.db
    with store.dialect.snapshot(db):
        people = list(
            Person.select(
                Person.id,
                Person.name,
                Person.schedule,
                Schedule.name,
                Person.valid_from,
                Person.valid_until,
            )
            .join(Schedule, JOIN.LEFT_OUTER, on=(Person.schedule == Schedule.id))
            .where(
                Person.schedule.is_null(False)
                | Person.valid_from.is_null(False)
                | Person.valid_until.is_null(False)
            )
            .tuples()
            .bind(db)
        )
        windows = _windows(db) if any(row[2] is not None for row in people) else {}
    return {
        person_id: Access(
            schedule,
            tuple(windows.get(schedule_id, ())),
            _stored_date(name, valid_from),
            _stored_date(name, valid_until),
        )
        for person_id, name, schedule_id, schedule, valid_from, valid_until in people
    }
