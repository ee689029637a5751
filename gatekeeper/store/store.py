"""The ``Store``: people, face encodings, kept photos, the attempt log and admin events.

Open one with ``open_store``, on SQLite or PostgreSQL (``gatekeeper.store.backends``). Every
method is safe to call from several threads (each thread gets its own connection) and several
processes, on several hosts with PostgreSQL (a write takes the backend's write lock first,
waiting up to the busy timeout). Every database failure is raised as a one-line
``StoreError``; bad arguments a user can cause raise ``UsageError``. A connection the database
server closed is dropped, and the next call connects again.

Units: times are timezone-aware UTC ``datetime`` objects; distances and thresholds are L2
distances between 128-d embeddings; face boxes are ``(x, y, w, h)`` integer pixels; embeddings
are ``float32 (128,)`` numpy arrays. Embeddings are never logged.
"""

from __future__ import annotations

import functools
import getpass
import logging
import math
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
from peewee import EXCLUDED, SQL, Database, Expression, ModelSelect, Tuple, chunked, fn

from gatekeeper.errors import ALSO_RAISED, NotFoundError, StoreError, UsageError
from gatekeeper.schedule import Access
from gatekeeper.store import audit, schedules, state, visitors
from gatekeeper.store.backends import Backend, parse_database
from gatekeeper.store.database import PRIVATE_FILE_MODE, make_private_folders
from gatekeeper.store.models import (
    ATTEMPT_CHAINED,
    ATTEMPT_FIELDS,
    DECISIONS,
    EMBEDDING_DTYPE,
    EMBEDDING_SIZE,
    GALLERY_VERSION_KEY,
    SCHEMA_VERSION,
    THRESHOLD_KEY,
    Attempt,
    FaceEncoding,
    Person,
    Setting,
    from_db_time,
    to_db_time,
    utc_now,
)
from gatekeeper.store.names import name_key, photo_folder, validate_name, validate_new_name

#: Site thresholds must lie strictly between these L2 distances.
MIN_THRESHOLD = 0.0
MAX_THRESHOLD = 4.0

#: Largest page ``query_attempts`` returns, in rows.
MAX_PAGE = 10_000

log = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_PHOTO_EXT_RE = re.compile(r"\.[a-z0-9]{1,10}")
_KIND_RE = re.compile(r"[a-z][a-z0-9_]*")
#: The temporary file a kept photo is written to until its rows are committed
#: (``_write_temporary``); the group is the kept photo's name.
_TEMPORARY_PHOTO_RE = re.compile(r"\.([0-9a-f]{64}\.[a-z0-9]{1,10})\.tmp")

_ATTEMPT_COLUMNS = tuple(
    Attempt.person if name == "person_id" else getattr(Attempt, name) for name in ATTEMPT_FIELDS
)


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


Box = tuple[int, int, int, int]


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
class GalleryData:
    """The embeddings of one model id, one row per encoding.

    ``embeddings`` is ``float32 (M, 128)``; ``names``, ``person_ids``, ``active`` and
    ``low_quality`` (bool arrays ``(M,)``: the template's face was below the enrolment bar)
    describe each row; ``version`` is the ``data_version()`` this snapshot was read at.
    """

    names: list[str]
    person_ids: list[int]
    embeddings: np.ndarray = field(repr=False)  # biometric data: never in a log line
    active: np.ndarray
    version: int
    low_quality: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Each template's face width in pixels (NaN where not measured, before schema v3).
    face_px: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))


@dataclass(frozen=True)
class KeptPhoto:
    """A kept enrolment photo: whose, the SHA-256 of its source image, and its absolute path."""

    name: str
    image_sha256: str
    path: Path


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
        ``person_id``."""
        box = self.box if self.box is not None else (None, None, None, None)
        values = dict(
            time=now if self.time is None else to_db_time(self.time),
            camera_id=self.camera_id,
            person_name=self.name,
            distance=self.distance,
            threshold=self.threshold,
            decision=self.decision,
            model_id=self.model_id,
            box_x=box[0],
            box_y=box[1],
            box_w=box[2],
            box_h=box[3],
            reason=self.reason,
        )
        return (*(values[name] for name in ATTEMPT_CHAINED), self.person_id)


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
        box = tuple(values.pop(name) for name in ("box_x", "box_y", "box_w", "box_h"))
        values["time"] = from_db_time(values["time"])
        return cls(**values, box=None if box[0] is None else box)


def current_os_user() -> str:
    """The OS login name for admin events; falls back to the uid, never raises."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        uid = getattr(os, "getuid", None)
        return f"uid {uid()}" if uid is not None else "unknown"


def _admin_row(kind: str, detail: str) -> tuple[str, str, str, str]:
    """The chained values of an admin event recorded now by this OS user."""
    return (to_db_time(utc_now()), kind, current_os_user(), detail)


def _record_initial_state(backend: Backend, db: Database, key: bytes | None) -> None:
    """Chain the state record of a new database (inside its creation transaction), so that
    a site's state is always covered by a record, from the start."""
    detail = state.current(backend, db).record()
    audit.append_rows(db, "admin_event", [_admin_row(state.STATE_KIND, detail)], key)


def _attempts(conditions: list[Expression]) -> ModelSelect:
    """The attempts matching every condition, as ``ATTEMPT_FIELDS``."""
    query = Attempt.select(*_ATTEMPT_COLUMNS)
    return query.where(*conditions) if conditions else query


P = ParamSpec("P")
R = TypeVar("R")


def _translated(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Run a ``Store`` method with database errors translated into ``StoreError``."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._backend.errors(self._db):
            return method(self, *args, **kwargs)

    return wrapper


#: The ``face_encoding`` columns that hold a template's quality, in order.
QUALITY_COLUMNS = (
    "face_px",
    "sharpness",
    "pose",
    "detector_score",
    "live_score",
    "low_quality",
)


def _quality_values(quality: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The quality columns' values (all NULL without ``quality``); refuses unknown keys."""
    if quality is None:
        return (None,) * len(QUALITY_COLUMNS)
    unknown = set(quality) - set(QUALITY_COLUMNS)
    if unknown:
        raise ValueError(f"unknown quality keys: {', '.join(sorted(unknown))}")
    values = [quality.get(column) for column in QUALITY_COLUMNS]
    values[-1] = None if values[-1] is None else bool(values[-1])
    return tuple(values)


def _embedding_blob(embedding: Any) -> bytes:
    array = np.asarray(embedding, dtype=EMBEDDING_DTYPE)
    if array.shape != (EMBEDDING_SIZE,):
        raise ValueError(f"an embedding must have shape ({EMBEDDING_SIZE},), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("an embedding must be finite (no NaN or infinity)")
    return array.tobytes()


@dataclass(frozen=True)
class NewEncoding:
    """One template to store with :meth:`Store.add_encodings` (the fields are those of
    :meth:`Store.add_encoding`)."""

    model_id: str
    embedding: np.ndarray = field(repr=False)  # biometric data: never in a log line
    image_sha256: str
    photo: bytes | None = field(default=None, repr=False)
    photo_ext: str = ".jpg"
    quality: Mapping[str, Any] | None = None


def _checked_encoding(
    encoding: NewEncoding,
) -> tuple[str, bytes, str, bytes | None, str, tuple[Any, ...]]:
    """``encoding`` validated: model id, embedding blob, sha256, photo, its extension and
    the quality columns' values; raises ``ValueError`` for what only a caller's bug causes."""
    model_id = encoding.model_id
    if not model_id or model_id != model_id.strip():
        raise ValueError(f"invalid model id {model_id!r}")
    blob = _embedding_blob(encoding.embedding)
    sha = encoding.image_sha256.lower()
    if not _SHA256_RE.fullmatch(sha):
        raise ValueError(f"image_sha256 must be 64 hex digits, got {encoding.image_sha256!r}")
    ext = encoding.photo_ext.lower()
    if encoding.photo is not None and not _PHOTO_EXT_RE.fullmatch(ext):
        raise ValueError(f"invalid photo extension {encoding.photo_ext!r}")
    return model_id, blob, sha, encoding.photo, ext, _quality_values(encoding.quality)


def _write_temporary(path: Path, data: bytes) -> Path:
    """Write ``data`` durably (fsynced) to the temporary file of the photo kept at ``path``,
    ``.NAME.tmp`` beside it, and return that file. Folders made for it are
    ``PRIVATE_FOLDER_MODE``, the file ``PRIVATE_FILE_MODE``."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        make_private_folders(path.parent, [])
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        with open(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"cannot keep photo {path}: {exc.strerror}") from None
    return temporary


def _kept_photo(temporary: Path) -> Path:
    """The kept photo a temporary file of ``_write_temporary`` becomes."""
    return temporary.with_name(temporary.name[1 : -len(".tmp")])


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
        self._last_state = threading.local()
        self._committing = threading.local()
        self._locked_head = threading.local()
        self._chained = threading.local()
        self._commit_listeners: list[Callable[[int, int], None]] = []

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def dialect(self) -> Backend:
        """The backend's own operations (``gatekeeper.store.backends``), for store modules that
        need one, such as ``db copy``'s ``after_bulk_copy``."""
        return self._backend

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

    # Internal helpers (called inside a transaction).

    @contextmanager
    def _write(self) -> Iterator[None]:
        """A write transaction holding the backend's write lock from its start, so the chain
        head read inside cannot change before the commit. The head that taking the lock read
        (PostgreSQL) goes to the transaction's first append, which then need not read it."""
        try:
            with self._backend.write_transaction(self._db) as head:
                self._locked_head.value = head
                try:
                    yield
                finally:
                    self._locked_head.value = None
        except BaseException:
            if not self._db.transaction_depth():
                self._chained.value = None
            raise
        if not self._db.transaction_depth():
            self._announce_commit()

    def _announce_commit(self) -> None:
        """Tell the commit listeners how many rows of each table the transaction that just
        committed chained (nothing when it chained none)."""
        chained, self._chained.value = getattr(self._chained, "value", None), None
        if not chained:
            return
        for listener in self._commit_listeners:
            try:
                listener(chained.get("attempt", 0), chained.get("admin_event", 0))
            except Exception:
                log.exception("a commit listener of %s failed", self.location)

    def _rows(self, query: Any) -> list[tuple[Any, ...]]:
        """Every row of a query, as tuples of stored values."""
        return self._db.execute(query).fetchall()

    def _one(self, query: Any) -> tuple[Any, ...] | None:
        """The first row of a query as stored values, or None."""
        return self._db.execute(query).fetchone()

    def _log(self, kind: str, detail: str) -> None:
        self._append("admin_event", [_admin_row(kind, detail)])

    def _append(
        self, table: str, rows: list[tuple[Any, ...]], unchained: tuple[str, ...] = ()
    ) -> tuple[int, int, str]:
        """Chain ``rows`` (see ``audit.append_rows``): the last row's id, and the new head's
        sequence number and hash."""
        head, self._locked_head.value = getattr(self._locked_head, "value", None), None
        chained = getattr(self._chained, "value", None) or {}
        chained[table] = chained.get(table, 0) + len(rows)
        self._chained.value = chained
        try:
            return audit.append_rows(
                self._db,
                table,
                rows,
                self._key,
                unchained,
                head,
                combine=self._backend.combined_append,
            )
        except audit.ChainHeadMissing:
            raise StoreError(
                "the audit chain head is missing (the log was tampered with); run verify"
            ) from None
        except audit.UntrustedHead as exc:
            log.error(
                "refused to write %d %s row(s) to %s: %s",
                len(rows),
                table,
                self.location,
                exc,
                extra=ALSO_RAISED,
            )
            raise StoreError(
                f"refusing to extend the audit log: {exc}; nothing was written "
                "(run 'gatekeeper audit verify')"
            ) from None

    def _adopt_state(self) -> None:
        """Record the state of a database from before state records (every database made
        since has one from its creation): trust on first use, once. A refusal (a log this
        store cannot extend) is logged, not raised: reading must still work."""
        with self._backend.errors(self._db):
            if state.recorded(self._db) is not None:
                return
            try:
                with self._write_state(*state.PARTS):
                    pass
            except StoreError as exc:
                log.warning(
                    "cannot record the state of %s in the audit log: %s", self.location, exc
                )

    def _finish_photos(self) -> None:
        """Finish the photos of enrolments a killed process left half-done: a temporary photo
        whose rows were committed is renamed into place, one whose rows were not is deleted.
        Photos are written only inside write transactions, so once this holds the write lock
        no enrolment of this database is under way. Best effort: a failure is logged."""
        try:
            if not self._temporary_photos():
                return
            with self._backend.errors(self._db), self._write():
                named = {
                    row[0]
                    for row in self._rows(
                        FaceEncoding.select(FaceEncoding.photo_path)
                        .distinct()
                        .where(FaceEncoding.photo_path.is_null(False))
                    )
                }
                for temporary in self._temporary_photos():
                    kept = _kept_photo(temporary)
                    if f"{kept.parent.name}/{kept.name}" in named:
                        os.replace(temporary, kept)
                        log.warning("kept %s, written by an enrolment that was stopped", kept)
                    else:
                        temporary.unlink(missing_ok=True)
                        log.warning("deleted %s, left by an enrolment that was stopped", temporary)
        except (OSError, StoreError) as exc:
            log.warning("cannot finish stopped enrolments in %s: %s", self.images_dir, exc)

    def _temporary_photos(self) -> list[Path]:
        if not self.images_dir.is_dir():
            return []
        return [
            path
            for folder in self.images_dir.iterdir()
            if folder.is_dir()
            for path in folder.iterdir()
            if _TEMPORARY_PHOTO_RE.fullmatch(path.name)
        ]

    @contextmanager
    def _write_state(self, *parts: str) -> Iterator[None]:
        """A write transaction that may change these ``parts`` of the state (see
        ``gatekeeper.store.state``): first checks that the state still matches the newest state
        record (a change made behind the store's back must not be blessed by this one), then
        records the new state if it changed.

        On SQLite the state this thread's connection last recorded is reused while no other
        connection has committed since (``Backend.state_token``: SQLite's ``data_version``), so
        a run of changes (an import) does not read the gallery twice per change; PostgreSQL
        offers no such token, and the state is read before each change. A database without
        any state record (from before they existed) is trusted as it is and recorded by its
        first change."""
        with self._write():
            token = self._backend.state_token(self._db)
            cached = getattr(self._last_state, "value", None)
            if token is not None and cached is not None and cached[0] == token:
                before = cached[1]
            else:
                before = state.current(self._backend, self._db)
            record = state.recorded(self._db)
            changed = state.differences(before, record) if record is not None else []
            if changed:
                log.error(
                    "refused a change to %s: the %s differ from the state record",
                    self.location,
                    ", ".join(changed),
                    extra=ALSO_RAISED,
                )
                raise StoreError(
                    f"the {', '.join(changed)} were changed outside Gatekeeper (they differ "
                    "from the audit log's state record); nothing was written "
                    "(run 'gatekeeper audit verify')"
                )
            yield
            after = state.current(self._backend, self._db, parts, unchanged=before)
            if after.digests != (state.EMPTY_DIGESTS if record is None else record.digests):
                self._log(state.STATE_KIND, after.record())
        self._last_state.value = (token, after)

    def _bump_gallery(self) -> None:
        bumped = (Setting.value.cast("INTEGER") + 1).cast("TEXT")
        Setting.update(value=bumped).where(Setting.key == GALLERY_VERSION_KEY).execute(self._db)

    def _person_id(self, name: str) -> int | None:
        return Person.select(Person.id).where(Person.name == name).scalar(self._db)

    def _require_person(self, name: str) -> int:
        person_id = self._person_id(name)
        if person_id is None:
            raise NotFoundError(f"no such person: {name}")
        return person_id

    @_translated
    def check_name(self, name: str) -> str:
        """``name`` validated, if it names an enrolled person or may name a new one; raises
        ``UsageError`` when a new person may not be called so (see :meth:`_insert_person`).
        Lets a caller refuse a name before expensive work; the insert checks again."""
        name = validate_name(name)
        if self._person_id(name) is None:
            self._check_new_name(name)
        return name

    def _check_new_name(self, name: str) -> None:
        validate_new_name(name)
        key = name_key(name)
        for (other,) in self._rows(Person.select(Person.name)):
            if name_key(other) == key:
                raise UsageError(
                    f"{name!r} is already enrolled as {other!r} (names are compared ignoring "
                    f"case and compatibility forms); use {other!r} to add photos"
                )

    def _insert_person(self, name: str, display_name: str | None) -> int:
        """Create a person (inside a write transaction). The name must be a valid *new* name
        and must not look like an enrolled one: names are unique by :func:`name_key`."""
        self._check_new_name(name)
        display = (display_name or "").strip() or name
        person_id = Person.insert(
            name=name, display_name=display, created=utc_now(), active=True
        ).execute(self._db)
        self._bump_gallery()
        self._log("enrol", f"added person {name}")
        return person_id

    # People.

    @_translated
    def add_person(self, name: str, display_name: str | None = None) -> PersonInfo:
        """Add an active person (``display_name`` defaults to the name); records an ``enrol``
        event. Raises ``UsageError`` if the name is invalid or already taken."""
        name = validate_name(name)
        with self._write_state("people"):
            if self._person_id(name) is not None:
                raise UsageError(f"person already exists: {name}")
            self._insert_person(name, display_name)
        return self._get_person(name)

    @_translated
    def get_person(self, name: str) -> PersonInfo | None:
        """The person called ``name`` (validated), or None."""
        name = validate_name(name)
        return self._get_person(name) if self._person_id(name) is not None else None

    def _get_person(self, name: str) -> PersonInfo:
        return self._people(_people_query().where(Person.name == name))[0]

    @_translated
    def list_people(self) -> list[PersonInfo]:
        """Everyone, active or not, ordered by name (by code point)."""
        return self._people(_people_query().order_by(Person.name))

    def _people(self, query: ModelSelect) -> list[PersonInfo]:
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
            for row in self._rows(query)
        ]

    @_translated
    def set_active(self, name: str, active: bool) -> None:
        """(De)activate a person: inactive people stay enrolled but leave the gallery. Records
        an ``activate``/``deactivate`` event when the state changes."""
        name = validate_name(name)
        with self._write_state("people"):
            person_id = self._require_person(name)
            changed = (
                Person.update(active=active)
                .where((Person.id == person_id) & (Person.active != active))
                .execute(self._db)
            )
            if changed:
                self._bump_gallery()
                self._log("activate" if active else "deactivate", name)

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
        name = validate_name(name)
        with self._write_state("people", "encodings", "access"):
            person_id = self._require_person(name)
            photos = [
                row[0]
                for row in self._rows(
                    FaceEncoding.select(FaceEncoding.photo_path)
                    .distinct()
                    .where(
                        (FaceEncoding.person == person_id) & FaceEncoding.photo_path.is_null(False)
                    )
                )
            ]
            encodings = (
                FaceEncoding.delete().where(FaceEncoding.person == person_id).execute(self._db)
            )
            crops = visitors.erase_person(self._db, person_id, name)
            attempts = (
                Attempt.select(fn.COUNT(SQL("*")))
                .where(Attempt.person == person_id)
                .scalar(self._db)
            )
            Person.delete().where(Person.id == person_id).execute(self._db)
            self._bump_gallery()
            self._log(
                "remove",
                f"{name}: erased {encodings} encodings, {len(photos)} photos and {crops} "
                f"visitor crops; {attempts} attempts kept",
            )
        deleted, leftovers = self._erase_photos(name, photos)
        return RemovalReport(name, encodings, deleted, attempts, leftovers, crops)

    def _erase_photos(self, name: str, photos: list[str]) -> tuple[int, tuple[Path, ...]]:
        """Delete the person's photo folder (stray files included); returns how many of their
        kept photos are gone and what could not be deleted."""
        existing = [self.images_dir / relative for relative in photos]
        existing = [path for path in existing if path.exists()]
        folder = self.images_dir / photo_folder(name)
        shutil.rmtree(folder, ignore_errors=True)
        leftovers = (folder, *folder.rglob("*")) if folder.exists() else ()
        return sum(not path.exists() for path in existing), leftovers

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

    # Encodings and photos.

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

        ``quality`` holds the face's measured quality, keys :data:`QUALITY_COLUMNS`
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
        photos of committed rows and deletes the others (:meth:`_finish_photos`)."""
        name = validate_name(name)
        checked = [_checked_encoding(encoding) for encoding in encodings]
        temporaries: list[Path] = []
        try:
            with self._write_state("people", "encodings"):
                stored = [
                    self._add_encoding(name, *values, replace, temporaries) for values in checked
                ]
        except BaseException:
            for temporary in temporaries:
                temporary.unlink(missing_ok=True)
            raise
        for temporary in temporaries:
            try:
                os.replace(temporary, _kept_photo(temporary))
            except OSError as exc:
                log.warning("%s is put in place when the store is next opened: %s", temporary, exc)
        return stored

    def _add_encoding(
        self,
        name: str,
        model_id: str,
        blob: bytes,
        sha: str,
        photo: bytes | None,
        ext: str,
        quality: tuple[Any, ...],
        replace: bool,
        temporaries: list[Path],
    ) -> bool:
        photo_path = f"{photo_folder(name)}/{sha}{ext}"
        person_id = self._person_id(name)
        if person_id is None:
            person_id = self._insert_person(name, None)
        existing = (
            FaceEncoding.select(FaceEncoding.id)
            .where(
                (FaceEncoding.person == person_id)
                & (FaceEncoding.model_id == model_id)
                & (FaceEncoding.image_sha256 == sha)
            )
            .scalar(self._db)
        )
        if existing is not None and not replace:
            return False
        kept = (
            FaceEncoding.select(FaceEncoding.photo_path)
            .where(
                (FaceEncoding.person == person_id)
                & (FaceEncoding.image_sha256 == sha)
                & FaceEncoding.photo_path.is_null(False)
            )
            .scalar(self._db)
        )
        if kept is not None:
            stored_path: str | None = kept
        elif photo is not None:
            target = self.images_dir / photo_path
            if not target.exists():
                temporaries.append(_write_temporary(target, photo))
            stored_path = photo_path
        else:
            stored_path = None
        qualities = dict(zip(QUALITY_COLUMNS, quality, strict=True))
        if existing is not None:
            FaceEncoding.update(embedding=blob, photo_path=stored_path, **qualities).where(
                FaceEncoding.id == existing
            ).execute(self._db)
            detail = f"{name}: re-encoded image {sha[:12]} ({model_id})"
        else:
            FaceEncoding.insert(
                person=person_id,
                model_id=model_id,
                embedding=blob,
                image_sha256=sha,
                photo_path=stored_path,
                created=utc_now(),
                **qualities,
            ).execute(self._db)
            detail = f"{name}: added encoding of image {sha[:12]} ({model_id})"
        self._bump_gallery()
        self._log("enrol", detail)
        return True

    @_translated
    def gallery(self, model_id: str, *, include_inactive: bool = False) -> GalleryData:
        """All embeddings of ``model_id`` for matching, ordered by name; active people only
        unless ``include_inactive`` (then ``active`` tells which rows may be granted)."""
        query = (
            FaceEncoding.select(
                Person.name,
                Person.id,
                Person.active,
                FaceEncoding.embedding,
                FaceEncoding.low_quality,
                FaceEncoding.face_px,
            )
            .join(Person, on=FaceEncoding.person == Person.id)
            .where(FaceEncoding.model_id == model_id)
            .order_by(Person.name, FaceEncoding.id)
        )
        if not include_inactive:
            query = query.where(Person.active)
        with self._backend.snapshot(self._db):
            version = self._data_version()
            rows = list(self._backend.stream(self._db, query, 5000))
        embeddings = (
            np.frombuffer(b"".join(row[3] for row in rows), dtype=EMBEDDING_DTYPE)
            .reshape(-1, EMBEDDING_SIZE)
            .astype(np.float32)
        )
        return GalleryData(
            names=[row[0] for row in rows],
            person_ids=[row[1] for row in rows],
            embeddings=embeddings,
            active=np.array([bool(row[2]) for row in rows], dtype=bool),
            version=version,
            low_quality=np.array([bool(row[4]) for row in rows], dtype=bool),
            face_px=np.array([np.nan if row[5] is None else row[5] for row in rows], dtype=float),
        )

    @_translated
    def data_version(self) -> int:
        """A counter that changes whenever people or encodings change (one cheap query), so a
        worker in another process can notice and reload its gallery."""
        return self._data_version()

    def _data_version(self) -> int:
        return int(
            Setting.select(Setting.value).where(Setting.key == GALLERY_VERSION_KEY).scalar(self._db)
        )

    @_translated
    def list_photos(self, name: str | None = None) -> list[KeptPhoto]:
        """Kept enrolment photos (of one person, or everyone), one per source image, for
        re-encoding: encode each with the new model and ``add_encoding(..., photo=None)``."""
        query = (
            FaceEncoding.select(Person.name, FaceEncoding.image_sha256, FaceEncoding.photo_path)
            .distinct()
            .join(Person, on=FaceEncoding.person == Person.id)
            .where(FaceEncoding.photo_path.is_null(False))
            .order_by(Person.name, FaceEncoding.photo_path)
        )
        if name is not None:
            query = query.where(Person.name == validate_name(name))
        rows = self._rows(query)
        return [KeptPhoto(row[0], row[1], self.images_dir / row[2]) for row in rows]

    # Attempts.

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
        """Write ``batch`` in one transaction; returns the last attempt's id.

        When the connection is lost during the commit, whether it happened is unknown: the
        batch is remembered, and the next call (a retry, the same attempts first) first looks
        for its last row in the chain, and writes only what the lost commit did not."""
        batch, written = self._resolve_unknown_commit(batch)
        if not batch:
            return written
        now = to_db_time(utc_now())
        with self._write():
            wanted = {a.person_id for a in batch if a.person_id is not None}
            present: set[int] = set()
            for ids in chunked(sorted(wanted), 500):
                present.update(
                    row[0] for row in self._rows(Person.select(Person.id).where(Person.id.in_(ids)))
                )
            rows = []
            for attempt in batch:
                row = attempt.chain_row(now)
                if attempt.person_id is not None and attempt.person_id not in present:
                    row = (*row[:-1], None)
                rows.append(row)
            last_id, seq, head_hash = self._append("attempt", rows, unchained=("person_id",))
            self._committing.value = (tuple(batch), seq, head_hash, last_id)
        self._committing.value = None
        return last_id

    def _resolve_unknown_commit(self, batch: list[NewAttempt]) -> tuple[list[NewAttempt], int]:
        """``batch`` without the attempts a commit of unknown outcome (see ``_record``) did
        write, and the id of the last of those (0 if none)."""
        committing = getattr(self._committing, "value", None)
        if committing is None:
            return batch, 0
        earlier, seq, head_hash, last_id = committing
        found = self._one(
            Attempt.select(Attempt.id).where((Attempt.seq == seq) & (Attempt.row_hash == head_hash))
        )
        self._committing.value = None
        if found is None or tuple(batch[: len(earlier)]) != earlier:
            return batch, 0
        log.warning("%d attempt(s) were committed before the connection was lost", len(earlier))
        return batch[len(earlier) :], last_id

    @_translated
    def query_attempts(
        self, filter: AttemptFilter, *, limit: int = 100, before_id: int | None = None
    ) -> list[AttemptRow]:
        """One page of attempts, newest first (by time, then id).

        Keyset pagination: pass the ``id`` of the last row of a page as ``before_id`` to get the
        next page; each page is an index range scan, fast at any depth.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise UsageError(f"page size must be between 1 and {MAX_PAGE}, got {limit}")
        conditions = self._conditions(filter)
        if before_id is not None:
            row = self._one(Attempt.select(Attempt.time).where(Attempt.id == before_id))
            if row is None:
                raise UsageError(f"no attempt with id {before_id}")
            conditions.append(Tuple(Attempt.time, Attempt.id) < Tuple(row[0], before_id))
        query = _attempts(conditions).order_by(Attempt.time.desc(), Attempt.id.desc())
        return [AttemptRow.from_db(row) for row in self._rows(query.limit(limit))]

    def _conditions(self, filter: AttemptFilter) -> list[Expression]:
        return filter.where(self._logged_names)

    def _logged_names(self) -> list[str]:
        """Every distinct person name in the attempt log."""
        query = Attempt.select(Attempt.person_name).distinct()
        return [row[0] for row in self._rows(query.where(Attempt.person_name.is_null(False)))]

    @_translated
    def count_attempts(self, filter: AttemptFilter) -> int:
        """How many attempts match ``filter``."""
        query = Attempt.select(fn.COUNT(SQL("*")))
        conditions = self._conditions(filter)
        if conditions:
            query = query.where(*conditions)
        return query.scalar(self._db)

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
        with self._backend.errors(self._db):
            conditions = self._conditions(filter)
        after: list[Expression] = []
        while True:
            query = _attempts([*conditions, *after]).order_by(Attempt.time, Attempt.id)
            with self._backend.errors(self._db):
                rows = self._rows(query.limit(chunk_size))
            yield from rows
            if len(rows) < chunk_size:
                return
            after = [Tuple(Attempt.time, Attempt.id) > Tuple(rows[-1][2], rows[-1][0])]

    # Visitor crops (see ``gatekeeper.store.visitors``).

    @_translated
    def keep_visitor(
        self, attempt_id: int, crop: bytes, width: int, height: int, *, kept: datetime
    ) -> int:
        """Keep the JPEG face ``crop`` (``width`` × ``height`` pixels, captured at ``kept``) of an
        ``unknown``, ``spoof`` or ``denied`` attempt for review; returns the visitor id."""
        with self._write():
            return visitors.keep(self._db, attempt_id, crop, width, height, kept)

    @_translated
    def list_visitors(self, *, limit: int = 100) -> list[visitors.VisitorRow]:
        """The most recent kept crops (without their JPEGs), newest attempt first."""
        if not 1 <= limit <= MAX_PAGE:
            raise UsageError(f"page size must be between 1 and {MAX_PAGE}, got {limit}")
        return visitors.newest(self._db, limit)

    @_translated
    def get_visitor(self, visitor_id: int) -> visitors.VisitorRow:
        """One kept crop with its JPEG; ``NotFoundError`` when there is none."""
        return visitors.get(self._db, visitor_id)

    @_translated
    def dismiss_visitor(self, visitor_id: int) -> visitors.VisitorRow:
        """Delete a kept crop (the operator has seen it): the row and its JPEG are gone, the
        attempt stays; records a ``visitor_dismiss`` event. Returns what was deleted."""
        with self._write():
            row = visitors.delete(self._db, visitor_id)
            self._log("visitor_dismiss", f"deleted the crop of {row.describe()}")
        return row

    @_translated
    def mark_visitor_enrolled(self, visitor_id: int, name: str) -> visitors.VisitorRow:
        """Mark a kept crop as enrolled as ``name`` (an enrolled person); records a
        ``visitor_enrol`` event."""
        name = validate_name(name)
        with self._write():
            self._require_person(name)
            row = visitors.mark_enrolled(self._db, visitor_id, name)
            self._log("visitor_enrol", f"{row.describe()} enrolled as {name}")
        return row

    @_translated
    def expire_visitors(self, cutoff: datetime, why: str) -> int:
        """Delete every crop captured before ``cutoff``; when there were some, one
        ``visitor_expire`` event says how many, the cut-off and ``why`` (e.g. the retention).
        Returns how many were deleted."""
        with self._write():
            count = visitors.expire(self._db, cutoff)
            if count:
                self._log(
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
        with self._write_state("settings"):
            old = Setting.select(Setting.value).where(Setting.key == THRESHOLD_KEY).scalar(self._db)
            Setting.insert(key=THRESHOLD_KEY, value=repr(threshold)).on_conflict(
                conflict_target=[Setting.key], update={Setting.value: EXCLUDED.value}
            ).execute(self._db)
            old = "unset" if old is None else old
            self._log("threshold", f"{old} -> {threshold!r}")

    @_translated
    def log_admin_event(self, kind: str, detail: str) -> None:
        """Record an administrative event (chained). ``kind`` is a lowercase word such as
        enrol, remove, import, export, threshold, activate, deactivate, reencode."""
        if not _KIND_RE.fullmatch(kind) or kind == state.STATE_KIND:
            raise ValueError(f"invalid admin event kind {kind!r}")
        with self._write():
            self._log(kind, detail)

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
        self._commit_listeners.append(listener)

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
        with self._write():
            now = state.current(self._backend, self._db)
            changed = state.differences(now, state.recorded(self._db))
            if changed:
                self._log("state_accept", "accepted the changed " + ", ".join(changed))
                self._bump_gallery()
                self._log(state.STATE_KIND, state.current(self._backend, self._db).record())
        self._last_state.value = None
        return changed


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
    db, found = backend.open(
        create=create and not read_only,
        read_only=read_only,
        audit_key=key,
        initialise=lambda new: _record_initial_state(backend, new, key),
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
        store._adopt_state()
        store._finish_photos()
    return store
