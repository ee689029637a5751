"""Opening the database: ``--db`` parsing, SQLite settings, schema creation and migration, errors.

``--db`` is a plain path or a URL parsed with ``playhouse.db_url``: ``sqlite:///relative.db``,
``sqlite:////absolute/path.db``; ``postgresql://user@host/name`` is recognised but not
implemented yet. SQLite connections use WAL, ``synchronous=FULL`` (a committed audit row survives
a power cut), foreign keys, and a busy timeout: a writer waits that long for another process's
write lock before giving up with "database is locked by another process".

A read-only open (``read_only=True``, for commands that only look: ``log``, ``export``,
``people``, ``audit verify``, ``doctor``) connects with SQLite's ``mode=ro``: it never creates,
migrates or repairs anything, and refuses a missing, empty or older database. A write-protected
file (no write bit, e.g. an evidence copy) with no ``-wal`` file beside it is opened
``immutable``, so SQLite does not even create its ``-shm`` file next to it.

Every database failure reaches users as a one-line ``StoreError`` (see ``store_error``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlparse

import peewee
from peewee import SchemaManager, SqliteDatabase
from playhouse import db_url

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.store import migrations
from gatekeeper.store.audit import GENESIS_HASH, sign_head
from gatekeeper.store.models import (
    GALLERY_VERSION_KEY,
    MODELS,
    SCHEMA_VERSION,
    ChainHead,
    SchemaVersion,
    Setting,
    utc_now,
)
from gatekeeper.store.names import name_key

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgres+pool", "postgresql+pool"}
_SQLITE_SCHEMES = {"sqlite"}
_SQLITE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal")
#: Modes of what Gatekeeper creates: biometric data and the access log are its owner's alone,
#: whatever the umask (which can only take more bits away). Existing files and folders keep
#: the modes they have, so a site that shares them with a group on purpose stays shared.
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def parse_location(database: str) -> Path:
    """The SQLite file named by ``--db`` (a path or ``sqlite:///`` URL), ``~`` expanded.

    PostgreSQL URLs are parsed (``UsageError`` if they name no database) and then refused with
    ``StoreError`` (not implemented yet); other schemes, URL options and in-memory databases
    (the audit log must be durable) raise ``UsageError``.
    """
    if "://" in database:
        scheme = urlparse(database).scheme.lower()
        if scheme in _POSTGRES_SCHEMES:
            if not db_url.parse(database)["database"]:
                raise UsageError(f"the database URL names no database: {database}")
            raise StoreError("PostgreSQL support is not implemented yet")
        if scheme not in _SQLITE_SCHEMES:
            raise UsageError(
                f"unsupported database URL scheme {scheme}:// "
                "(use a file path, sqlite:///path or postgresql://)"
            )
        options = db_url.parse(database)
        raw = options.pop("database")
        if options:
            raise UsageError(f"database URL options are not supported: {', '.join(options)}")
    else:
        raw = database
    if raw in ("", ":memory:"):
        raise UsageError("in-memory databases are not supported: the audit log must be durable")
    return Path(raw).expanduser()


#: What rolling back says when SQLite has already rolled the transaction back itself (it does
#: on a full disk): the error that made it do so is the one to report.
_ALREADY_ROLLED_BACK = "no transaction is active"


def _cause(exc: BaseException) -> BaseException:
    """The error to report: the original failure, not a rollback that failed after it."""
    while _ALREADY_ROLLED_BACK in str(exc) and isinstance(
        exc.__context__, peewee.DatabaseError | sqlite3.Error
    ):
        exc = exc.__context__
    return exc


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


@contextmanager
def translate_errors(path: Path, busy_timeout_s: float) -> Iterator[None]:
    """Turn SQLite and peewee database errors raised inside the block into ``StoreError``."""
    try:
        yield
    except (peewee.DatabaseError, peewee.InterfaceError, sqlite3.Error) as exc:
        raise store_error(exc, path, busy_timeout_s) from exc


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


def make_private_folders(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents, each with :data:`PRIVATE_FOLDER_MODE`,
    appending each one made to ``created`` (outermost first); raises ``OSError``."""
    for parent in [p for p in (folder, *folder.parents) if not p.exists()][::-1]:
        try:
            parent.mkdir(mode=PRIVATE_FOLDER_MODE)
        except FileExistsError:
            continue
        created.append(parent)


def _make_parents(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents (see :func:`make_private_folders`). Refuses,
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


def connect_sqlite(path: Path, busy_timeout_s: float) -> SqliteDatabase:
    """An (unopened) peewee SQLite database with Gatekeeper's pragmas; each thread connects
    lazily with its own connection."""
    return _with_functions(
        SqliteDatabase(
            str(path),
            timeout=busy_timeout_s,
            pragmas=[
                ("busy_timeout", round(busy_timeout_s * 1000)),
                ("journal_mode", "wal"),
                ("synchronous", "full"),
                ("foreign_keys", 1),
            ],
        )
    )


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only (``immutable`` for a write-protected file
    without a ``-wal`` file: nothing can be writing it, and SQLite then creates no ``-shm``)."""
    uri = f"file:{quote(str(path))}?mode=ro"
    if not Path(f"{path}-wal").exists() and not path.stat().st_mode & 0o222:
        uri += "&immutable=1"
    return uri


def connect_sqlite_read_only(path: Path, busy_timeout_s: float) -> SqliteDatabase:
    """An (unopened) peewee SQLite database reading ``path`` through ``read_only_uri``: any
    write fails with "attempt to write a readonly database"."""
    return _with_functions(
        SqliteDatabase(
            read_only_uri(path),
            uri=True,
            timeout=busy_timeout_s,
            pragmas=[("busy_timeout", round(busy_timeout_s * 1000)), ("query_only", 1)],
        )
    )


def _with_functions(db: SqliteDatabase) -> SqliteDatabase:
    """``db`` with Gatekeeper's SQL functions on each of its connections: ``name_key(text)``,
    a name compared ignoring case and compatibility forms (:func:`.names.name_key`; SQLite's own
    ``lower`` and ``LIKE`` fold ASCII only)."""
    db.register_function(
        lambda text: None if text is None else name_key(text),
        "name_key",
        1,
        deterministic=True,
    )
    return db


def open_database(
    path: Path,
    *,
    create: bool,
    busy_timeout_s: float,
    audit_key: bytes | None = None,
    initialise: Callable[[SqliteDatabase], None] | None = None,
    read_only: bool = False,
) -> tuple[SqliteDatabase, int]:
    """Open (creating or migrating as needed) the SQLite database at ``path``.

    Returns the database and the schema version it had when opened (``SCHEMA_VERSION`` for a
    new one). A database created by this call is deleted again, with any folders made for it,
    if anything fails before it is complete, so no partial database is left behind. In its
    creation transaction its empty chain's head is signed with ``audit_key`` if given, then
    ``initialise(db)`` runs (the store records the initial state there). An existing file with
    no tables (0 bytes, say) is refused, never initialised: an emptied database must not pass
    for a new site. A path under an existing file is a ``UsageError``. With ``read_only`` see
    the module docstring.
    """
    check_location(path)
    if read_only:
        return _open_read_only(path, busy_timeout_s), SCHEMA_VERSION
    new_file = not path.exists()
    if new_file and not create:
        raise StoreError(f"no database at {path}")
    if not new_file and path.is_file() and path.stat().st_size == 0:
        raise StoreError(_empty_file_message(path))
    folders: list[Path] = []
    db = connect_sqlite(path, busy_timeout_s)
    try:
        if new_file:
            _make_parents(path.parent, folders)
            _create_private_file(path)
        check_writable(path)
        with translate_errors(path, busy_timeout_s):
            db.connect()
            version = _prepare_schema(
                db, path, create=new_file, audit_key=audit_key, initialise=initialise
            )
    except BaseException:
        if new_file:
            _remove_new_database(db, path, folders)
        else:
            db.close()
        raise
    return db, version


def _create_private_file(path: Path) -> None:
    """Create the empty database file with :data:`PRIVATE_FILE_MODE` before SQLite opens it:
    SQLite would make it 0644, and gives its ``-wal`` and ``-shm`` files the database's mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    except OSError as exc:
        raise StoreError(f"cannot create the database {path}: {exc.strerror}") from None


def _empty_file_message(path: Path) -> str:
    return (
        f"no Gatekeeper database at {path} (the file is empty): nothing to read, and no new "
        "database is made over it (delete it to start a new site)"
    )


def _open_read_only(path: Path, busy_timeout_s: float) -> SqliteDatabase:
    """The database at ``path`` opened read-only, at the current schema version."""
    if not path.exists():
        raise StoreError(f"no database at {path}")
    if path.is_dir():
        raise StoreError(f"database path is a directory: {path}")
    db = connect_sqlite_read_only(path, busy_timeout_s)
    try:
        with translate_errors(path, busy_timeout_s):
            db.connect()
            found = _read_version(db, path)
        if found is None:
            raise StoreError(_empty_file_message(path))
        if found < SCHEMA_VERSION:
            raise StoreError(
                f"database schema v{found} is older than this Gatekeeper (v{SCHEMA_VERSION}): "
                "it is upgraded when a command that writes opens it"
            )
    except BaseException:
        db.close()
        raise
    return db


def _read_version(db: SqliteDatabase, path: Path) -> int | None:
    """The schema version, or None for an empty database; refuses foreign databases."""
    tables = set(db.get_tables())
    if not tables:
        return None
    if SchemaVersion._meta.table_name not in tables:
        raise StoreError(f"not a Gatekeeper database (no schema_version table): {path}")
    (version,) = db.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()
    if version is None:
        raise StoreError(f"not a Gatekeeper database (empty schema_version table): {path}")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database schema v{version} is newer than this Gatekeeper (v{SCHEMA_VERSION}); "
            "upgrade Gatekeeper"
        )
    return version


def _prepare_schema(
    db: SqliteDatabase,
    path: Path,
    *,
    create: bool,
    audit_key: bytes | None,
    initialise: Callable[[SqliteDatabase], None] | None,
) -> int:
    """Create the schema in an empty database (only with ``create``: a file this call made) or
    migrate an older one; returns the version found on opening. Creation and migration each
    run in one ``BEGIN IMMEDIATE`` transaction."""
    found = _read_version(db, path)
    if found == SCHEMA_VERSION:
        return found
    if found is None and not create:
        raise StoreError(_empty_file_message(path))
    with db.atomic("IMMEDIATE"):
        current = _read_version(db, path)
        if current is None:
            create_schema(db)
            if audit_key is not None:
                _sign_genesis(db, audit_key)
            if initialise is not None:
                initialise(db)
        elif current < SCHEMA_VERSION:
            migrations.upgrade(db, current)
    return SCHEMA_VERSION if found is None else found


def _sign_genesis(db: SqliteDatabase, audit_key: bytes) -> None:
    """Sign the new, empty chain's head, so that emptying the log later is detected."""
    db.execute_sql(
        "UPDATE chain_head SET signature = ? WHERE id = 1",
        (sign_head(audit_key, 0, GENESIS_HASH),),
    )


def create_schema(db: SqliteDatabase) -> None:
    """Create every table and index of the current schema and its initial rows."""
    for model in MODELS:
        SchemaManager(model, database=db).create_all(safe=False)
    SchemaVersion.insert(version=SCHEMA_VERSION, applied=utc_now()).bind(db).execute()
    ChainHead.insert(id=1, seq=0, hash=GENESIS_HASH, signature=None).bind(db).execute()
    Setting.insert(key=GALLERY_VERSION_KEY, value="0").bind(db).execute()
