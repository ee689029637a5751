"""What every database backend provides (:class:`Backend`), and the helpers they share.

A backend is the dialect of one database location: the operations the store, the audit chain
(``gatekeeper.store.audit``) and the state records (``gatekeeper.store.state``) need beyond
peewee's query builder, and the steps of opening it that differ between engines. The opening
itself, the same for every backend, is ``gatekeeper.store.database.open_database``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from peewee import Database, Model, Query

from gatekeeper.errors import StoreError

#: URL schemes of each backend.
SQLITE_SCHEMES = frozenset({"sqlite"})
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})

#: What replaces a password in everything shown.
MASK = "***"


@dataclass
class Location:
    """What :meth:`Backend.locate` found: whether an empty database there may get the schema
    (``create``), and what :meth:`Backend.make` made for it (folders, files), outermost first."""

    create: bool
    made: list[Path] = field(default_factory=list)


class Backend(abc.ABC):
    """One database location and how to talk to it (see the module docstring).

    Instances are small and picklable: the audit chain's verifying worker processes receive
    the store's backend and open their own connections with it.
    """

    #: ``sqlite`` or ``postgresql``.
    name: ClassVar[str]
    #: Whether one statement may insert a row and move the chain head (a data-modifying
    #: ``WITH``): one round trip less under the write lock, where a round trip costs one.
    combined_append: ClassVar[bool] = False
    #: The location as shown in messages: the file path, or the URL with its password masked.
    display: str
    #: How long (seconds) a write waits for another writer's lock before giving up.
    busy_timeout_s: float

    @abc.abstractmethod
    def connect(self) -> Database:
        """A new, unopened database for this location, to read and write (no schema check:
        ``database.open_database`` is how the store opens one)."""

    @abc.abstractmethod
    def connect_reader(self) -> Database:
        """A new, unopened read-only database for this location (verifying workers)."""

    # The steps of opening, in the order ``database.open_database`` takes them.

    @abc.abstractmethod
    def locate(self, *, create: bool, read_only: bool) -> Location:
        """Check the location before connecting (``StoreError``/``UsageError`` for one that
        cannot be opened so); says whether an empty database there may get the schema."""

    @abc.abstractmethod
    def make(self, location: Location) -> None:
        """Make what a new database needs before connecting to it for writing, recording what
        was made in ``location.made`` (SQLite: the file and its folders); then check it may be
        written."""

    @abc.abstractmethod
    def check_connection(self, db: Database) -> None:
        """Refuse a connected database Gatekeeper cannot use (PostgreSQL: not UTF8)."""

    @abc.abstractmethod
    def empty_message(self) -> str:
        """The refusal of a database with no tables that is not to get the schema."""

    def abandon(self, db: Database, location: Location) -> None:
        """Undo an opening that failed: close ``db`` (and, on SQLite, delete a database file
        made for it, with the folders made)."""
        db.close()

    @abc.abstractmethod
    def schema_transaction(self, db: Database) -> AbstractContextManager[Any]:
        """The transaction that creates or migrates the schema, exclusive among processes."""

    @abc.abstractmethod
    def write_transaction(self, db: Database) -> AbstractContextManager[Any]:
        """A write transaction that holds, from its start, the lock serialising every writer
        of this database: the chain head read inside cannot change before the commit. It
        yields the chain head ``(seq, hash, signature)`` where taking the lock read it (saving
        the append a round trip to the server), else None."""

    @abc.abstractmethod
    def snapshot(self, db: Database, exported: str | None = None) -> AbstractContextManager[Any]:
        """A read transaction whose statements all see one snapshot of the database (the one
        ``exported`` by another connection's :meth:`export_snapshot`, if given)."""

    def export_snapshot(self, db: Database) -> str | None:
        """An id other connections can read this transaction's snapshot under, or None when
        the backend cannot share one (then they take their own)."""
        return None

    @abc.abstractmethod
    def stream(self, db: Database, query: Query, chunk: int) -> Iterator[tuple[Any, ...]]:
        """The rows of ``query`` as tuples of stored values, fetched ``chunk`` at a time so that
        memory stays flat; call inside a transaction."""

    def state_token(self, db: Database) -> object | None:
        """A value that stays equal while no other connection commits to the database, or None
        when the backend offers none (the state is then re-read before every change)."""
        return None

    @abc.abstractmethod
    def integrity_problems(self, db: Database, limit: int) -> list[str]:
        """What the backend's own consistency check finds wrong (at most ``limit`` lines)."""

    @abc.abstractmethod
    def integrity_check(self, db: Database) -> str:
        """What :meth:`integrity_problems` checks on this database, in a few words."""

    @abc.abstractmethod
    def replace_check(self, db: Database, table: str, old: str, new: str) -> None:
        """Replace ``table``'s CHECK constraint ``old`` by ``new`` (SQL expressions) in a
        migration, keeping every row (ids included) as it is."""

    @abc.abstractmethod
    def emptiness_problem(self) -> str | None:
        """Why this location cannot receive a copy of a site (``db copy``): a SQLite file that
        exists, a PostgreSQL database that has tables; None when it can."""

    @abc.abstractmethod
    def discard(self, db: Database) -> None:
        """Undo a ``db copy`` that failed: leave the location as :meth:`emptiness_problem`
        wants it (the SQLite file deleted, the PostgreSQL tables dropped)."""

    @abc.abstractmethod
    def after_bulk_copy(self, db: Database, models: Iterable[type[Model]]) -> None:
        """Make the database ready for ordinary inserts after rows were copied into the tables
        of ``models`` with their ids (``db copy``)."""

    @abc.abstractmethod
    def server_version(self, db: Database) -> str:
        """The engine and its version, e.g. ``SQLite 3.40.1`` or ``PostgreSQL 15.18``."""

    @abc.abstractmethod
    def error(self, exc: BaseException) -> StoreError:
        """The one-line ``StoreError`` for a database failure."""

    @property
    @abc.abstractmethod
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The exception types :meth:`errors` translates."""

    @abc.abstractmethod
    def drop_dead_connection(self, db: Database) -> None:
        """Close this thread's connection if it is known to be unusable (the server went away
        while it was idle), so that the next statement opens a new one."""

    @abc.abstractmethod
    def after_error(self, db: Database, exc: BaseException) -> None:
        """Called with each translated failure; drops a connection the failure broke."""

    @contextmanager
    def errors(self, db: Database) -> Iterator[None]:
        """Run the block on a live connection, turning database failures into one-line
        ``StoreError``s; a connection the failure broke is dropped and the next call opens a
        new one."""
        self.drop_dead_connection(db)
        try:
            yield
        except self.driver_errors as exc:
            self.after_error(db, exc)
            raise self.error(exc) from exc


def original_error(exc: BaseException) -> BaseException:
    """The driver's exception behind a peewee one (peewee re-raises driver errors as its own
    classes, with the original as first argument or as the exception being handled)."""
    if exc.args and isinstance(exc.args[0], BaseException):
        return exc.args[0]
    if type(exc).__module__ == "peewee" and exc.__context__ is not None:
        return exc.__context__
    return exc


def mask_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password`` parameter) replaced by
    :data:`MASK`; the rest as given."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = f"{user.split(':', 1)[0]}:{MASK}"
        netloc = f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key == "password" for key, _ in pairs):
            query = urlencode(
                [(key, MASK if key == "password" else value) for key, value in pairs], safe="*/"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scheme_of(database: str) -> str | None:
    """The lower-case URL scheme of ``--db``, or None for a plain path."""
    if "://" not in database:
        return None
    return database.split("://", 1)[0].lower()
