"""State records: the site's live state (settings, people, the gallery) tied to the audit chain.

The hash chain covers the history (attempts and admin events), but what decides at the door is
the current state: the threshold, who is active, which templates are enrolled. Those are plain
rows that SQL could change without touching the chain. So every change made through the store
ends with a chained ``state`` admin event whose detail holds a digest of each part of the
state as it now is::

    threshold 0.55, 3 people (2 active), 7 encodings; settings:<sha256> people:<sha256>
    encodings:<sha256>

(one line). ``audit verify`` recomputes the digests and compares them with the newest state
record in the chain; a writer compares them before changing anything, so a change made behind
the store's back is not blessed by the next ordinary one.

What each digest covers (SHA-256 of the part's name followed by the compact JSON array of its
rows, each row an array, in a fixed order):

- ``settings``: every ``setting`` row (key, value) except the ``gallery_version`` counter;
- ``people``: every person's name, display name and active flag;
- ``encodings``: every encoding's person name, model id, source-image SHA-256, kept-photo
  path and the SHA-256 of its embedding blob, in id order;
- ``schedules`` (schema v5): every access schedule's name with each of its windows (weekday,
  start and end minute; a schedule without windows as one row of NULLs);
- ``access`` (schema v5): the schedule name and validity dates of every person who has any.

Parts added later (:data:`ADDED_PARTS`) are missing from the records written before they
existed: such a record stands for the part's empty digest, which a database migrated to them
(empty schedules, nobody limited) has, so it still verifies.

Not covered: row ids, creation times, the gallery counter, the kept photo files themselves
(their source image's SHA-256 is), schedule descriptions, and columns added to these tables
later unless listed here.
Every database is created with a state record. A chain without one stands for the empty state;
a database written before state records existed is adopted (its state recorded as found, trust
on first use) the first time it is opened for writing.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from gatekeeper.store.models import GALLERY_VERSION_KEY, THRESHOLD_KEY

#: The ``admin_event.kind`` of state records; only the store writes it.
STATE_KIND = "state"

#: The parts of the state, in the order they are recorded, with the query listing each one's
#: rows in a fixed order (the embedding blob, when present, is last and hashed on its own).
PARTS: dict[str, str] = {
    "settings": "SELECT key, value FROM setting WHERE key != ? ORDER BY key",
    "people": "SELECT name, display_name, active FROM person ORDER BY name",
    "encodings": (
        "SELECT p.name, e.model_id, e.image_sha256, e.photo_path, e.embedding "
        "FROM face_encoding e LEFT JOIN person p ON p.id = e.person_id ORDER BY e.id"
    ),
    "schedules": (
        "SELECT s.name, w.weekday, w.start_minute, w.end_minute FROM schedule s "
        "LEFT JOIN schedule_window w ON w.schedule_id = s.id "
        "ORDER BY s.name, w.weekday, w.start_minute, w.end_minute"
    ),
    "access": (
        "SELECT p.name, s.name, p.valid_from, p.valid_until FROM person p "
        "LEFT JOIN schedule s ON s.id = p.schedule_id WHERE p.schedule_id IS NOT NULL "
        "OR p.valid_from IS NOT NULL OR p.valid_until IS NOT NULL ORDER BY p.name"
    ),
}
#: The parts added after the first state records, at the end of ``PARTS``: a record without
#: one of them stands for its empty digest.
ADDED_PARTS = ("schedules", "access")

#: Rows read and encoded per step (the digest does not depend on it).
_CHUNK = 5000

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

_RECORD_RE = re.compile(
    " ".join(f"{part}:(?P<{part}>[0-9a-f]{{64}})" for part in PARTS if part not in ADDED_PARTS)
    + "".join(f"(?: {part}:(?P<{part}>[0-9a-f]{{64}}))?" for part in ADDED_PARTS)
    + "$"
)


@dataclass(frozen=True)
class State:
    """The digests of the site's state (``PARTS`` → SHA-256 hex) and a line for people."""

    digests: dict[str, str]
    summary: str

    def record(self) -> str:
        """The detail of the ``state`` admin event recording this state."""
        digests = " ".join(f"{part}:{self.digests[part]}" for part in PARTS)
        return f"{self.summary}; {digests}"


#: The state of a new site: no settings, nobody, no encodings.
EMPTY_DIGESTS = {part: hashlib.sha256(f"{part}[]".encode("ascii")).hexdigest() for part in PARTS}


def current(
    connection: sqlite3.Connection,
    parts: Iterable[str] = PARTS,
    unchanged: State | None = None,
) -> State:
    """The digests of the state as stored now (read in the caller's transaction).

    Only ``parts`` are read; the others are taken from ``unchanged``, a state known to hold
    for them (the one checked before a change that cannot touch them). Costs a few
    microseconds per row: an encoding's 512-byte embedding is hashed on its own.
    """
    digests = {} if unchanged is None else dict(unchanged.digests)
    for part in parts:
        sql = PARTS[part]
        digest = hashlib.sha256(f"{part}[".encode("ascii"))
        cursor = connection.execute(sql, (GALLERY_VERSION_KEY,) if "?" in sql else ())
        separator = b""
        while rows := cursor.fetchmany(_CHUNK):
            if part == "encodings":
                rows = [(*row[:-1], hashlib.sha256(row[-1]).hexdigest()) for row in rows]
            digest.update(separator + _encode(rows)[1:-1].encode("utf-8"))
            separator = b","
        digest.update(b"]")
        digests[part] = digest.hexdigest()
    return State(digests, _summary(connection))


def _summary(connection: sqlite3.Connection) -> str:
    threshold = connection.execute(
        "SELECT value FROM setting WHERE key = ?", (THRESHOLD_KEY,)
    ).fetchone()
    people, active = connection.execute(
        "SELECT COUNT(*), COALESCE(SUM(active != 0), 0) FROM person"
    ).fetchone()
    (encodings,) = connection.execute("SELECT COUNT(*) FROM face_encoding").fetchone()
    shown = "unset" if threshold is None else threshold[0]
    return f"threshold {shown}, {people} people ({active} active), {encodings} encodings"


@dataclass(frozen=True)
class Recorded:
    """The newest state record in the chain: its row, sequence number and digests."""

    row_id: int
    seq: int
    digests: dict[str, str]


def recorded(connection: sqlite3.Connection, head_seq: int | None = None) -> Recorded | None:
    """The newest state record (at or before ``head_seq`` if given), or None if there is none.
    A ``state`` event whose detail is not a state record counts as a record of nothing."""
    bound, params = ("", ()) if head_seq is None else (" AND seq <= ?", (head_seq,))
    row = connection.execute(
        f"SELECT id, seq, detail FROM admin_event WHERE kind = ?{bound} ORDER BY seq DESC LIMIT 1",
        (STATE_KIND, *params),
    ).fetchone()
    if row is None:
        return None
    found = _RECORD_RE.search(row[2])
    digests = {} if found is None else found.groupdict()
    digests = {part: digest or EMPTY_DIGESTS[part] for part, digest in digests.items()}
    return Recorded(row[0], row[1], digests)


def differences(state: State, record: Recorded | None) -> list[str]:
    """The parts of ``state`` that differ from ``record`` (None: the empty state)."""
    expected = EMPTY_DIGESTS if record is None else record.digests
    return [part for part in PARTS if expected.get(part) != state.digests[part]]
