"""The PostgreSQL backend: one database on a server, shared by every console and command of a
site (driver: psycopg 3).

The URL is handed to libpq as it is (``postgresql://user:password@host:port/dbname``, any
libpq URI), so the password may come from ``PGPASSWORD`` or ``~/.pgpass`` instead, and
parameters such as ``sslmode`` pass through. Every connection sets:

- ``lock_timeout`` to the busy timeout: a writer waits that long for another writer's lock,
  then fails with "database is locked by another process", as on SQLite;
- ``connect_timeout`` :data:`CONNECT_TIMEOUT_S` and TCP keepalives, unless the URL sets them:
  a console whose server is unreachable fails in seconds rather than hanging;
- for a read-only open, ``default_transaction_read_only``: every write fails.

Tables are made with ``TEXT COLLATE "C"`` (byte order, as SQLite's ``BINARY``: lists and state
digests come out in the same order on both backends, whatever the database's locale) and
``DOUBLE PRECISION`` floats (peewee's default ``REAL`` would round them to 32 bits).

A write transaction is a plain ``BEGIN`` (READ COMMITTED) followed by
``SELECT … FROM chain_head WHERE id = 1 FOR UPDATE``: the head row's lock serialises every
writer of the database, on every host, and each statement after it sees what the previous
holder committed. Creating or migrating the schema takes a transaction-level advisory lock
instead (an empty database has no head to lock). Reads that must agree with each other
(verifying the chain, loading the gallery) run in a REPEATABLE READ snapshot, which verifying
worker processes share through ``pg_export_snapshot()``.

A connection the server closed (a restart, say) is dropped: before each call when it is idle
and the server has hung up, else when a statement fails on it; the next call connects again.
"""

from __future__ import annotations

import re
import select
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import peewee
import psycopg
from peewee import Check, Database, Model, PostgresqlDatabase, Query
from playhouse.migrate import SchemaMigrator, migrate
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import ConnStatus, TransactionStatus

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.store.backends.base import MASK, Backend, Location, mask_url, original_error
from gatekeeper.store.chain import head_query
from gatekeeper.store.compiled import Statement
from gatekeeper.store.models import MODELS

#: Column types that differ from peewee's PostgreSQL defaults (see the module docstring).
FIELD_TYPES = {"TEXT": 'TEXT COLLATE "C"', "FLOAT": "DOUBLE PRECISION"}
#: Seconds a connection attempt may take before it fails (libpq's default is forever).
CONNECT_TIMEOUT_S = 5
#: TCP keepalive settings (seconds): a dead server or network is noticed within about 20 s.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}
#: The advisory lock (a bigint, "gatekeep" in ASCII) of schema creation and migration.
SCHEMA_LOCK = int.from_bytes(b"gatekeep", "big")
_SNAPSHOT_ID_RE = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
#: Reads of an idle connection's pending input before it is taken for alive (a farewell
#: message, then the end of the connection, takes two).
_IDLE_READS = 3
#: SQLSTATE classes: 08 connection exception, 57P admin shutdown / crash / cannot connect now.
_UNAVAILABLE_STATES = ("08", "57P")
#: What a write transaction starts with: the chain head row read and locked until the commit.
_LOCK_HEAD = Statement(1, lambda row: head_query(row).for_update())


#: The amcheck functions run, as ``has_function_privilege`` names them.
_AMCHECK_FUNCTIONS = (
    "bt_index_check(regclass, boolean)",
    "verify_heapam(regclass, boolean, boolean, text, bigint, bigint)",
)


def _quote(identifier: str) -> str:
    """A quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class PostgresBackend(Backend):
    """A PostgreSQL database named by a libpq URL (held with its password; never shown)."""

    name: ClassVar[str] = "postgresql"
    combined_append: ClassVar[bool] = True
    url: str = field(repr=False)
    busy_timeout_s: float
    display: str

    @classmethod
    def from_url(cls, url: str, *, busy_timeout_s: float) -> PostgresBackend:
        """Check ``url`` (``UsageError`` when libpq cannot parse it or it names no database)."""
        scheme, rest = url.split("://", 1)
        if scheme.lower() != "postgresql":
            url = f"postgresql://{rest}"
        try:
            display = mask_url(url)
            options = conninfo_to_dict(url)
        except (ValueError, psycopg.ProgrammingError) as exc:
            # Not echoed: an unparsable URL cannot have its password masked.
            reason = "; ".join(_lines(str(exc)))
            raise UsageError(f"invalid PostgreSQL URL ({reason})") from None
        if not options.get("dbname"):
            raise UsageError(f"the database URL names no database: {display}")
        return cls(url, busy_timeout_s, display)

    @property
    def _password(self) -> str | None:
        return conninfo_to_dict(self.url).get("password") or None

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        return (peewee.DatabaseError, peewee.InterfaceError, psycopg.Error)

    def _database(self, *, read_only: bool) -> PostgresqlDatabase:
        given = conninfo_to_dict(self.url)
        settings = [f"-c lock_timeout={max(1, round(self.busy_timeout_s * 1000))}"]
        if read_only:
            settings.append("-c default_transaction_read_only=on")
        params: dict[str, Any] = {
            "application_name": given.get("application_name", "gatekeeper"),
            "options": " ".join([*filter(None, [given.get("options")]), *settings]),
        }
        for key, value in {"connect_timeout": CONNECT_TIMEOUT_S, **KEEPALIVES}.items():
            params[key] = given.get(key, value)
        return PostgresqlDatabase(
            self.url, prefer_psycopg3=True, field_types=FIELD_TYPES, encoding="UTF8", **params
        )

    def connect(self) -> PostgresqlDatabase:
        return self._database(read_only=False)

    def connect_reader(self) -> PostgresqlDatabase:
        return self._database(read_only=True)

    def locate(self, *, create: bool, read_only: bool) -> Location:
        """See :meth:`Backend.locate`: an empty database (no tables in its current schema) gets
        the schema when ``create``; a database with other tables is refused. A database that
        does not exist is not created: that is the server administrator's (``createdb``)."""
        return Location(create=create and not read_only)

    def make(self, location: Location) -> None:
        """Nothing to make: the database exists on the server, or the connection fails."""

    def empty_message(self) -> str:
        return (
            f"no Gatekeeper database at {self.display} (the database has no tables): nothing "
            "to read; a command that writes (enroll, import, console) creates the schema there"
        )

    def check_connection(self, db: Database) -> None:
        """Refuse a database not encoded UTF8."""
        (encoding,) = db.execute_sql("SHOW server_encoding").fetchone()
        if encoding.upper() not in ("UTF8", "UTF-8"):
            raise StoreError(
                f"the database {self.display} is encoded {encoding}; Gatekeeper stores names in "
                "any script and needs UTF8 (CREATE DATABASE … ENCODING 'UTF8')"
            )

    @contextmanager
    def schema_transaction(self, db: Database) -> Iterator[None]:
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            yield

    @contextmanager
    def write_transaction(self, db: Database) -> Iterator[tuple[int, str, str | None] | None]:
        """``BEGIN`` and lock the chain head row (waiting up to the busy timeout)."""
        with db.atomic():
            yield _LOCK_HEAD.execute(db, 1).fetchone()

    @contextmanager
    def snapshot(self, db: Database, exported: str | None = None) -> Iterator[None]:
        with db.atomic(isolation_level="REPEATABLE READ"):
            if exported is not None:
                if not _SNAPSHOT_ID_RE.fullmatch(exported):
                    raise ValueError(f"not a snapshot id: {exported!r}")
                db.execute_sql(f"SET TRANSACTION SNAPSHOT '{exported}'")
            yield

    def export_snapshot(self, db: Database) -> str:
        (snapshot,) = db.execute_sql("SELECT pg_export_snapshot()").fetchone()
        return snapshot

    def stream(self, db: Database, query: Query, chunk: int) -> Iterator[tuple[Any, ...]]:
        """Through a server-side cursor (the rows stay on the server until fetched)."""
        sql, params = db.get_sql_context().sql(query).query()
        with db.connection().cursor(name=f"gatekeeper_{uuid.uuid4().hex}") as cursor:
            cursor.itersize = chunk
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(chunk):
                yield from rows

    def _amcheck_schema(self, db: Database) -> str | None:
        """The schema holding the amcheck extension's functions, if it is installed and this
        role may run them."""
        row = db.execute_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'amcheck'"
        ).fetchone()
        if row is None:
            return None
        quoted = _quote(row[0])
        for function in _AMCHECK_FUNCTIONS:
            (allowed,) = db.execute_sql(
                "SELECT has_function_privilege(%s, 'EXECUTE')", (f"{quoted}.{function}",)
            ).fetchone()
            if not allowed:
                return None
        return quoted

    def integrity_check(self, db: Database) -> str:
        if self._amcheck_schema(db) is None:
            return (
                "none: the amcheck extension is not installed in this database, or this role "
                "may not run it (CREATE EXTENSION amcheck, and GRANT EXECUTE on bt_index_check "
                "and verify_heapam)"
            )
        return "amcheck: every table (verify_heapam) and B-tree index (bt_index_check)"

    def integrity_problems(self, db: Database, limit: int) -> list[str]:
        """What amcheck finds in Gatekeeper's tables (``verify_heapam``) and their B-tree
        indexes (``bt_index_check`` with ``heapallindexed``); nothing is checked (an empty list)
        where amcheck is not available: :meth:`integrity_check` says which."""
        quoted = self._amcheck_schema(db)
        if quoted is None:
            return []
        tables = [model._meta.table_name for model in MODELS]
        problems: list[str] = []
        for table in tables:
            for block, offset, message in db.execute_sql(
                f"SELECT blkno, offnum, msg FROM {quoted}.verify_heapam(%s::regclass) LIMIT %s",
                (table, limit),
            ):
                problems.append(f"table {table} block {block} item {offset}: {message}")
        indexes = db.execute_sql(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE t.relname = ANY(%s) AND t.relnamespace = current_schema()::regnamespace "
            "AND a.amname = 'btree' ORDER BY c.relname",
            (tables,),
        ).fetchall()
        for (index,) in indexes:
            try:
                with db.atomic():
                    db.execute_sql(
                        f"SELECT {quoted}.bt_index_check(%s::regclass, true)", (_quote(index),)
                    )
            except peewee.DatabaseError as exc:
                problems.append(f"index {index}: {_lines(str(original_error(exc)))[0]}")
        return problems[:limit]

    def replace_check(self, db: Database, table: str, old: str, new: str) -> None:
        """Drop the column constraint PostgreSQL named ``<table>_<column>_check`` when the table
        was made (the column is the first word of ``old``) and add ``new`` under that name."""
        name = f"{table}_{old.split()[0]}_check"
        found = db.execute_sql(
            "SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s "
            "AND contype = 'c'",
            (_quote(table), name),
        ).fetchone()
        if found is None:
            raise RuntimeError(f"the {table} table has no constraint {name}")
        migrator = SchemaMigrator.from_database(db)
        migrate(
            migrator.drop_constraint(table, name),
            migrator.add_constraint(table, name, Check(new)),
        )

    def emptiness_problem(self) -> str | None:
        db = self._database(read_only=True)
        try:
            with self.errors(db):
                db.connect()
                tables = db.get_tables()
        finally:
            db.close()
        if tables:
            shown = ", ".join(sorted(tables)[:3]) + (", …" if len(tables) > 3 else "")
            return f"the database {self.display} has tables ({shown})"
        return None

    def discard(self, db: Database) -> None:
        with self.errors(db), db.bind_ctx(MODELS):
            db.drop_tables(MODELS, cascade=True)
        db.close()

    def after_bulk_copy(self, db: Database, models: Iterable[type[Model]]) -> None:
        """Move each table's id sequence past the highest id copied in (rows inserted with
        their ids leave ``SERIAL`` sequences where they were), and gather the tables'
        statistics: until autovacuum does, the planner takes the new rows for an empty table
        and joins them row by row (a 10,000-template gallery took 1.4 s to load, not 0.1 s)."""
        for model in models:
            table = model._meta.table_name
            db.execute_sql(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE(MAX(id), 1), "
                f"MAX(id) IS NOT NULL) FROM {_quote(table)}",
                (_quote(table),),
            )
            db.execute_sql(f"ANALYZE {_quote(table)}")

    def server_version(self, db: Database) -> str:
        (version,) = db.execute_sql("SHOW server_version").fetchone()
        return f"PostgreSQL {version.split()[0]}"

    def drop_dead_connection(self, db: Database) -> None:
        """Close this thread's idle connection if the server has hung up on it. While idle, a
        live connection's socket is readable only for a notice, which one read consumes; a
        server that said farewell (a restart) and closed the socket leaves it readable, and
        reading on meets the end of the connection."""
        if db.is_closed() or db.in_transaction():
            return
        pgconn = db.connection().pgconn
        if pgconn.transaction_status != TransactionStatus.IDLE:
            return
        alive = pgconn.status == ConnStatus.OK
        try:
            for _ in range(_IDLE_READS):
                if not alive or not select.select([pgconn.socket], [], [], 0)[0]:
                    break
                pgconn.consume_input()
                alive = pgconn.status == ConnStatus.OK
        except (OSError, psycopg.Error):
            alive = False
        if not alive:
            self._drop(db)

    def after_error(self, db: Database, exc: BaseException) -> None:
        if db.is_closed() or db.in_transaction():
            return
        connection = db.connection()
        if connection.broken or connection.closed or connection.pgconn.status != ConnStatus.OK:
            self._drop(db)

    @staticmethod
    def _drop(db: Database) -> None:
        try:
            db.close()
        except peewee.DatabaseError:
            db.dispose()

    def error(self, exc: BaseException) -> StoreError:
        """One line naming the database (password masked) and what went wrong."""
        cause = original_error(exc)
        if isinstance(cause, peewee.DatabaseError | peewee.InterfaceError):
            cause = original_error(cause)
        text = str(cause)
        password = self._password
        if password:
            text = text.replace(password, MASK)
        lines = _lines(text) or [type(cause).__name__]
        lowered = text.lower()
        state = getattr(cause, "sqlstate", None) or ""
        where = self.display
        parsed = conninfo_to_dict(self.url)
        user = parsed.get("user") or "(the default user)"
        if isinstance(cause, pg_errors.LockNotAvailable) or "lock timeout" in lowered:
            message = (
                f"database is locked by another process (waited {self.busy_timeout_s:g} s): {where}"
            )
        elif isinstance(cause, pg_errors.ReadOnlySqlTransaction):
            message = f"database is read-only: {where}"
        elif isinstance(cause, pg_errors.DiskFull) or "no space left" in lowered:
            message = f"disk full: the database server cannot write {where}"
        elif "password authentication failed" in lowered:
            message = (
                f"cannot log in to {where}: password authentication failed for user {user} "
                "(check the password in the URL, PGPASSWORD or ~/.pgpass)"
            )
        elif "no password supplied" in lowered or "password is required" in lowered:
            message = (
                f"cannot log in to {where}: the server wants a password for user {user} and "
                "none was given (put it in the URL, PGPASSWORD or ~/.pgpass)"
            )
        elif re.search(r'role ".*" does not exist', lowered):
            message = f"cannot log in to {where}: the server has no role {user}"
        elif re.search(r'database ".*" does not exist', lowered):
            dbname = parsed.get("dbname")
            message = (
                f"no database {dbname} on the server of {where} (create it first: createdb, "
                "or CREATE DATABASE)"
            )
        elif isinstance(cause, pg_errors.InsufficientPrivilege):
            message = f"permission denied on {where}: {lines[0]}"
        elif state.startswith(_UNAVAILABLE_STATES) or isinstance(
            cause, psycopg.OperationalError | psycopg.InterfaceError
        ):
            message = f"database unavailable: {self._unavailable_reason(lines)}: {where}"
        else:
            message = f"database error on {where}: {lines[0]}"
        return StoreError(message)

    @staticmethod
    def _unavailable_reason(lines: list[str]) -> str:
        """The gist of libpq's (multi-line) connection failure."""
        text = " ".join(lines)
        lowered = text.lower()
        for needle, reason in (
            ("connection refused", "connection refused (is the server running?)"),
            ("could not translate host name", "unknown host"),
            ("name or service not known", "unknown host"),
            ("timeout expired", "no answer within the connect timeout"),
            ("no route to host", "no route to host"),
            ("network is unreachable", "network is unreachable"),
            ("no such file or directory", "no server socket at that path"),
            ("terminating connection", "the server closed the connection (restarted?)"),
            ("server closed the connection", "the server closed the connection (restarted?)"),
            ("shutting down", "the server is shutting down"),
            ("starting up", "the server is starting up"),
            ("in recovery mode", "the server is recovering"),
            ("the connection is closed", "the connection was lost"),
            ("consuming input failed", "the connection was lost"),
            ("connection is lost", "the connection was lost"),
        ):
            if needle in lowered:
                return reason
        return lines[0].removeprefix("connection failed: ") if lines else "unknown failure"
