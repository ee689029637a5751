"""Opening a database, whatever the backend: :func:`open_database`, and schema creation and
migration.

:func:`open_database` is the one way a database is opened; each backend
(``gatekeeper.store.backends``) supplies only the steps that differ (``Backend.locate``,
``make``, ``check_connection``, ``abandon``). Opening for writing calls :func:`prepare_schema`,
which reads the schema version, creates the schema in an empty database or migrates an older
one, all in the backend's exclusive :meth:`~.Backend.schema_transaction`: two processes opening
the same old or new database cannot both create or migrate it. A database of a newer schema,
and one with tables but no ``schema_version`` (someone else's), is refused; a read-only opening
creates and migrates nothing. Every failure reaches users as a one-line ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from peewee import Database, SchemaManager, fn

from gatekeeper.errors import StoreError
from gatekeeper.store import migrations
from gatekeeper.store.chain import GENESIS_HASH, sign_head
from gatekeeper.store.models import (
    GALLERY_VERSION_KEY,
    MODELS,
    SCHEMA_VERSION,
    ChainHead,
    SchemaVersion,
    Setting,
    utc_now,
)

if TYPE_CHECKING:
    from gatekeeper.store.backends import Backend


def open_database(
    backend: Backend,
    *,
    create: bool,
    read_only: bool,
    audit_key: bytes | None,
    initialise: Callable[[Database], None],
) -> tuple[Database, int]:
    """The database of ``backend`` opened, and the schema version it had when opened.

    Read-only: a missing, empty or older database is refused. Else it is created when missing
    and ``create`` (where the backend may make it), and migrated when older (see
    :func:`prepare_schema`: the empty chain's head is signed with ``audit_key``, then
    ``initialise(db)`` runs in the creation transaction). Whatever the opening made is undone
    when it fails (``Backend.abandon``).
    """
    location = backend.locate(create=create, read_only=read_only)
    db = backend.connect_reader() if read_only else backend.connect()
    try:
        if not read_only:
            backend.make(location)
        with backend.errors(db):
            db.connect()
            backend.check_connection(db)
            if read_only:
                found = read_version(db, backend.display)
                if found is None:
                    raise StoreError(backend.empty_message())
                refuse_older(found)
            else:
                found = prepare_schema(
                    backend,
                    db,
                    create=location.create,
                    audit_key=audit_key,
                    initialise=initialise,
                    empty_message=backend.empty_message(),
                )
    except BaseException:
        backend.abandon(db, location)
        raise
    return db, found


def read_version(db: Database, display: str) -> int | None:
    """The schema version, or None for an empty database; refuses foreign and newer
    databases (``display`` names the database in the message)."""
    tables = set(db.get_tables())
    if not tables:
        return None
    if SchemaVersion._meta.table_name not in tables:
        raise StoreError(f"not a Gatekeeper database (no schema_version table): {display}")
    version = SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar(db)
    if version is None:
        raise StoreError(f"not a Gatekeeper database (empty schema_version table): {display}")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database schema v{version} is newer than this Gatekeeper (v{SCHEMA_VERSION}); "
            "upgrade Gatekeeper"
        )
    return version


def refuse_older(found: int) -> None:
    """Refuse, in a read-only open, a schema older than this code's: only a writer migrates."""
    if found < SCHEMA_VERSION:
        raise StoreError(
            f"database schema v{found} is older than this Gatekeeper (v{SCHEMA_VERSION}): "
            "it is upgraded when a command that writes opens it"
        )


def prepare_schema(
    backend: Backend,
    db: Database,
    *,
    create: bool,
    audit_key: bytes | None,
    initialise: Callable[[Database], None],
    empty_message: str,
) -> int:
    """Create the schema in an empty database (only with ``create``; else refuse it with
    ``empty_message``) or migrate an older one; returns the version found on opening
    (``SCHEMA_VERSION`` for a new one).

    Creation and migration each run in one ``backend.schema_transaction``. In the creation
    transaction the empty chain's head is signed with ``audit_key`` if given, then
    ``initialise(db)`` runs (the store records the initial state there).
    """
    found = read_version(db, backend.display)
    if found == SCHEMA_VERSION:
        return found
    if found is None and not create:
        raise StoreError(empty_message)
    with backend.schema_transaction(db):
        current = read_version(db, backend.display)
        if current is None:
            create_schema(db)
            if audit_key is not None:
                _sign_genesis(db, audit_key)
            initialise(db)
        elif current < SCHEMA_VERSION:
            migrations.upgrade(backend, db, current)
    return SCHEMA_VERSION if found is None else found


def _sign_genesis(db: Database, audit_key: bytes) -> None:
    """Sign the new, empty chain's head, so that emptying the log later is detected."""
    ChainHead.update(signature=sign_head(audit_key, 0, GENESIS_HASH)).where(
        ChainHead.id == 1
    ).execute(db)


def create_schema(db: Database) -> None:
    """Create every table and index of the current schema and its initial rows."""
    for model in MODELS:
        SchemaManager(model, database=db).create_all(safe=False)
    SchemaVersion.insert(version=SCHEMA_VERSION, applied=utc_now()).execute(db)
    ChainHead.insert(id=1, seq=0, hash=GENESIS_HASH, signature=None).execute(db)
    Setting.insert(key=GALLERY_VERSION_KEY, value="0").execute(db)
