"""What the door is told: one :class:`DoorEvent` per access decision or raised alert, and the
JSON payload every action receives.

The payload is one JSON object (UTF-8, no whitespace between tokens) whose keys are always all
present, ``null`` when they do not apply:

``decision``    ``granted``, ``denied``, ``unknown``, ``spoof`` or ``alert``.
``name``        the recognised person's name (``granted``, ``denied``, ``spoof``); ``null`` for an
                unknown face and for alerts.
``distance``    the L2 distance between the face's dlib embedding and the person's closest
                template (the median over the frames that voted); ``null`` for alerts.
``threshold``   the site's dlib L2 distance threshold the face was judged at; ``null`` for alerts.
``camera``      the camera id (``camera_id`` setting) the decision or alert belongs to.
``time``        when: the capture time of the deciding frame (for alerts, when it was raised), as
                ISO-8601 UTC text with microseconds, e.g. ``2026-12-01T10:08:45.123456+00:00``.
``attempt_id``  the id of the recorded attempt in the access log; ``null`` while the database
                cannot be written (the attempt waits in the live worker's retry queue and is
                recorded later with this same ``time``), and for alerts not caused by one attempt.
``reason``      why a ``denied`` decision was made, as recorded with the attempt
                (``deactivated``, ``outside schedule staff``...); ``null`` otherwise.
``rule``        for alerts: the name of the alert rule that raised it; ``null`` otherwise.
``message``     for alerts: what happened, in one line for a person; ``null`` otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Every decision an action may fire on (``on`` in the config), in the order of the docs.
DOOR_DECISIONS = ("granted", "denied", "unknown", "spoof", "alert")
#: The payload's keys, in order.
PAYLOAD_FIELDS = (
    "decision",
    "name",
    "distance",
    "threshold",
    "camera",
    "time",
    "attempt_id",
    "reason",
    "rule",
    "message",
)


@dataclass(frozen=True)
class DoorEvent:
    """One decision or alert for the actions; see the module docstring for every field.

    ``time`` must be timezone-aware (it is stored and sent as UTC); ``distance`` and
    ``threshold`` are L2 distances (``None`` for alerts).
    """

    decision: str
    camera: str
    time: datetime
    name: str | None = None
    distance: float | None = None
    threshold: float | None = None
    attempt_id: int | None = None
    reason: str | None = None
    rule: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in DOOR_DECISIONS:
            raise ValueError(f"unknown door decision {self.decision!r}")
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError(f"time {self.time.isoformat()} has no time zone")
        object.__setattr__(self, "time", self.time.astimezone(UTC))

    def fields(self) -> dict[str, Any]:
        """The payload as a dict (``time`` as ISO-8601 UTC text), keys in
        :data:`PAYLOAD_FIELDS` order."""
        values = {key: getattr(self, key) for key in PAYLOAD_FIELDS}
        values["time"] = self.time.isoformat(timespec="microseconds")
        return values

    def payload(self) -> bytes:
        """The exact bytes every action sends (and a webhook signs): compact JSON, UTF-8."""
        return json.dumps(self.fields(), ensure_ascii=False, separators=(",", ":")).encode()

    def environment(self) -> dict[str, str]:
        """The payload as environment variables for a command: ``GATEKEEPER_<FIELD>`` for each
        field (``GATEKEEPER_DECISION``, ``GATEKEEPER_NAME``, ``GATEKEEPER_DISTANCE``...), the
        empty string for ``null``, numbers in Python's shortest round-trip form."""
        return {
            f"GATEKEEPER_{key.upper()}": "" if value is None else str(value)
            for key, value in self.fields().items()
        }

    def summary(self) -> str:
        """A short label for the operator: ``granted lin at door``, ``alert spoof at door``."""
        who = self.rule if self.decision == "alert" else self.name
        return f"{self.decision}{f' {who}' if who else ''} at {self.camera}"
