"""The audit chain's hash format, frozen: the canonical encoding of fixed rows, their digests,
the links between them and the head signature, compared with the literal values the format
produced when it was frozen. Every chain ever written verifies only while these hold: a change
to the encoding, the column order or the attempt's stored values fails here first."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from gatekeeper.store import NewAttempt, Store
from gatekeeper.store.chain import CHAINED_COLUMNS, GENESIS_HASH, canonical, row_hash, sign_head
from gatekeeper.store.models import Attempt

#: A denied attempt with every chained column set (a non-ASCII name, a float without a short
#: decimal form, a reason: schema v5's added column).
DENIED = NewAttempt(
    camera_id="front-door",
    decision="denied",
    threshold=0.6,
    model_id="dlib_resnet_v1",
    name="José Núñez",
    person_id=7,
    distance=0.1 + 0.2,
    box=(10, 20, 110, 120),
    time=datetime(2026, 12, 1, 10, 14, 2, 123456, tzinfo=UTC),
    reason="outside schedule",
)
DENIED_VALUES = (
    "2026-12-01T10:14:02.123456+00:00",
    "front-door",
    "José Núñez",
    0.30000000000000004,
    0.6,
    "denied",
    "dlib_resnet_v1",
    10,
    20,
    110,
    120,
    "outside schedule",
)
DENIED_CANONICAL = (
    '["attempt",41,"' + GENESIS_HASH + '","2026-12-01T10:14:02.123456+00:00","front-door",'
    '"José Núñez",0.30000000000000004,0.6,"denied","dlib_resnet_v1",10,20,110,120,'
    '"outside schedule"]'
)
DENIED_HASH = "3c8da0bf19c0680787b57f051f01f8e8baacbf8b99c03fbe49141bd9605f415c"

#: An unknown face with nothing to compare, no box and no reason: the trailing NULL of the added
#: ``reason`` column is left out of the encoding (rows from before v5 keep their hashes).
UNKNOWN = NewAttempt(
    camera_id="lobby",
    decision="unknown",
    threshold=0.55,
    model_id="facenet",
    time=datetime(2026, 12, 1, 10, 14, 3, tzinfo=UTC),
)
UNKNOWN_CANONICAL = (
    '["attempt",42,"' + DENIED_HASH + '","2026-12-01T10:14:03.000000+00:00","lobby",null,null,'
    '0.55,"unknown","facenet",null,null,null,null]'
)
UNKNOWN_HASH = "1e5b7663bc5d8cd07147d0221329c780b20b24de53f3c28e1212ad004b823411"

EVENT = ("2026-12-01T10:15:00.000000+00:00", "threshold", "operator", "0.6 -> 0.55")
EVENT_CANONICAL = (
    '["admin_event",43,"' + UNKNOWN_HASH + '","2026-12-01T10:15:00.000000+00:00","threshold",'
    '"operator","0.6 -> 0.55"]'
)
EVENT_HASH = "64fe893b6d533f76d6f4cbdd1718a2c4f3b8e13f3c92631d673ee6639f05070d"
HEAD_SIGNATURE = "28c6dede14df0636eab853c92c4080e24cca872d319bb2c340005beb56eb4151"


def _chained(attempt: NewAttempt) -> tuple:
    """The chained values of ``attempt`` as the store writes them."""
    return attempt.chain_row("unused")[: len(CHAINED_COLUMNS["attempt"])]


def test_the_chained_columns_are_frozen() -> None:
    assert CHAINED_COLUMNS == {
        "attempt": (
            "time",
            "camera_id",
            "person_name",
            "distance",
            "threshold",
            "decision",
            "model_id",
            "box_x",
            "box_y",
            "box_w",
            "box_h",
            "reason",
        ),
        "admin_event": ("time", "kind", "os_user", "detail"),
    }


def test_an_attempt_is_encoded_and_hashed_as_when_the_format_was_frozen() -> None:
    values = _chained(DENIED)
    assert values == DENIED_VALUES
    assert canonical("attempt", 41, GENESIS_HASH, values) == DENIED_CANONICAL
    assert row_hash("attempt", 41, GENESIS_HASH, values) == DENIED_HASH


def test_a_chain_links_and_its_head_is_signed_as_when_the_format_was_frozen() -> None:
    unknown = _chained(UNKNOWN)
    assert canonical("attempt", 42, DENIED_HASH, unknown) == UNKNOWN_CANONICAL
    assert row_hash("attempt", 42, DENIED_HASH, unknown) == UNKNOWN_HASH
    assert canonical("admin_event", 43, UNKNOWN_HASH, EVENT) == EVENT_CANONICAL
    assert row_hash("admin_event", 43, UNKNOWN_HASH, EVENT) == EVENT_HASH
    assert sign_head(b"test-key", 43, EVENT_HASH) == HEAD_SIGNATURE


def test_the_store_keeps_exactly_the_frozen_values_and_hashes_them(store: Store) -> None:
    """Recorded through the store and read back as stored (both backends), the attempt's
    chained values are the frozen ones and its hash is theirs under its own link."""
    attempt_id = store.record_attempt(**asdict(DENIED))
    columns = [getattr(Attempt, name) for name in CHAINED_COLUMNS["attempt"]]
    query = Attempt.select(Attempt.seq, Attempt.prev_hash, Attempt.row_hash, *columns)
    seq, prev, stored, *values = store._db.execute(query.where(Attempt.id == attempt_id)).fetchone()
    assert tuple(values) == DENIED_VALUES
    assert stored == row_hash("attempt", seq, prev, DENIED_VALUES)
