"""People in the store: enrolling, listing, (de)activating and erasing a person.

The queries behind the ``Store``'s people methods. Each write is one ``store.change`` (see
``gatekeeper.store.change``) on the state parts it touches, with an admin event (``enrol``,
``activate``/``deactivate``, ``remove``) and a gallery bump. Names are unique by
:func:`.names.name_key` (case and compatibility forms folded) and name the folder of a person's
kept photos (:func:`.names.photo_folder`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import SQL, Database, ModelSelect, fn

from gatekeeper.errors import NotFoundError, UsageError
from gatekeeper.store import visitors
from gatekeeper.store.change import Change
from gatekeeper.store.models import Attempt, FaceEncoding, Person, from_db_time, utc_now
from gatekeeper.store.names import name_key, photo_folder, validate_name, validate_new_name

if TYPE_CHECKING:
    from gatekeeper.store.store import Store


@dataclass(frozen=True)
class PersonInfo:
    """A person with counts: ``encodings`` (all model ids), ``photos`` (kept photo files),
    ``last_seen`` (UTC time of their newest recognised attempt, None if never), and how many
    encodings are ``low_quality`` (below the enrolment bar) or of ``unmeasured`` quality."""

    id: int
    name: str
    display_name: str
    active: bool
    created: datetime
    encodings: int
    photos: int
    last_seen: datetime | None
    low_quality: int = 0
    unmeasured: int = 0

    @property
    def quality(self) -> str:
        """``low`` when some template is below the enrolment bar (matched under the stricter
        rule), ``unmeasured`` when some was stored before qualities were (``reencode`` measures
        them), else ``good``."""
        if self.low_quality:
            return "low"
        return "unmeasured" if self.unmeasured else "good"


@dataclass(frozen=True)
class RemovalReport:
    """What ``remove_person`` erased. ``leftover_files`` lists photo files that could not be
    deleted (the database rows are gone; the caller should warn and the files be removed);
    ``visitors_deleted`` counts the kept visitor crops of the person that were deleted."""

    name: str
    encodings_deleted: int
    photos_deleted: int
    attempts_kept: int
    leftover_files: tuple[Path, ...]
    visitors_deleted: int = 0


def _people_query() -> ModelSelect:
    """Every person with their counts (the columns of ``PersonInfo``, in order)."""
    encodings = FaceEncoding.select(fn.COUNT(SQL("*"))).where(FaceEncoding.person == Person.id)
    return Person.select(
        Person.id,
        Person.name,
        Person.display_name,
        Person.active,
        Person.created,
        encodings,
        FaceEncoding.select(fn.COUNT(FaceEncoding.photo_path.distinct())).where(
            FaceEncoding.person == Person.id
        ),
        Attempt.select(fn.MAX(Attempt.time)).where(Attempt.person == Person.id),
        encodings.where(FaceEncoding.low_quality),
        encodings.where(FaceEncoding.low_quality.is_null()),
    )


def person_id(db: Database, name: str) -> int | None:
    """The id of the person called ``name`` (validated), or None."""
    return Person.select(Person.id).where(Person.name == name).scalar(db)


def require_person(db: Database, name: str) -> int:
    """The id of the person called ``name``; ``NotFoundError`` "no such person: NAME"."""
    found = person_id(db, name)
    if found is None:
        raise NotFoundError(f"no such person: {name}")
    return found


def check_name(db: Database, name: str) -> str:
    """``name`` validated, if it names an enrolled person or may name a new one (see
    ``Store.check_name``)."""
    name = validate_name(name)
    if person_id(db, name) is None:
        _check_new_name(db, name)
    return name


def _check_new_name(db: Database, name: str) -> None:
    validate_new_name(name)
    key = name_key(name)
    for (other,) in db.execute(Person.select(Person.name)).fetchall():
        if name_key(other) == key:
            raise UsageError(
                f"{name!r} is already enrolled as {other!r} (names are compared ignoring "
                f"case and compatibility forms); use {other!r} to add photos"
            )


def insert_person(tx: Change, name: str, display_name: str | None) -> int:
    """Create a person inside the change ``tx`` (on the ``people`` part). The name must be a
    valid *new* name and must not look like an enrolled one: names are unique by
    :func:`name_key`."""
    _check_new_name(tx.db, name)
    display = (display_name or "").strip() or name
    new_id = Person.insert(name=name, display_name=display, created=utc_now(), active=True).execute(
        tx.db
    )
    tx.bump_gallery()
    tx.log("enrol", f"added person {name}")
    return new_id


def add_person(store: Store, name: str, display_name: str | None) -> PersonInfo:
    """Add an active person (see ``Store.add_person``)."""
    name = validate_name(name)
    with store.change("people") as tx:
        if person_id(tx.db, name) is not None:
            raise UsageError(f"person already exists: {name}")
        insert_person(tx, name, display_name)
    return _get_person(store.db, name)


def get_person(db: Database, name: str) -> PersonInfo | None:
    """The person called ``name`` (validated), or None."""
    name = validate_name(name)
    return _get_person(db, name) if person_id(db, name) is not None else None


def _get_person(db: Database, name: str) -> PersonInfo:
    return _people(db, _people_query().where(Person.name == name))[0]


def list_people(db: Database) -> list[PersonInfo]:
    """Everyone, active or not, ordered by name (by code point)."""
    return _people(db, _people_query().order_by(Person.name))


def _people(db: Database, query: ModelSelect) -> list[PersonInfo]:
    return [
        PersonInfo(
            id=row[0],
            name=row[1],
            display_name=row[2],
            active=bool(row[3]),
            created=from_db_time(row[4]),
            encodings=row[5],
            photos=row[6],
            last_seen=None if row[7] is None else from_db_time(row[7]),
            low_quality=row[8],
            unmeasured=row[9],
        )
        for row in db.execute(query).fetchall()
    ]


def set_active(store: Store, name: str, active: bool) -> None:
    """(De)activate a person (see ``Store.set_active``)."""
    name = validate_name(name)
    with store.change("people") as tx:
        found = require_person(tx.db, name)
        changed = (
            Person.update(active=active)
            .where((Person.id == found) & (Person.active != active))
            .execute(tx.db)
        )
        if changed:
            tx.bump_gallery()
            tx.log("activate" if active else "deactivate", name)


def remove_person(store: Store, name: str) -> RemovalReport:
    """Erase a person's biometric data (see ``Store.remove_person``)."""
    name = validate_name(name)
    with store.change("people", "encodings", "access") as tx:
        db = tx.db
        found = require_person(db, name)
        photos = [
            row[0]
            for row in db.execute(
                FaceEncoding.select(FaceEncoding.photo_path)
                .distinct()
                .where((FaceEncoding.person == found) & FaceEncoding.photo_path.is_null(False))
            ).fetchall()
        ]
        encodings = FaceEncoding.delete().where(FaceEncoding.person == found).execute(db)
        crops = visitors.erase_person(db, found, name)
        attempts = Attempt.select(fn.COUNT(SQL("*"))).where(Attempt.person == found).scalar(db)
        Person.delete().where(Person.id == found).execute(db)
        tx.bump_gallery()
        tx.log(
            "remove",
            f"{name}: erased {encodings} encodings, {len(photos)} photos and {crops} "
            f"visitor crops; {attempts} attempts kept",
        )
    deleted, leftovers = _erase_photos(store.images_dir, name, photos)
    return RemovalReport(name, encodings, deleted, attempts, leftovers, crops)


def _erase_photos(images_dir: Path, name: str, photos: list[str]) -> tuple[int, tuple[Path, ...]]:
    """Delete the person's photo folder (stray files included); returns how many of their
    kept photos are gone and what could not be deleted."""
    existing = [images_dir / relative for relative in photos]
    existing = [path for path in existing if path.exists()]
    folder = images_dir / photo_folder(name)
    shutil.rmtree(folder, ignore_errors=True)
    leftovers = (folder, *folder.rglob("*")) if folder.exists() else ()
    return sum(not path.exists() for path in existing), leftovers
