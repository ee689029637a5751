"""The ``Store``: people, face encodings, kept photos, the attempt log and admin events.

Open one with ``open_store``, on SQLite or PostgreSQL (``gatekeeper.store.backends``). Every
method is safe to call from several threads (each thread gets its own connection) and several
processes, on several hosts with PostgreSQL (a write takes the backend's write lock first,
waiting up to the busy timeout). Every database failure is raised as a one-line
``StoreError``; bad arguments a user can cause raise ``UsageError``. A connection the database
server closed is dropped, and the next call connects again.

The ``Store`` is the way in; the work is done by its parts, each a module that takes the store's
public members and its unit of work (``store.change``, ``gatekeeper.store.change``):
``people``, ``encodings`` (and kept photos), ``attempts``, ``schedules`` and ``visitors``.

Units: times are timezone-aware UTC ``datetime`` objects; distances and thresholds are L2
distances between 128-d embeddings; face boxes are ``(x, y, w, h)`` integer pixels; embeddings
are ``float32 (128,)`` numpy arrays. Embeddings are never logged.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
from peewee import EXCLUDED, Database

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.schedule import Access
from gatekeeper.store import audit, people, schedules, state, visitors
from gatekeeper.store import encodings as _encodings
from gatekeeper.store.attempts import (
    MAX_PAGE as MAX_PAGE,  # cli.py's page limit
)
from gatekeeper.store.attempts import (
    AttemptFilter,
    AttemptLog,
    AttemptRow,
    Box,
    NewAttempt,
    check_page,
)
from gatekeeper.store.backends import Backend, parse_database
from gatekeeper.store.change import Change, Writer, record_initial_state
from gatekeeper.store.database import open_database
from gatekeeper.store.encodings import GalleryData, KeptPhoto, NewEncoding
from gatekeeper.store.models import SCHEMA_VERSION, THRESHOLD_KEY, Setting, to_db_time
from gatekeeper.store.names import validate_name
from gatekeeper.store.people import PersonInfo, RemovalReport

#: Site thresholds must lie strictly between these L2 distances.
MIN_THRESHOLD = 0.0
MAX_THRESHOLD = 4.0

_KIND_RE = re.compile(r"[a-z][a-z0-9_]*")

P = ParamSpec("P")
R = TypeVar("R")


def _translated(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Run a ``Store`` method with database errors translated into ``StoreError``."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._backend.errors(self._db):
            return method(self, *args, **kwargs)

    return wrapper


class Store:
    """Gatekeeper's database and kept photos. Create with ``open_store``; close when done
    (or use as a context manager)."""

    def __init__(
        self,
        db: Database,
        *,
        backend: Backend,
        url: str,
        images_dir: Path,
        audit_key: str | None,
        migrated_from: int | None,
        read_only: bool = False,
    ) -> None:
        self._db = db
        self._backend = backend
        self.read_only = read_only
        #: ``--db`` as given, with a PostgreSQL password masked.
        self.url = url
        #: ``sqlite`` or ``postgresql``.
        self.backend = backend.name
        #: Where the database is, for messages: the file path, or the URL, password masked.
        self.location = backend.display
        #: The SQLite file (absolute), or None on PostgreSQL.
        self.path: Path | None = getattr(backend, "path", None)
        self.images_dir = images_dir
        self.busy_timeout_s = backend.busy_timeout_s
        self.schema_version = SCHEMA_VERSION
        self.migrated_from = migrated_from
        self._key = audit_key.encode("utf-8") if audit_key else None
        self._writer = Writer(db, backend, self._key)
        self._attempts = AttemptLog(self)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def dialect(self) -> Backend:
        """The backend's own operations (``gatekeeper.store.backends``), for store modules that
        need one, such as ``db copy``'s ``after_bulk_copy``."""
        return self._backend

    @property
    def db(self) -> Database:
        """The peewee database, for the store's parts to read with (each thread has its own
        connection); writes go through :meth:`change`."""
        return self._db

    def change(self, *parts: str) -> AbstractContextManager[Change]:
        """The unit of work: ``with store.change(*parts) as tx:`` runs the block in one write
        transaction holding the write lock, with ``tx.db``, ``tx.log(kind, detail)``,
        ``tx.append(...)`` and ``tx.bump_gallery()``; ``parts`` are the parts of the state it
        may change, checked before and recorded after (see ``gatekeeper.store.change``).
        Database errors inside are the caller's to translate (:meth:`dialect` ``.errors``)."""
        return self._writer.change(*parts)

    def close(self) -> None:
        """Close this thread's connection (other threads' connections close when they end)."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # People (gatekeeper.store.people).

    @_translated
    def check_name(self, name: str) -> str:
        """``name`` validated, if it names an enrolled person or may name a new one; raises
        ``UsageError`` when a new person may not be called so (names are unique ignoring case
        and compatibility forms, and a new one may not mix scripts in a word). Lets a caller
        refuse a name before expensive work; the insert checks again."""
        return people.check_name(self._db, name)

    @_translated
    def add_person(self, name: str, display_name: str | None = None) -> PersonInfo:
        """Add an active person (``display_name`` defaults to the name); records an ``enrol``
        event. Raises ``UsageError`` if the name is invalid or already taken."""
        return people.add_person(self, name, display_name)

    @_translated
    def get_person(self, name: str) -> PersonInfo | None:
        """The person called ``name`` (validated), or None."""
        return people.get_person(self._db, name)

    @_translated
    def list_people(self) -> list[PersonInfo]:
        """Everyone, active or not, ordered by name (by code point)."""
        return people.list_people(self._db)

    @_translated
    def set_active(self, name: str, active: bool) -> None:
        """(De)activate a person: inactive people stay enrolled but leave the gallery. Records
        an ``activate``/``deactivate`` event when the state changes."""
        people.set_active(self, name, active)

    @_translated
    def remove_person(self, name: str) -> RemovalReport:
        """Erase a person's biometric data: their encodings, kept photos and visitor crops.

        One transaction deletes the encodings, the kept visitor crops of their attempts and
        those enrolled as them (see :func:`.visitors.erase_person`; on SQLite overwritten in
        the file, as ``secure_delete`` overwrites every deleted row) and the person row, and
        records a ``remove`` event with the counts; their attempts stay, with ``person_name`` as
        it was and ``person_id`` set to NULL (the audit chain does not cover ``person_id``, so
        it still verifies). The photo folder ``images/<name>/`` (see
        :func:`.names.photo_folder`) is deleted only after the commit, so a failed commit loses
        nothing.
        Raises ``NotFoundError`` "no such person: NAME" for an unknown name.
        """
        return people.remove_person(self, name)

    # Access schedules and validity dates (gatekeeper.store.schedules).

    @_translated
    def set_schedule(
        self,
        name: str,
        windows: Sequence[tuple[int, int, int]],
        *,
        description: str | None = None,
    ) -> str:
        """Create or replace a named schedule: see :func:`.schedules.set_schedule`."""
        return schedules.set_schedule(self, name, windows, description=description)

    @_translated
    def delete_schedule(self, name: str) -> None:
        """Delete an unused schedule: see :func:`.schedules.delete_schedule`."""
        schedules.delete_schedule(self, name)

    @_translated
    def list_schedules(self) -> list[schedules.ScheduleInfo]:
        """Every schedule, by name, with its windows and people."""
        return schedules.list_schedules(self)

    @_translated
    def get_schedule(self, name: str) -> schedules.ScheduleInfo:
        """One schedule; ``NotFoundError`` if there is none so called."""
        return schedules.get_schedule(self, name)

    @_translated
    def assign_schedule(self, person: str, schedule: str | None) -> bool:
        """Give a person a schedule (``None``: any time): see :func:`.schedules.assign_schedule`."""
        return schedules.assign_schedule(self, person, schedule)

    @_translated
    def set_validity(self, person: str, valid_from: date | None, valid_until: date | None) -> bool:
        """Set a person's validity dates: see :func:`.schedules.set_validity`."""
        return schedules.set_validity(self, person, valid_from, valid_until)

    @_translated
    def access_rules(self) -> dict[int, Access]:
        """The access of every person whose access is limited, by person id."""
        return schedules.access_rules(self)

    # Encodings and photos (gatekeeper.store.encodings).

    def add_encoding(
        self,
        name: str,
        *,
        model_id: str,
        embedding: np.ndarray,
        image_sha256: str,
        photo: bytes | None = None,
        photo_ext: str = ".jpg",
        replace: bool = False,
        quality: Mapping[str, Any] | None = None,
    ) -> bool:
        """Store one embedding (``float32 (128,)``) of ``name`` under ``model_id``.

        ``quality`` holds the face's measured quality, keys :data:`.encodings.QUALITY_COLUMNS`
        (``FaceQuality.as_record()`` in ``vision/quality.py``); without it the quality is
        stored as unknown (NULL).

        Creates the person (active) if needed, in the same transaction. ``image_sha256`` is
        the hex SHA-256 of the source image; an encoding for the same (person, model id,
        image) is not stored twice: returns False, unless ``replace`` (used when re-encoding
        with the same model id) overwrites its embedding. ``photo`` bytes are kept as
        ``images/<name>/<sha256><photo_ext>``; with ``photo=None`` the photo already kept for
        this image (under another model id) is reused. Records an ``enrol`` event.
        Returns True if something was stored.
        """
        encoding = NewEncoding(model_id, embedding, image_sha256, photo, photo_ext, quality)
        (stored,) = self.add_encodings(name, [encoding], replace=replace)
        return stored

    @_translated
    def add_encodings(
        self, name: str, encodings: Sequence[NewEncoding], *, replace: bool = False
    ) -> list[bool]:
        """Store several encodings of ``name`` (one enrolment: every photo, every model) in one
        transaction, all or none, with one state record; see :meth:`add_encoding` for each.
        Returns, per encoding, whether it was stored.

        Photos are written (fsynced) to temporary files inside the transaction, renamed into
        place once it has committed, and deleted when it fails. The next :func:`open_store`
        for writing finishes what a process killed meanwhile left: it renames the temporary
        photos of committed rows and deletes the others (:func:`.encodings.finish_photos`)."""
        return _encodings.add_encodings(self, name, encodings, replace=replace)

    @_translated
    def gallery(self, model_id: str, *, include_inactive: bool = False) -> GalleryData:
        """All embeddings of ``model_id`` for matching, ordered by name; active people only
        unless ``include_inactive`` (then ``active`` tells which rows may be granted)."""
        return _encodings.gallery(self, model_id, include_inactive=include_inactive)

    @_translated
    def data_version(self) -> int:
        """A counter that changes whenever people or encodings change (one cheap query), so a
        worker in another process can notice and reload its gallery."""
        return _encodings.data_version(self._db)

    @_translated
    def list_photos(self, name: str | None = None) -> list[KeptPhoto]:
        """Kept enrolment photos (of one person, or everyone), one per source image, for
        re-encoding: encode each with the new model and ``add_encoding(..., photo=None)``."""
        return _encodings.list_photos(self, name)

    # Attempts (gatekeeper.store.attempts).

    def record_attempt(
        self,
        *,
        camera_id: str,
        name: str | None,
        person_id: int | None,
        distance: float | None,
        threshold: float,
        decision: str,
        model_id: str,
        box: Box | None,
        time: datetime | None = None,
        reason: str | None = None,
    ) -> int:
        """Record one attempt durably (committed with ``synchronous=FULL``) and chain it;
        returns its id. See ``NewAttempt`` for the fields."""
        attempt = NewAttempt(
            camera_id=camera_id,
            decision=decision,
            threshold=threshold,
            model_id=model_id,
            name=name,
            person_id=person_id,
            distance=distance,
            box=box,
            time=time,
            reason=reason,
        )
        return self._record([attempt])

    def record_attempts(self, attempts: Iterable[NewAttempt]) -> int:
        """Record many attempts in one transaction (imports, bulk loads, a retry queue);
        returns how many."""
        batch = list(attempts)
        if batch:
            self._record(batch)
        return len(batch)

    @_translated
    def _record(self, batch: list[NewAttempt]) -> int:
        """Write ``batch`` in one transaction; returns the last attempt's id (see
        :meth:`.attempts.AttemptLog.record`: a commit whose answer was lost is resolved on the
        next call)."""
        return self._attempts.record(batch)

    @_translated
    def query_attempts(
        self, filter: AttemptFilter, *, limit: int = 100, before_id: int | None = None
    ) -> list[AttemptRow]:
        """One page of attempts, newest first (by time, then id).

        Keyset pagination: pass the ``id`` of the last row of a page as ``before_id`` to get the
        next page; each page is an index range scan, fast at any depth.
        """
        return self._attempts.query(filter, limit, before_id)

    @_translated
    def count_attempts(self, filter: AttemptFilter) -> int:
        """How many attempts match ``filter``."""
        return self._attempts.count(filter)

    def iter_attempts(
        self, filter: AttemptFilter, *, chunk_size: int = 5000
    ) -> Iterator[AttemptRow]:
        """Every matching attempt, oldest first (by time, then id), streamed: see
        ``iter_attempt_values``."""
        for values in self.iter_attempt_values(filter, chunk_size=chunk_size):
            yield AttemptRow.from_db(values)

    def iter_attempt_values(
        self, filter: AttemptFilter, *, chunk_size: int = 5000
    ) -> Iterator[tuple[Any, ...]]:
        """Every matching attempt, oldest first, as plain tuples of stored values in
        ``ATTEMPT_FIELDS`` order (time as ISO-8601 UTC text, box as four int-or-None values):
        the fast path for exports. Fetched ``chunk_size`` rows at a time by keyset, so memory
        stays flat on millions of rows and no read transaction is held between chunks."""
        return self._attempts.values(filter, chunk_size)

    # Visitor crops (see ``gatekeeper.store.visitors``).

    @_translated
    def keep_visitor(
        self, attempt_id: int, crop: bytes, width: int, height: int, *, kept: datetime
    ) -> int:
        """Keep the JPEG face ``crop`` (``width`` × ``height`` pixels, captured at ``kept``) of an
        ``unknown``, ``spoof`` or ``denied`` attempt for review; returns the visitor id."""
        with self.change() as tx:
            return visitors.keep(tx.db, attempt_id, crop, width, height, kept)

    @_translated
    def list_visitors(self, *, limit: int = 100) -> list[visitors.VisitorRow]:
        """The most recent kept crops (without their JPEGs), newest attempt first."""
        check_page(limit)
        return visitors.newest(self._db, limit)

    @_translated
    def get_visitor(self, visitor_id: int) -> visitors.VisitorRow:
        """One kept crop with its JPEG; ``NotFoundError`` when there is none."""
        return visitors.get(self._db, visitor_id)

    @_translated
    def dismiss_visitor(self, visitor_id: int) -> visitors.VisitorRow:
        """Delete a kept crop (the operator has seen it): the row and its JPEG are gone, the
        attempt stays; records a ``visitor_dismiss`` event. Returns what was deleted."""
        with self.change() as tx:
            row = visitors.delete(tx.db, visitor_id)
            tx.log("visitor_dismiss", f"deleted the crop of {row.describe()}")
        return row

    @_translated
    def mark_visitor_enrolled(self, visitor_id: int, name: str) -> visitors.VisitorRow:
        """Mark a kept crop as enrolled as ``name`` (an enrolled person); records a
        ``visitor_enrol`` event."""
        name = validate_name(name)
        with self.change() as tx:
            people.require_person(tx.db, name)
            row = visitors.mark_enrolled(tx.db, visitor_id, name)
            tx.log("visitor_enrol", f"{row.describe()} enrolled as {name}")
        return row

    @_translated
    def expire_visitors(self, cutoff: datetime, why: str) -> int:
        """Delete every crop captured before ``cutoff``; when there were some, one
        ``visitor_expire`` event says how many, the cut-off and ``why`` (e.g. the retention).
        Returns how many were deleted."""
        with self.change() as tx:
            count = visitors.expire(tx.db, cutoff)
            if count:
                tx.log(
                    "visitor_expire",
                    f"deleted {count} visitor crop(s) captured before {to_db_time(cutoff)} ({why})",
                )
        return count

    # Settings and admin events.

    @_translated
    def get_threshold(self, default: float) -> float:
        """The site's L2 distance threshold, or ``default`` if none was set."""
        value = Setting.select(Setting.value).where(Setting.key == THRESHOLD_KEY).scalar(self._db)
        return default if value is None else float(value)

    @_translated
    def set_threshold(self, value: float) -> None:
        """Set the site threshold (an L2 distance, ``0 < value < 4``); records a ``threshold``
        event with the old and new values."""
        threshold = float(value)
        if not (math.isfinite(threshold) and MIN_THRESHOLD < threshold < MAX_THRESHOLD):
            raise UsageError(
                f"threshold must be between {MIN_THRESHOLD:g} and {MAX_THRESHOLD:g} "
                f"(exclusive), got {value}"
            )
        with self.change("settings") as tx:
            old = Setting.select(Setting.value).where(Setting.key == THRESHOLD_KEY).scalar(tx.db)
            Setting.insert(key=THRESHOLD_KEY, value=repr(threshold)).on_conflict(
                conflict_target=[Setting.key], update={Setting.value: EXCLUDED.value}
            ).execute(tx.db)
            old = "unset" if old is None else old
            tx.log("threshold", f"{old} -> {threshold!r}")

    @_translated
    def log_admin_event(self, kind: str, detail: str) -> None:
        """Record an administrative event (chained). ``kind`` is a lowercase word such as
        enrol, remove, import, export, threshold, activate, deactivate, reencode."""
        if not _KIND_RE.fullmatch(kind) or kind == state.STATE_KIND:
            raise ValueError(f"invalid admin event kind {kind!r}")
        with self.change() as tx:
            tx.log(kind, detail)

    @_translated
    def integrity_problems(self, limit: int = 10) -> list[str]:
        """What the backend's own consistency check finds wrong (at most ``limit`` lines);
        empty when it is sound. SQLite: ``PRAGMA integrity_check`` over the file (e.g. "row 3
        missing from index attempt_time"); PostgreSQL: the amcheck extension where it is
        installed, else nothing (see :meth:`integrity_check`). Reads every page: seconds on a
        large database."""
        return self._backend.integrity_problems(self._db, limit)

    @_translated
    def integrity_check(self) -> str:
        """What :meth:`integrity_problems` checks here, in a few words."""
        return self._backend.integrity_check(self._db)

    @_translated
    def server_version(self) -> str:
        """The database engine and its version, e.g. ``PostgreSQL 15.18``."""
        return self._backend.server_version(self._db)

    @_translated
    def verify_chain(
        self, *, workers: int | None = None, anchor: Sequence[audit.KeptHead] = ()
    ) -> audit.ChainReport:
        """Check the audit chain, the head signature when an audit key is set, the chain
        against the heads kept in an ``anchor``, and that the settings, people and gallery
        match the newest state record; see ``gatekeeper.store.audit``. Long chains are checked
        by several processes unless ``workers`` says how many (1: this process only)."""
        return audit.verify_chain(
            self._backend, self._db, self._key, workers=workers, anchor=anchor
        )

    @_translated
    def chain_head(self) -> audit.Head:
        """The chain head, with the time of its newest row, as one snapshot read it (for
        keeping elsewhere: ``gatekeeper audit head``, ``gatekeeper.anchor``). Its signature is
        not checked here."""
        with self._backend.snapshot(self._db):
            head = audit.current_head(self._db)
        if head is None:
            raise StoreError(
                "the audit chain head is missing (the log was tampered with); run verify"
            )
        return head

    @property
    def has_audit_key(self) -> bool:
        """Whether this store was opened with an audit key (signs and checks the head)."""
        return self._key is not None

    def head_problem(self, head: audit.Head) -> str | None:
        """Why ``head`` must not be trusted under this store's audit key, or None (always
        None without a key)."""
        return audit.head_problem(self._key, head.seq, head.hash, head.signature)

    def on_commit(self, listener: Callable[[int, int], None]) -> None:
        """Call ``listener(attempts, admin_events)`` after every write transaction that chained
        rows has committed, on the committing thread, with how many rows of each it chained
        (an audit anchor counts them). It must return quickly; an exception it raises is
        logged, never raised: the rows are committed."""
        self._writer.on_commit(listener)

    @_translated
    def state_problem(self) -> str | None:
        """Why the live state (threshold, people, active flags, gallery, schedules, access)
        must not be used for an access decision, or None when the audit chain vouches for it
        (``gatekeeper.store.audit.state_problem``)."""
        return audit.state_problem(self._backend, self._db, self._key)

    def state_token(self) -> object | None:
        """A value that stays equal while no other connection commits (SQLite), or None when
        the backend offers none (PostgreSQL): when to check :meth:`state_problem` again."""
        with self._backend.errors(self._db):
            return self._backend.state_token(self._db)

    @_translated
    def accept_state(self) -> list[str]:
        """Record the live state as it is, after it was changed outside Gatekeeper: an operator
        re-signs it (with the audit key on a keyed site). Chains a ``state_accept`` admin event
        naming the parts that differed, then the new state record, and bumps the gallery
        version so that every console reloads. Returns the parts that differed (none: nothing
        is written)."""
        return self._writer.accept_state()


def open_store(
    database: str,
    *,
    images_dir: Path,
    create: bool = True,
    busy_timeout_s: float = 5.0,
    audit_key: str | None = None,
    read_only: bool = False,
) -> Store:
    """Open the store: ``database`` is a path or URL (SQLite or PostgreSQL, see
    ``gatekeeper.store.backends``), ``images_dir`` the folder of kept photos, ``busy_timeout_s``
    how long (seconds) a write waits for another process's lock, ``audit_key`` the HMAC key
    signing the audit chain head.

    Creates the database when missing if ``create`` (a SQLite file and its folder; on
    PostgreSQL the schema in an empty database, which must exist), its chain head signed when
    there is a key; migrates an older schema; refuses a newer one, and an existing SQLite file
    with no tables. Raises ``StoreError`` with one line when it cannot. Every process that
    writes must use the same ``audit_key``: writes with another key, or none, are refused on a
    signed log (``verify_chain`` reports a bad signature).

    ``read_only`` opens a read-only connection (SQLite's ``mode=ro``; a PostgreSQL session with
    ``default_transaction_read_only``) and creates, migrates and repairs nothing: a missing,
    empty or older database is refused; every write fails.
    """
    if not (math.isfinite(busy_timeout_s) and busy_timeout_s >= 0):
        raise UsageError(f"busy timeout must be >= 0 seconds, got {busy_timeout_s}")
    backend = parse_database(database, busy_timeout_s=busy_timeout_s)
    key = audit_key.encode("utf-8") if audit_key else None
    db, found = open_database(
        backend,
        create=create and not read_only,
        read_only=read_only,
        audit_key=key,
        initialise=lambda new: record_initial_state(backend, new, key),
    )
    store = Store(
        db,
        backend=backend,
        url=database if backend.name == "sqlite" else backend.display,
        images_dir=Path(images_dir).absolute(),
        audit_key=audit_key,
        migrated_from=found if found < SCHEMA_VERSION else None,
        read_only=read_only,
    )
    if not read_only:
        store._writer.adopt_state()
        _encodings.finish_photos(store)
    return store
