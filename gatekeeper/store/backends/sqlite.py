"""The SQLite backend: one database file, the embedded default.

Connections use WAL, ``synchronous=FULL`` (a committed audit row survives a power cut), foreign
keys, and a busy timeout: a writer waits that long for another process's write lock before
giving up with "database is locked by another process". A write transaction is
``BEGIN IMMEDIATE``: SQLite's one write lock serialises every appender of the chain. Waiting for
that lock is done here, not by SQLite's busy handler, which backs off to one try per 100 ms: a
process committing in a tight loop (a console recording, a large import) frees the lock for
microseconds between its transactions, and a waiter trying ten times a second missed every gap
for seconds (measured: waits of up to 2 s beside an 800-commits/s writer on an idle machine,
5 s time-outs under load). Trying every millisecond or two finds a gap within milliseconds.

A read-only open (``read_only=True``, for commands that only look: ``log``, ``export``,
``people``, ``audit verify``, ``doctor``) connects with SQLite's ``mode=ro``: it never creates,
migrates or repairs anything, and refuses a missing, empty or older database. A write-protected
file (no write bit, e.g. an evidence copy) with no ``-wal`` file beside it is opened
``immutable``, so SQLite does not even create its ``-shm`` file next to it.

What Gatekeeper creates (the database, its folders) is made private (see
``gatekeeper.store.files.PRIVATE_FILE_MODE``); a database created by an open that then fails
is deleted again with the folders made for it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import peewee
from peewee import Database, Model, Query, SqliteDatabase
from playhouse import db_url

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.store.backends.base import Backend, Location, scheme_of
from gatekeeper.store.files import PRIVATE_FILE_MODE, make_private_folders

_SQLITE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal")

#: What rolling back says when SQLite has already rolled the transaction back itself (it does
#: on a full disk): the error that made it do so is the one to report.
_ALREADY_ROLLED_BACK = "no transaction is active"

#: How long a writer sleeps between tries for the write lock (a random span, so that two
#: waiters do not try in step).
_LOCK_RETRY_S = (0.0005, 0.002)


def parse_location(database: str) -> Path:
    """The SQLite file named by ``--db`` (a path or ``sqlite:///`` URL), ``~`` expanded.

    URL options and in-memory databases (the audit log must be durable) raise ``UsageError``,
    as does a PostgreSQL URL (it names no file).
    """
    scheme = scheme_of(database)
    if scheme is not None:
        if scheme != "sqlite":
            raise UsageError(f"{scheme}:// names a database server, not a SQLite file")
        options = db_url.parse(database)
        raw = options.pop("database")
        if options:
            raise UsageError(f"database URL options are not supported: {', '.join(options)}")
    else:
        raw = database
    if raw in ("", ":memory:"):
        raise UsageError("in-memory databases are not supported: the audit log must be durable")
    return Path(raw).expanduser()


def _cause(exc: BaseException) -> BaseException:
    """The error to report: the original failure, not a rollback that failed after it."""
    while _ALREADY_ROLLED_BACK in str(exc) and isinstance(
        exc.__context__, peewee.DatabaseError | sqlite3.Error
    ):
        exc = exc.__context__
    return exc


def _is_busy(exc: peewee.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock it needs (a primary
    result code of BUSY or LOCKED, whatever the extended code, e.g. ``SQLITE_BUSY_RECOVERY``)."""
    cause = exc.__context__  # peewee raises its own error while handling sqlite3's
    return isinstance(cause, sqlite3.Error) and (cause.sqlite_errorcode or 0) & 0xFF in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


def store_error(exc: BaseException, path: Path, busy_timeout_s: float) -> StoreError:
    """The one-line ``StoreError`` for a SQLite/peewee failure on the database at ``path``."""
    text = str(_cause(exc))
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        message = f"database is locked by another process (waited {busy_timeout_s:g} s): {path}"
    elif "readonly" in lowered or "read-only" in lowered:
        message = f"database is read-only: {path}"
    elif "not a database" in lowered:
        message = f"not a database file (not SQLite): {path}"
    elif "disk is full" in lowered:
        message = f"disk full: cannot write the database {path}"
    elif "malformed" in lowered:
        message = f"database file is corrupt: {path}"
    elif "unable to open" in lowered:
        message = f"cannot open the database file {path}"
    elif "disk i/o" in lowered:
        message = f"disk I/O error on the database {path}"
    else:
        message = f"database error on {path}: {text}"
    return StoreError(message)


def _writable(path: Path) -> bool:
    """Whether ``path`` may be written: permitted for this user *and* carrying a write bit, so a
    file or folder someone made read-only (``chmod a-w``) is respected even when running as root."""
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)


def check_writable(path: Path) -> None:
    """Refuse a read-only database file or folder with a clear message before SQLite fails."""
    if path.exists():
        if path.is_dir():
            raise StoreError(f"database path is a directory: {path}")
        if not _writable(path):
            raise StoreError(f"database file is read-only: {path}")
    if not _writable(path.parent):
        raise StoreError(
            f"database folder is read-only (SQLite writes its journal there): {path.parent}"
        )


def check_location(path: Path) -> None:
    """Refuse, as a usage error, a database path that can never be one: a folder on its way
    is an existing file (``--db photo.jpg/x.db``)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(
                    f"cannot keep the database {path} under a file: {parent} is not a folder"
                )
            return


def _make_parents(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents (see ``make_private_folders``). Refuses,
    before creating anything, when the nearest existing ancestor is read-only."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not _writable(existing):
        raise StoreError(f"cannot create the database: folder is read-only: {existing}")
    try:
        make_private_folders(folder, created)
    except OSError as exc:
        raise StoreError(f"cannot create folder {exc.filename}: {exc.strerror}") from None


def _remove_new_database(db: SqliteDatabase, path: Path, folders: list[Path]) -> None:
    """Undo a failed creation: close, delete the database files and the folders we created."""
    db.close()
    for suffix in _SQLITE_FILE_SUFFIXES:
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            break


def _create_private_file(path: Path) -> None:
    """Create the empty database file with ``PRIVATE_FILE_MODE`` before SQLite opens it:
    SQLite would make it 0644, and gives its ``-wal`` and ``-shm`` files the database's mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    except OSError as exc:
        raise StoreError(f"cannot create the database {path}: {exc.strerror}") from None


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only (``immutable`` for a write-protected file
    without a ``-wal`` file: nothing can be writing it, and SQLite then creates no ``-shm``)."""
    uri = f"file:{quote(str(path))}?mode=ro"
    if not Path(f"{path}-wal").exists() and not path.stat().st_mode & 0o222:
        uri += "&immutable=1"
    return uri


@dataclass(frozen=True)
class SqliteBackend(Backend):
    """The SQLite file at ``path`` (absolute)."""

    name: ClassVar[str] = "sqlite"
    path: Path
    busy_timeout_s: float

    @classmethod
    def from_location(cls, database: str, *, busy_timeout_s: float) -> SqliteBackend:
        return cls(parse_location(database).absolute(), busy_timeout_s)

    @property
    def display(self) -> str:
        return str(self.path)

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        return (peewee.DatabaseError, peewee.InterfaceError, sqlite3.Error)

    def error(self, exc: BaseException) -> StoreError:
        return store_error(exc, self.path, self.busy_timeout_s)

    def connect(self) -> SqliteDatabase:
        """An (unopened) peewee SQLite database with Gatekeeper's pragmas; each thread connects
        lazily with its own connection."""
        return SqliteDatabase(
            str(self.path),
            timeout=self.busy_timeout_s,
            pragmas=[
                ("busy_timeout", round(self.busy_timeout_s * 1000)),
                ("journal_mode", "wal"),
                ("synchronous", "full"),
                ("foreign_keys", 1),
                # Deleted rows are overwritten, not left in free pages: a dismissed or expired
                # visitor crop (biometric data) is gone from the file, not just unlinked.
                ("secure_delete", 1),
            ],
        )

    def connect_reader(self) -> SqliteDatabase:
        """An (unopened) peewee SQLite database reading the file through ``read_only_uri``:
        any write fails with "attempt to write a readonly database"."""
        return SqliteDatabase(
            read_only_uri(self.path),
            uri=True,
            timeout=self.busy_timeout_s,
            pragmas=[("busy_timeout", round(self.busy_timeout_s * 1000)), ("query_only", 1)],
        )

    def locate(self, *, create: bool, read_only: bool) -> Location:
        """See :meth:`Backend.locate`. The schema is created only in a file this opening makes:
        an existing file with no tables (0 bytes, say) is refused, never initialised, since an
        emptied database must not pass for a new site. A path under an existing file is a
        ``UsageError``."""
        path = self.path
        check_location(path)
        if read_only:
            if not path.exists():
                raise StoreError(f"no database at {path}")
            if path.is_dir():
                raise StoreError(f"database path is a directory: {path}")
            return Location(create=False)
        new_file = not path.exists()
        if new_file and not create:
            raise StoreError(f"no database at {path}")
        if not new_file and path.is_file() and path.stat().st_size == 0:
            raise StoreError(self.empty_message())
        return Location(create=new_file)

    def make(self, location: Location) -> None:
        """The new database file (and its folders), private; then refuse a file or folder
        that cannot be written."""
        if location.create:
            _make_parents(self.path.parent, location.made)
            _create_private_file(self.path)
        check_writable(self.path)

    def check_connection(self, db: Database) -> None:
        """Nothing to check: SQLite stores text as UTF-8."""

    def abandon(self, db: Database, location: Location) -> None:
        """Close ``db``; a database file this opening made is deleted again, with any folders
        made for it."""
        if location.create:
            _remove_new_database(db, self.path, location.made)
        else:
            db.close()

    def empty_message(self) -> str:
        return (
            f"no Gatekeeper database at {self.path} (the file is empty): nothing to read, and "
            "no new database is made over it (delete it to start a new site)"
        )

    def schema_transaction(self, db: Database) -> AbstractContextManager[Any]:
        return self._immediate(db)

    def write_transaction(self, db: Database) -> AbstractContextManager[Any]:
        """``BEGIN IMMEDIATE`` takes SQLite's write lock up front, waiting up to the busy
        timeout for another process's transaction (see the module's notes on how)."""
        return self._immediate(db)

    @contextmanager
    def _immediate(self, db: Database) -> Iterator[None]:
        """A ``BEGIN IMMEDIATE`` transaction (a savepoint when one is already open), its lock
        retried every millisecond or two until the busy timeout has passed."""
        with ExitStack() as stack:
            if db.transaction_depth():
                stack.enter_context(db.atomic())
            else:
                self._take_write_lock(db, stack)
            yield

    def _take_write_lock(self, db: Database, stack: ExitStack) -> None:
        connection = db.connection()
        deadline = time.monotonic() + self.busy_timeout_s
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    stack.enter_context(db.atomic("IMMEDIATE"))
                    return
                except peewee.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() >= deadline:
                        raise
                time.sleep(random.uniform(*_LOCK_RETRY_S))
        finally:
            connection.execute(f"PRAGMA busy_timeout = {round(self.busy_timeout_s * 1000)}")

    def snapshot(self, db: Database, exported: str | None = None) -> AbstractContextManager[Any]:
        """A deferred transaction: SQLite (WAL) reads one snapshot from its first statement."""
        return db.atomic()

    def stream(self, db: Database, query: Query, chunk: int) -> Iterator[tuple[Any, ...]]:
        cursor = db.execute(query)
        while rows := cursor.fetchmany(chunk):
            yield from rows

    def state_token(self, db: Database) -> object:
        """The connection and its ``PRAGMA data_version``, which changes when another
        connection commits."""
        connection = db.connection()
        (version,) = connection.execute("PRAGMA data_version").fetchone()
        return connection, version

    def integrity_problems(self, db: Database, limit: int) -> list[str]:
        """What ``PRAGMA integrity_check`` finds (e.g. "row 3 missing from index attempt_time");
        reads every page: seconds on a large database."""
        rows = db.execute_sql(f"PRAGMA integrity_check({int(limit)})").fetchall()
        return [] if rows == [("ok",)] else [row[0] for row in rows]

    def integrity_check(self, db: Database) -> str:
        return "SQLite integrity_check (every page, table and index)"

    def replace_check(self, db: Database, table: str, old: str, new: str) -> None:
        """SQLite cannot change a CHECK constraint in place, so ``table`` is rebuilt as SQLite's
        documentation prescribes: the new table is created from the old one's own SQL with only
        the constraint changed, every row is copied with its id and values unchanged (so the
        audit chain verifies as before), the old table is dropped, the new one renamed and its
        indexes recreated from their stored SQL."""
        (table_sql,) = db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if old not in table_sql:
            raise RuntimeError(f"the {table} table does not have the constraint {old}")
        index_sql = [
            sql
            for (sql,) in db.execute_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (table,),
            )
        ]
        rebuilt = f"{table}_rebuilt"
        new_sql = table_sql.replace(old, new).replace(
            f'CREATE TABLE "{table}"', f'CREATE TABLE "{rebuilt}"', 1
        )
        db.execute_sql(new_sql)
        db.execute_sql(f'INSERT INTO "{rebuilt}" SELECT * FROM "{table}"')
        db.execute_sql(f'DROP TABLE "{table}"')
        db.execute_sql(f'ALTER TABLE "{rebuilt}" RENAME TO "{table}"')
        for sql in index_sql:
            db.execute_sql(sql)

    def emptiness_problem(self) -> str | None:
        if self.path.exists():
            return f"{self.path} exists (db copy writes a new SQLite file)"
        return None

    def discard(self, db: Database) -> None:
        db.close()
        for suffix in _SQLITE_FILE_SUFFIXES:
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def after_bulk_copy(self, db: Database, models: Iterable[type[Model]]) -> None:
        """Nothing to do: SQLite gives a new row the highest id plus one."""

    def server_version(self, db: Database) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def drop_dead_connection(self, db: Database) -> None:
        """Nothing to do: a SQLite connection is a file handle, never dropped by a server."""

    def after_error(self, db: Database, exc: BaseException) -> None:
        """Nothing to do (see :meth:`drop_dead_connection`)."""
