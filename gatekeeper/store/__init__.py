"""Gatekeeper's persistent store: people, face encodings, the attempt log and admin events in
SQLite or PostgreSQL (peewee), kept enrolment photos on disk, a tamper-evident audit chain and
CSV export.

The store never imports vision code: embeddings arrive as ``float32 (128,)`` numpy arrays.
"""

from gatekeeper.store.attempts import AttemptFilter, AttemptRow, NewAttempt
from gatekeeper.store.audit import ChainBreak, ChainReport
from gatekeeper.store.encodings import GalleryData, KeptPhoto, NewEncoding
from gatekeeper.store.export import export_csv
from gatekeeper.store.models import DECISIONS, SCHEMA_VERSION
from gatekeeper.store.names import MAX_NAME_LENGTH, validate_name
from gatekeeper.store.people import PersonInfo, RemovalReport
from gatekeeper.store.store import Store, open_store
from gatekeeper.store.visitors import KEPT_DECISIONS, VisitorRow

__all__ = [
    "DECISIONS",
    "KEPT_DECISIONS",
    "MAX_NAME_LENGTH",
    "SCHEMA_VERSION",
    "AttemptFilter",
    "AttemptRow",
    "ChainBreak",
    "ChainReport",
    "GalleryData",
    "KeptPhoto",
    "NewAttempt",
    "NewEncoding",
    "PersonInfo",
    "RemovalReport",
    "Store",
    "VisitorRow",
    "export_csv",
    "open_store",
    "validate_name",
]
