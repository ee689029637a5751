"""Door events into the audit chain, off every other thread: action outcomes, alerts and their
acknowledgements become chained admin events (``Store.log_admin_event``) written in order by
one thread of their own.

While the store refuses writes (database locked, disk full, a forged head...) events wait in a
queue and are retried every :data:`RETRY_INTERVAL_S` seconds, oldest first, so the chain keeps
their order. More than :data:`MAX_PENDING` waiting: the oldest is dropped, counted and logged
with its detail (an ERROR line in the log: nothing is lost silently). Whatever still waits when
the recorder is closed is logged the same way.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from gatekeeper.errors import StoreError

log = logging.getLogger(__name__)

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


class AuditRecorder:
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
        self._store = store
        self._on_problem = on_problem
        self._retry_s = retry_s
        self._max_pending = max_pending
        self._pending: deque[tuple[str, str]] = deque()
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.recorded = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Events waiting to be written."""
        return len(self._pending)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="door-recorder", daemon=True)
            self._thread.start()

    def record(self, kind: str, detail: dict[str, Any]) -> None:
        """Queue one admin event of ``kind`` (``action``, ``alert``, ``alert_ack``)."""
        text = detail_text(detail)
        with self._condition:
            if self._closed:
                log.error("door event not recorded (recorder closed): %s %s", kind, text)
                return
            if len(self._pending) >= self._max_pending:
                lost = self._pending.popleft()
                self.dropped += 1
                log.error("door events queue full: dropped %s %s", *lost)
            self._pending.append((kind, text))
            self._condition.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Write what waits (one more try each, when the store refused the last), then stop;
        waits at most ``timeout`` seconds. Events left unwritten are logged as errors."""
        self._stop.set()
        with self._condition:
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._condition:
            self._closed = True
            left = list(self._pending)
            self._pending.clear()
        if left:
            log.error("%d door events could not be recorded in the audit log:", len(left))
            for kind, text in left:
                log.error("  unrecorded %s %s", kind, text)

    def _run(self) -> None:
        failing, delayed = False, 0  # since the store last refused: events written late
        while True:
            with self._condition:
                while not self._pending and not self._stop.is_set():
                    self._condition.wait()
                if not self._pending:
                    return
                item = self._pending[0]
            kind, text = item
            try:
                self._store.log_admin_event(kind, text)
            except StoreError as exc:
                log.warning("cannot record door events: %s", exc)
                failing = True
                self._problem(f"cannot record door events ({exc}); {len(self._pending)} waiting")
                if self._stop.is_set() or self._stop.wait(self._retry_s):
                    return
                continue
            except Exception:
                log.exception("door event dropped, it cannot be recorded: %s %s", kind, text)
                with self._condition:
                    self._remove(item)
                    self.dropped += 1
                continue
            with self._condition:
                self._remove(item)
                self.recorded += 1
                delayed += failing
                caught_up = failing and not self._pending
            if caught_up:
                log.info("recorded %d delayed door events", delayed)
                self._problem(f"recorded {delayed} delayed door events")
                failing, delayed = False, 0

    def _remove(self, item: tuple[str, str]) -> None:
        """Take the event just handled off the queue (unless ``close`` emptied it meanwhile)."""
        if self._pending and self._pending[0] is item:
            self._pending.popleft()

    def _problem(self, message: str) -> None:
        if self._on_problem is not None:
            try:
                self._on_problem(message)
            except Exception:
                log.exception("door problem callback failed")
