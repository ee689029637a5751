"""The database schema as peewee models (schema version 5).

Models are declared without a database: a ``Store`` binds each query to its own database
(``query.bind(db)``), so two stores (say, an import source and the live database) can be open in
one process without a global binding.

Tables
------
``person``          one row per enrolled person; ``name`` is unique and names the folder of the
                    kept photos (``images/<name>/``, ``names.photo_folder``); optionally a
                    ``schedule`` and the local dates ``valid_from`` / ``valid_until`` (v5).
``schedule``        a named weekly access schedule shared by several people (v5).
``schedule_window`` one weekly time window of a schedule: a weekday and a minute range (v5).
``face_encoding``   128 float32 embedding (512-byte little-endian blob) per (person, model id,
                    source image SHA-256), with the quality of the face it came from;
                    deleted with the person (ON DELETE CASCADE).
``attempt``         every recognition attempt; keeps ``person_name`` as it was, and its person
                    reference becomes NULL when the person is erased (ON DELETE SET NULL).
``admin_event``     every administrative change (enrol, remove, export, threshold...).
``visitor``         the face crop kept for an ``unknown``/``spoof``/``denied`` attempt, for review
                    (v5); deleted when it expires or is dismissed.
``chain_head``      one row: the audit chain's newest sequence number, hash and HMAC signature.
``setting``         key/value text: ``threshold`` (site L2 distance threshold) and
                    ``gallery_version`` (counter bumped on every people/encoding change).
``schema_version``  one row per applied schema version; the highest is the current one.

``attempt`` and ``admin_event`` carry the audit-chain columns ``seq``, ``prev_hash`` and
``row_hash``; see ``gatekeeper.store.audit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from peewee import (
    BlobField,
    BooleanField,
    Check,
    Field,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from gatekeeper.errors import UsageError

#: The schema version this code creates and expects; older databases are migrated on open.
SCHEMA_VERSION = 6

#: Attempt decisions: access granted; recognised but refused (e.g. deactivated); not recognised;
#: recognised but judged not live (a photo or a screen held up to the camera: schema v4).
DECISIONS = ("granted", "denied", "unknown", "spoof")
#: The attempt table's CHECK constraint on ``decision``.
DECISION_CHECK = "decision IN ({})".format(", ".join(f"'{d}'" for d in DECISIONS))

#: Length of an embedding and its stored form (little-endian float32, 4 bytes per value).
EMBEDDING_SIZE = 128
EMBEDDING_DTYPE = "<f4"


def to_db_time(value: datetime) -> str:
    """A timezone-aware datetime as stored: fixed-width ISO-8601 UTC text (32 characters).

    ``2026-11-28T14:02:45.123456+00:00``: text order is time order, so indexes and range
    queries work on the text; a naive datetime is refused because its zone is unknown.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(f"time {value.isoformat()} has no time zone; give a UTC-aware datetime")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(value: str) -> datetime:
    """The UTC-aware datetime of a stored time text (inverse of ``to_db_time``)."""
    return datetime.fromisoformat(value)


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


class UtcDateTimeField(Field):
    """A UTC-aware datetime stored as fixed-width ISO-8601 text (see ``to_db_time``)."""

    field_type = "TEXT"

    def db_value(self, value: Any) -> str | None:
        return None if value is None else to_db_time(value)

    def python_value(self, value: Any) -> datetime | None:
        return None if value is None else from_db_time(value)


class _Model(Model):
    class Meta:
        database = None
        legacy_table_names = False


class Schedule(_Model):
    """A named weekly access schedule (schema v5); people assigned to it may enter only inside
    one of its windows, in the site's time zone."""

    name = TextField(unique=True)
    description = TextField(default="")
    created = UtcDateTimeField()


class ScheduleWindow(_Model):
    """One weekly window of a schedule: ``weekday`` 0 (Monday) to 6, local wall-clock minutes
    ``start_minute`` (inclusive, 0–1439) to ``end_minute`` (exclusive, 1–1440) of that day.
    A window across midnight is stored as two windows."""

    schedule = ForeignKeyField(Schedule, on_delete="CASCADE")
    weekday = IntegerField(constraints=[Check("weekday BETWEEN 0 AND 6")])
    start_minute = IntegerField(constraints=[Check("start_minute BETWEEN 0 AND 1439")])
    end_minute = IntegerField(
        constraints=[Check("end_minute BETWEEN 1 AND 1440"), Check("end_minute > start_minute")]
    )


class Person(_Model):
    """An enrolled person. ``name`` is validated by ``validate_name`` (NFC, no separators).

    ``schedule`` (None: any time) limits when they may enter; ``valid_from`` / ``valid_until``
    are inclusive local dates as ISO text (``2026-12-01``; None: no limit), in the site's time
    zone (schema v5).
    """

    name = TextField(unique=True)
    display_name = TextField()
    created = UtcDateTimeField()
    active = BooleanField(default=True)
    schedule = ForeignKeyField(Schedule, null=True, on_delete="RESTRICT")
    valid_from = TextField(null=True)
    valid_until = TextField(null=True)


class FaceEncoding(_Model):
    """One embedding of one source image of one person under one model id."""

    person = ForeignKeyField(Person, on_delete="CASCADE", index=False)
    model_id = TextField()
    embedding = BlobField()
    image_sha256 = TextField()
    photo_path = TextField(null=True)
    created = UtcDateTimeField()
    # The face's quality at enrolment (``vision/quality.py``); NULL for encodings made before
    # schema v3 until ``reencode`` measures them. ``low_quality``: below the enrolment bar.
    face_px = IntegerField(null=True)
    sharpness = FloatField(null=True)
    pose = FloatField(null=True)
    detector_score = FloatField(null=True)
    # The liveness model's score of the enrolment face (schema v6; NULL when not measured):
    # recorded for a photo file, whose enrolment it never refuses (a badge photo is a photo).
    live_score = FloatField(null=True)
    low_quality = BooleanField(null=True)

    class Meta:
        indexes = (
            (("person", "model_id", "image_sha256"), True),
            (("model_id",), False),
        )


class Attempt(_Model):
    """A recognition attempt at a camera, with the decision taken and the values behind it.

    ``distance`` and ``threshold`` are L2 distances between embeddings; ``box_*`` is the face box
    in integer pixels of the camera frame.
    """

    seq = IntegerField(unique=True)
    time = UtcDateTimeField()
    camera_id = TextField()
    person = ForeignKeyField(Person, null=True, on_delete="SET NULL", index=False)
    person_name = TextField(null=True)
    distance = FloatField(null=True)
    threshold = FloatField()
    decision = TextField(constraints=[Check(DECISION_CHECK)])
    model_id = TextField()
    box_x = IntegerField(null=True)
    box_y = IntegerField(null=True)
    box_w = IntegerField(null=True)
    box_h = IntegerField(null=True)
    # Why a recognised person was not granted ("outside schedule", "deactivated"...), schema v5.
    reason = TextField(null=True)
    prev_hash = TextField()
    row_hash = TextField()

    class Meta:
        indexes = (
            (("time",), False),
            (("person_name", "time"), False),
            (("person", "time"), False),
            (("camera_id", "time"), False),
            (("decision", "time"), False),
        )


@dataclass(frozen=True)
class AttemptColumn:
    """One stored column of an attempt: whether the audit chain covers it (``chained``) and its
    place and header in the CSV export (``csv``: ``(position, header)``; None: not exported),
    ``text`` when its cells are neutralised there (text a camera or a person can bring)."""

    name: str
    chained: bool = True
    csv: tuple[int, str] | None = None
    text: bool = False


#: The attempt's stored columns, declared once, in the order they are read
#: (``ATTEMPT_FIELDS``). The chained ones, in this order, are what the row hash covers
#: (``audit.CHAINED_COLUMNS["attempt"]``: frozen with the hash format, ``reason`` added last in
#: schema v5); the CSV export's header and cells follow ``csv`` (``export.HEADER``).
ATTEMPT_COLUMNS: tuple[AttemptColumn, ...] = (
    AttemptColumn("id", chained=False, csv=(0, "id")),
    AttemptColumn("seq", chained=False),
    AttemptColumn("time", csv=(1, "time")),
    AttemptColumn("camera_id", csv=(2, "camera_id"), text=True),
    AttemptColumn("person_id", chained=False),
    AttemptColumn("person_name", csv=(3, "person"), text=True),
    AttemptColumn("distance", csv=(5, "distance")),
    AttemptColumn("threshold", csv=(6, "threshold")),
    AttemptColumn("decision", csv=(4, "decision"), text=True),
    AttemptColumn("model_id", csv=(7, "model_id"), text=True),
    AttemptColumn("box_x", csv=(8, "box_x")),
    AttemptColumn("box_y", csv=(9, "box_y")),
    AttemptColumn("box_w", csv=(10, "box_w")),
    AttemptColumn("box_h", csv=(11, "box_h")),
    AttemptColumn("reason", csv=(12, "reason"), text=True),
)
#: The stored attempt values ``Store.iter_attempt_values`` yields, in order.
ATTEMPT_FIELDS = tuple(column.name for column in ATTEMPT_COLUMNS)
#: The attempt's columns the audit chain covers, in canonical order.
ATTEMPT_CHAINED = tuple(column.name for column in ATTEMPT_COLUMNS if column.chained)


class AdminEvent(_Model):
    """An administrative change: ``kind`` (enrol, remove, export...), who (OS user), what."""

    seq = IntegerField(unique=True)
    time = UtcDateTimeField(index=True)
    kind = TextField()
    os_user = TextField()
    detail = TextField()
    prev_hash = TextField()
    row_hash = TextField()


#: Review states of a kept visitor crop.
VISITOR_STATUSES = ("new", "enrolled")
VISITOR_STATUS_CHECK = "status IN ({})".format(", ".join(f"'{s}'" for s in VISITOR_STATUSES))


class Visitor(_Model):
    """The face crop of an ``unknown``, ``spoof`` or ``denied`` attempt, kept for review
    (schema v5): ``crop`` is a JPEG of the face box with a margin, ``width`` x ``height``
    pixels. The row (biometric data) is deleted when it expires or is dismissed; the attempt
    stays. ``status`` ``enrolled`` marks a crop enrolled as ``enrolled_name``."""

    attempt = ForeignKeyField(Attempt, unique=True, on_delete="CASCADE")
    kept = UtcDateTimeField(index=True)
    crop = BlobField()
    width = IntegerField()
    height = IntegerField()
    status = TextField(default="new", constraints=[Check(VISITOR_STATUS_CHECK)])
    enrolled_name = TextField(null=True)


class ChainHead(_Model):
    """The single row (id 1) holding the newest chain sequence number, hash and signature."""

    id = IntegerField(primary_key=True, constraints=[Check("id = 1")])
    seq = IntegerField()
    hash = TextField()
    signature = TextField(null=True)


#: ``setting`` keys: the site threshold (L2 distance, float text) and the gallery counter
#: (integer text, bumped whenever people or encodings change).
THRESHOLD_KEY = "threshold"
GALLERY_VERSION_KEY = "gallery_version"


class Setting(_Model):
    """Key/value settings stored as text (keys above)."""

    key = TextField(primary_key=True)
    value = TextField()


class SchemaVersion(_Model):
    """One row per schema version applied to this database, with when it was applied."""

    version = IntegerField(primary_key=True)
    applied = UtcDateTimeField()


#: Every model, in creation order (referenced tables first).
MODELS: tuple[type[Model], ...] = (
    Schedule,
    ScheduleWindow,
    Person,
    FaceEncoding,
    Attempt,
    AdminEvent,
    Visitor,
    ChainHead,
    Setting,
    SchemaVersion,
)
