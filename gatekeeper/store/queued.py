"""Writes to the store off the caller's thread: in order, and retried while the store refuses.

The live worker and the door hand over what they must record (a visitor's face crop, an
action's outcome, an alert) and go on at once. A :class:`QueuedWriter` writes each item on a
thread of its own, oldest first. A write the store refuses for now (:class:`StoreError`: locked,
down, disk full, a forged head) is tried again every ``retry_s`` seconds and the later items
wait behind it, so they reach the store, and the audit chain, in the order they were handed
over. An item the store rejects for good (any other error) is logged and dropped. At most
``max_pending`` items wait: beyond that the oldest is dropped, counted and logged. :meth:`close`
gives what waits one more try and logs what is left: nothing is lost silently.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from gatekeeper.errors import GatekeeperError, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")


class QueuedWriter(Generic[T]):
    """Runs ``write(item)`` for every item :meth:`put`, in order, on a thread named ``name``.

    ``what`` names the items in messages ("door events"). ``describe(item)`` is the text an
    item is logged with when it is dropped or left unwritten; without it items are only counted
    (a visitor's crop is biometric data: never in a log line). ``on_problem(message)`` is called
    on the writer's thread when the store refuses a write, with how many items wait, and again
    once the delayed items are written.
    """

    def __init__(
        self,
        write: Callable[[T], None],
        *,
        name: str,
        what: str,
        max_pending: int,
        retry_s: float,
        describe: Callable[[T], str] | None = None,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self._write = write
        self._name = name
        self._what = what
        self._max_pending = max_pending
        self._retry_s = retry_s
        self._describe = describe
        self._on_problem = on_problem
        self._pending: deque[T] = deque()
        self._condition = threading.Condition()
        self._closing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Items waiting to be written."""
        return len(self._pending)

    def start(self) -> None:
        """Start the writing thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def put(self, item: T) -> None:
        """Queue ``item``; returns at once."""
        with self._condition:
            if self._closed:
                log.error("%s: not recorded (closed)%s", self._what, self._text(item))
                return
            if len(self._pending) >= self._max_pending:
                lost = self._pending.popleft()
                self.dropped += 1
                log.error("%s: queue full, dropped the oldest%s", self._what, self._text(lost))
            self._pending.append(item)
            self._condition.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Write what waits (one more try when the store refused the last), then stop; waits at
        most ``timeout`` seconds. Items left unwritten are logged as errors."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._condition:
            self._closed = True
            left = list(self._pending)
            self._pending.clear()
        if left:
            log.error("%d %s could not be recorded", len(left), self._what)
            if self._describe is not None:
                for item in left:
                    log.error("  unrecorded %s", self._describe(item))

    def _text(self, item: T) -> str:
        return f": {self._describe(item)}" if self._describe is not None else ""

    def _run(self) -> None:
        failing, delayed = False, 0  # since the store last refused: items written late
        while True:
            with self._condition:
                while not self._pending and not self._closing:
                    self._condition.wait()
                if not self._pending:
                    return
                item, closing = self._pending[0], self._closing
            try:
                self._write(item)
            except StoreError as exc:
                log.warning("cannot record %s yet: %s", self._what, exc)
                failing = True
                self._problem(f"cannot record {self._what} ({exc}); {self.pending} waiting")
                if closing:
                    return
                with self._condition:
                    self._condition.wait_for(lambda: self._closing, self._retry_s)
                continue
            except GatekeeperError as exc:
                log.error(
                    "%s: dropped one the store rejects (%s)%s", self._what, exc, self._text(item)
                )
                self._done(item, written=False)
                continue
            except Exception:
                log.exception(
                    "%s: dropped one that cannot be recorded%s", self._what, self._text(item)
                )
                self._done(item, written=False)
                continue
            self._done(item, written=True)
            delayed += failing
            if failing and not self._pending:
                log.info("recorded %d delayed %s", delayed, self._what)
                self._problem(f"recorded {delayed} delayed {self._what}")
                failing, delayed = False, 0

    def _done(self, item: T, *, written: bool) -> None:
        """Take the item just handled off the queue (unless ``close`` emptied it meanwhile)."""
        with self._condition:
            if self._pending and self._pending[0] is item:
                self._pending.popleft()
            if written:
                self.written += 1
            else:
                self.dropped += 1

    def _problem(self, message: str) -> None:
        if self._on_problem is not None:
            try:
                self._on_problem(message)
            except Exception:
                log.exception("%s: problem callback failed", self._name)
