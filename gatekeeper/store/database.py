"""Opening a database, whatever the backend: schema creation and migration, and the modes of
what Gatekeeper creates on disk.

Each backend (``gatekeeper.store.backends``) connects in its own way and then calls
:func:`prepare_schema`, which reads the schema version, creates the schema in an empty database
or migrates an older one, all in the backend's exclusive :meth:`~.Backend.schema_transaction`:
two processes opening the same old or new database cannot both create or migrate it. A
database of a newer schema, and one with tables but no ``schema_version`` (someone else's), is
refused. Every failure reaches users as a one-line ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import Database, SchemaManager, fn

from gatekeeper.errors import StoreError
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

if TYPE_CHECKING:
    from gatekeeper.store.backends import Backend

#: Modes of what Gatekeeper creates: biometric data and the access log are its owner's alone,
#: whatever the umask (which can only take more bits away). Existing files and folders keep
#: the modes they have, so a site that shares them with a group on purpose stays shared.
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_folders(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents, each with :data:`PRIVATE_FOLDER_MODE`,
    appending each one made to ``created`` (outermost first); raises ``OSError``."""
    for parent in [p for p in (folder, *folder.parents) if not p.exists()][::-1]:
        try:
            parent.mkdir(mode=PRIVATE_FOLDER_MODE)
        except FileExistsError:
            continue
        created.append(parent)


def display_url(url: str) -> str:
    """A database URL as shown to people: its password masked."""
    from gatekeeper.store.backends import mask_url

    return mask_url(url)


def empty_database_message(what: str, remedy: str) -> str:
    """The refusal of a database with no tables at all, named ``what``."""
    return (
        f"no Gatekeeper database at {what}: nothing to read, and no new database is made "
        f"over it ({remedy})"
    )


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
