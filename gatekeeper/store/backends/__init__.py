"""The database backends behind the store: SQLite (one file, the embedded default) and
PostgreSQL (one server shared by every console of a site).

The store, the audit chain and the state records are written once, on peewee's query builder
and models, for both. What a dialect needs beyond that lives in one module per backend and
reaches the rest of the store only through :class:`Backend` (``base.py``): connecting, the
steps of opening that differ (``database.open_database`` is the one opening), starting a write
transaction that serialises appenders, consistent read snapshots, streaming
large results, the integrity check, the one-line error messages, and changing a CHECK
constraint in a migration.

``--db`` / ``db_url`` is one of:

- a plain path, ``sqlite:///relative.db`` or ``sqlite:////absolute/path.db`` (SQLite);
- ``postgresql://user:password@host:port/dbname`` (or ``postgres://``), any libpq URI: the
  password may instead come from ``PGPASSWORD`` or ``~/.pgpass``, and libpq parameters such
  as ``?sslmode=require`` pass through. The password is never shown: messages, ``Store.url``
  and ``repr`` carry the URL with it masked (:func:`mask_url`).
"""

from __future__ import annotations

from gatekeeper.errors import UsageError
from gatekeeper.store.backends.base import (
    MASK,
    POSTGRES_SCHEMES,
    SQLITE_SCHEMES,
    Backend,
    Location,
    mask_url,
    original_error,
    scheme_of,
)
from gatekeeper.store.backends.sqlite import SqliteBackend

__all__ = [
    "MASK",
    "POSTGRES_SCHEMES",
    "SQLITE_SCHEMES",
    "Backend",
    "Location",
    "SqliteBackend",
    "mask_url",
    "original_error",
    "parse_database",
    "scheme_of",
]


def parse_database(database: str, *, busy_timeout_s: float = 5.0) -> Backend:
    """The backend for ``--db`` (see the module docstring). Raises ``UsageError`` for other
    schemes and for locations that can never be a Gatekeeper database."""
    scheme = scheme_of(database)
    if scheme in POSTGRES_SCHEMES:
        # Imported here, not above: psycopg takes about 0.2 s to import, which a SQLite site
        # (every command, the console) need not wait for.
        from gatekeeper.store.backends.postgres import PostgresBackend

        return PostgresBackend.from_url(database, busy_timeout_s=busy_timeout_s)
    if scheme is not None and scheme not in SQLITE_SCHEMES:
        raise UsageError(
            f"unsupported database URL scheme {scheme}:// "
            "(use a file path, sqlite:///path or postgresql://user@host/dbname)"
        )
    return SqliteBackend.from_location(database, busy_timeout_s=busy_timeout_s)
