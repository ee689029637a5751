"""Schema migrations, applied in order when an older database is opened.

``MIGRATIONS[v]`` upgrades a database from schema version ``v`` to ``v + 1`` with
``playhouse.migrate``. ``upgrade`` runs them inside the caller's ``BEGIN IMMEDIATE`` transaction
(SQLite DDL is transactional), recording each version in ``schema_version``: a failure leaves the
database at its old version, and two processes opening the same old database cannot both migrate.
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import BooleanField, Database, FloatField, IntegerField, TextField
from playhouse.migrate import SchemaMigrator, SqliteMigrator, migrate

from gatekeeper.store.models import SCHEMA_VERSION, SchemaVersion, utc_now


def _v1_to_v2(migrator: SchemaMigrator) -> None:
    """Schema v2 keeps enrolment photos and indexes the log screen's camera/decision filters.

    - ``face_encoding.photo_path`` (TEXT, NULL allowed): the kept photo, relative to the images
      directory. v1 did not keep photos, so its encodings get NULL and cannot be re-encoded.
    - indexes ``attempt(camera_id, time)`` and ``attempt(decision, time)``.
    """
    migrate(
        migrator.add_column("face_encoding", "photo_path", TextField(null=True)),
        migrator.add_index("attempt", ("camera_id", "time"), name="attempt_camera_id_time"),
        migrator.add_index("attempt", ("decision", "time"), name="attempt_decision_time"),
    )


def _v2_to_v3(migrator: SchemaMigrator) -> None:
    """Schema v3 stores the quality of each template's face: ``face_encoding.face_px``,
    ``sharpness``, ``pose``, ``detector_score`` and ``low_quality``, all NULL for existing
    encodings (their quality is unknown until ``gatekeeper reencode`` measures it)."""
    migrate(
        migrator.add_column("face_encoding", "face_px", IntegerField(null=True)),
        migrator.add_column("face_encoding", "sharpness", FloatField(null=True)),
        migrator.add_column("face_encoding", "pose", FloatField(null=True)),
        migrator.add_column("face_encoding", "detector_score", FloatField(null=True)),
        migrator.add_column("face_encoding", "low_quality", BooleanField(null=True)),
    )


#: Upgrade steps: from version ``v`` (the key) to ``v + 1``.
MIGRATIONS: dict[int, Callable[[SchemaMigrator], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def upgrade(db: Database, from_version: int) -> None:
    """Migrate ``db`` from ``from_version`` to ``SCHEMA_VERSION`` (inside a write transaction)."""
    if not db.in_transaction():
        raise RuntimeError("upgrade must run inside a write transaction")
    migrator = SqliteMigrator(db)
    for version in range(from_version, SCHEMA_VERSION):
        MIGRATIONS[version](migrator)
        SchemaVersion.insert(version=version + 1, applied=utc_now()).bind(db).execute()
