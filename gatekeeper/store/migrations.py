"""Schema migrations, applied in order when an older database is opened.

``MIGRATIONS[v]`` upgrades a database from schema version ``v`` to ``v + 1`` with
``playhouse.migrate`` (the SQLite or PostgreSQL migrator, as the database is). ``upgrade`` runs
them inside the backend's schema transaction (DDL is transactional on both), recording each
version in ``schema_version``: a failure leaves the database at its old version, and two
processes opening the same old database cannot both migrate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from peewee import (
    BooleanField,
    Database,
    FloatField,
    ForeignKeyField,
    IntegerField,
    SchemaManager,
    TextField,
)
from playhouse.migrate import SchemaMigrator, migrate

from gatekeeper.store.models import (
    DECISION_CHECK,
    SCHEMA_VERSION,
    Schedule,
    ScheduleWindow,
    SchemaVersion,
    Visitor,
    utc_now,
)

if TYPE_CHECKING:
    from gatekeeper.store.backends import Backend

#: The ``decision`` CHECK constraint of schemas v1–v3, as those versions created it.
_V3_DECISION_CHECK = "decision IN ('granted', 'denied', 'unknown')"


def _v1_to_v2(migrator: SchemaMigrator, backend: Backend) -> None:
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


def _v2_to_v3(migrator: SchemaMigrator, backend: Backend) -> None:
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


def _v3_to_v4(migrator: SchemaMigrator, backend: Backend) -> None:
    """Schema v4 accepts the ``spoof`` decision (a recognised face judged not live): the
    ``attempt`` table's CHECK constraint is replaced, every row kept with its id and hashed
    values unchanged, so the audit chain verifies as before (see ``Backend.replace_check``:
    SQLite rebuilds the table, PostgreSQL drops and adds the constraint)."""
    backend.replace_check(migrator.database, "attempt", _V3_DECISION_CHECK, DECISION_CHECK)


def _v4_to_v5(migrator: SchemaMigrator, backend: Backend) -> None:
    """Schema v5 adds access schedules, validity dates, denial reasons and visitor crops.

    - tables ``schedule``, ``schedule_window`` and ``visitor`` (empty);
    - ``person.schedule_id`` (NULL: any time), ``person.valid_from`` and ``valid_until`` (NULL:
      no limit): every existing person keeps the access they had;
    - ``attempt.reason`` (NULL for every existing attempt; chained when set, so existing rows'
      hashes are unchanged: see ``gatekeeper.store.audit``).
    """
    db = migrator.database
    for model in (Schedule, ScheduleWindow):
        SchemaManager(model, database=db).create_all(safe=False)
    schedule = ForeignKeyField(Schedule, null=True, on_delete="RESTRICT", field=Schedule.id)
    migrate(
        migrator.add_column("person", "schedule_id", schedule),
        migrator.add_column("person", "valid_from", TextField(null=True)),
        migrator.add_column("person", "valid_until", TextField(null=True)),
        migrator.add_column("attempt", "reason", TextField(null=True)),
    )
    SchemaManager(Visitor, database=db).create_all(safe=False)


def _v5_to_v6(migrator: SchemaMigrator, backend: Backend) -> None:
    """Schema v6 records the live score of each template's face, ``face_encoding.live_score``
    (NULL for existing encodings: not measured, or measured and not kept before v6)."""
    migrate(migrator.add_column("face_encoding", "live_score", FloatField(null=True)))


#: Upgrade steps: from version ``v`` (the key) to ``v + 1``.
MIGRATIONS: dict[int, Callable[[SchemaMigrator, Backend], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    5: _v5_to_v6,
}


def upgrade(backend: Backend, db: Database, from_version: int) -> None:
    """Migrate ``db`` from ``from_version`` to ``SCHEMA_VERSION`` (inside the backend's schema
    transaction)."""
    if not db.in_transaction():
        raise RuntimeError("upgrade must run inside a write transaction")
    migrator = SchemaMigrator.from_database(db)
    for version in range(from_version, SCHEMA_VERSION):
        MIGRATIONS[version](migrator, backend)
        SchemaVersion.insert(version=version + 1, applied=utc_now()).execute(db)
