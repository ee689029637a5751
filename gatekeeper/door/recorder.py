"""Door events into the audit chain, off every other thread: action outcomes, alerts and their
acknowledgements become chained admin events (``Store.log_admin_event``) written in order by
one thread of their own (a :class:`~gatekeeper.store.queued.QueuedWriter`).

While the store refuses writes (database locked, disk full, a forged head...) events wait in a
queue and are retried every :data:`RETRY_INTERVAL_S` seconds, oldest first, so the chain keeps
their order. More than :data:`MAX_PENDING` waiting: the oldest is dropped, counted and logged
with its detail (an ERROR line in the log: nothing is lost silently). Whatever still waits when
the recorder is closed is logged the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from gatekeeper.store.queued import QueuedWriter

#: Seconds between two tries to write door events the store refused.
RETRY_INTERVAL_S = 1.0
#: Door events waiting for the store beyond this many: the oldest is dropped (and logged).
MAX_PENDING = 1000


class EventLog(Protocol):
    """What the recorder needs of the store."""

    def log_admin_event(self, kind: str, detail: str) -> None: ...


def detail_text(detail: dict[str, Any]) -> str:
    """An event's detail as stored: one compact JSON object, keys in the order given."""
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"))


class AuditRecorder(QueuedWriter[tuple[str, str]]):
    """Writes ``(kind, detail)`` admin events on its own thread; :meth:`record` never blocks.

    ``on_problem(message)`` is called (on the recorder's thread) when the store refuses a
    write, with how many events wait, and again when the delayed events are written.
    """

    def __init__(
        self,
        store: EventLog,
        *,
        on_problem: Callable[[str], None] | None = None,
        retry_s: float = RETRY_INTERVAL_S,
        max_pending: int = MAX_PENDING,
    ) -> None:
        super().__init__(
            lambda event: store.log_admin_event(*event),
            name="door-recorder",
            what="door events",
            max_pending=max_pending,
            retry_s=retry_s,
            describe=" ".join,
            on_problem=on_problem,
        )

    def record(self, kind: str, detail: dict[str, Any]) -> None:
        """Queue one admin event of ``kind`` (``action``, ``alert``, ``alert_ack``)."""
        self.put((kind, detail_text(detail)))
