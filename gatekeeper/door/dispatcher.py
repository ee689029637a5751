"""Firing the actions: :meth:`Dispatcher.fire` hands an event to every action that wants it and
returns at once. Each action has its own *lanes*, each a bounded queue, a worker thread and a
runner of its own (an MQTT action's lane has its own connection), so a hanging webhook delays
neither the recognition thread nor the relay. An action that fires on grants and on other
decisions has two lanes: one for its grants, one for the rest. So a grant never waits behind
a slow event of another decision at the same action, though it may be sent while that event
still is; order is kept within each lane (grants in the order fired; the other decisions in
the order fired).

An event whose maximum age (:meth:`ActionSpec.max_age`) has passed when its turn comes is not
sent (:class:`~gatekeeper.door.actions.Expiry`): its outcome is recorded as expired, with
``attempts`` 0; a webhook starts no retry past it either.

Every outcome is an :class:`ActionOutcome`: published to ``on_outcome`` (for the console) and
recorded as a chained ``action`` admin event by the :class:`~gatekeeper.door.recorder.
AuditRecorder`, whose detail names the action, the decision, the person, the camera, the
attempt id and the time, so the audit log proves whether the door was told to open. An event
that finds its lane's queue full (:data:`QUEUE_SIZE` waiting) is not sent: it is counted
(:attr:`Dispatcher.dropped`) and recorded as a failed outcome with ``attempts`` 0; so are the
events still waiting when the dispatcher is closed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gatekeeper.door.actions import ActionSpec, Expiry, Result, Runner
from gatekeeper.door.events import DoorEvent
from gatekeeper.door.recorder import AuditRecorder

log = logging.getLogger(__name__)

#: Events waiting in one lane beyond this many are dropped (and recorded as such).
QUEUE_SIZE = 100


@dataclass(frozen=True)
class ActionOutcome:
    """What became of ``event`` at the action ``action`` (of ``kind``): ``ok``, or why not;
    ``attempts`` tries (0: never sent); ``duration_ms`` from the first try to the end, in
    milliseconds; ``finished`` when (UTC)."""

    action: str
    kind: str
    event: DoorEvent
    ok: bool
    reason: str | None
    attempts: int
    duration_ms: float
    finished: datetime = field(default_factory=lambda: datetime.now(UTC))

    def detail(self) -> dict[str, Any]:
        """The recorded detail (the ``action`` admin event), in this order."""
        event = self.event
        return {
            "action": self.action,
            "kind": self.kind,
            "ok": self.ok,
            "reason": self.reason,
            "attempts": self.attempts,
            "duration_ms": round(self.duration_ms, 1),
            "decision": event.decision,
            "name": event.name,
            "camera": event.camera,
            "time": event.fields()["time"],
            "attempt_id": event.attempt_id,
            "rule": event.rule,
        }


class _Lane:
    """The events of some of an action's decisions (``decisions``): a runner, a queue of
    ``(event, when fired)`` (monotonic seconds) and a worker thread."""

    def __init__(self, spec: ActionSpec, decisions: tuple[str, ...], size: int) -> None:
        self.spec = spec
        self.decisions = decisions
        self.queue: queue.Queue[tuple[DoorEvent, float] | None] = queue.Queue(maxsize=size)
        self.runner: Runner | None = None
        self.thread: threading.Thread | None = None
        self.current: DoorEvent | None = None
        self.dropped = 0

    def thread_name(self) -> str:
        own = "-grants" if self.decisions == ("granted",) and len(self.spec.on) > 1 else ""
        return f"door-{self.spec.name}{own}"


def _lanes(spec: ActionSpec, size: int) -> list[_Lane]:
    """The lanes of ``spec``: its grants apart from its other decisions, when it has both."""
    others = tuple(d for d in spec.on if d != "granted")
    if "granted" in spec.on and others:
        return [_Lane(spec, ("granted",), size), _Lane(spec, others, size)]
    return [_Lane(spec, spec.on, size)]


class Dispatcher:
    """Runs ``actions`` (specs from the config) for the events given to :meth:`fire`.

    ``recorder`` records every outcome (``None``: not recorded, e.g. a benchmark);
    ``on_outcome(outcome)`` is called on the lane's thread (or the firing thread for a drop)
    and must return quickly. ``queue_size`` bounds each lane's queue; ``clock`` (monotonic
    seconds) measures the events' ages.
    """

    def __init__(
        self,
        actions: Sequence[ActionSpec],
        *,
        recorder: AuditRecorder | None,
        on_outcome: Callable[[ActionOutcome], None] | None = None,
        queue_size: int = QUEUE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lanes = [lane for spec in actions for lane in _lanes(spec, queue_size)]
        self._recorder = recorder
        self._on_outcome = on_outcome
        self._queue_size = queue_size
        self._clock = clock
        self._stop = threading.Event()
        self._closed = False

    @property
    def dropped(self) -> int:
        """Events not sent because their action's queue was full, since the start."""
        return sum(lane.dropped for lane in self._lanes)

    def runner(self, name: str) -> Runner | None:
        """The started runner of the action ``name``'s first lane (tests wait for an MQTT
        connection)."""
        return next((lane.runner for lane in self._lanes if lane.spec.name == name), None)

    def start(self) -> None:
        """Open every lane's runner (MQTT clients connect in the background) and start its
        thread."""
        for lane in self._lanes:
            if lane.thread is None:
                lane.runner = lane.spec.open()
                lane.thread = threading.Thread(
                    target=self._work, args=(lane,), name=lane.thread_name(), daemon=True
                )
                lane.thread.start()

    def fire(self, event: DoorEvent) -> None:
        """Queue ``event`` in the lane of every action it matches; never blocks."""
        fired = self._clock()
        for lane in self._lanes:
            if event.decision not in lane.decisions or not lane.spec.matches(event):
                continue
            try:
                lane.queue.put_nowait((event, fired))
            except queue.Full:
                lane.dropped += 1
                log.error(
                    "%s: %d events already waiting: one dropped", lane.spec.name, self._queue_size
                )
                reason = f"dropped: {self._queue_size} events already waiting"
                self._finish(lane, event, Result(False, reason, attempts=0), 0.0)

    def close(self, timeout: float = 3.0) -> None:
        """Let each action work through its queue for at most ``timeout`` seconds in all (a
        webhook stops retrying), then record what is left as not sent, and what is still
        running as such; close the connections."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for lane in self._lanes:
            _offer(lane.queue, None)
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))
        self._closed = True
        for lane in self._lanes:
            while True:
                try:
                    item = lane.queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._unsent(lane, item[0])
            _offer(lane.queue, None)
            busy = lane.current
            if lane.thread is not None and lane.thread.is_alive() and busy is not None:
                reason = "still running when the console stopped: outcome unknown"
                self._finish(lane, busy, Result(False, reason, attempts=1), 0.0)
            if lane.runner is not None:
                lane.runner.close()

    def _work(self, lane: _Lane) -> None:
        assert lane.runner is not None
        while True:
            item = lane.queue.get()
            if item is None:
                if self._closed or self._stop.is_set() and lane.queue.empty():
                    return
                continue
            event, fired = item
            if self._closed:
                self._unsent(lane, event)
                continue
            expiry = Expiry.of(lane.spec, event, fired, self._clock)
            if expiry.passed():
                self._finish(lane, event, Result(False, expiry.unsent(), attempts=0), 0.0)
                continue
            lane.current = event
            started = time.monotonic()
            try:
                result = lane.runner.send(event, self._stop, expiry)
            except Exception as exc:
                log.exception("%s: the action failed unexpectedly", lane.spec.name)
                result = Result(False, f"internal error: {type(exc).__name__}: {exc}")
            self._finish(lane, event, result, (time.monotonic() - started) * 1000)
            lane.current = None

    def _unsent(self, lane: _Lane, event: DoorEvent) -> None:
        self._finish(lane, event, Result(False, "not sent: the console stopped first", 0), 0.0)

    def _finish(self, lane: _Lane, event: DoorEvent, result: Result, duration_ms: float) -> None:
        outcome = ActionOutcome(
            lane.spec.name,
            lane.spec.kind,
            event,
            result.ok,
            result.reason,
            result.attempts,
            duration_ms,
        )
        if not result.ok:
            log.warning(
                "%s (%s): %s failed: %s",
                lane.spec.name,
                lane.spec.kind,
                event.summary(),
                result.reason,
            )
        if self._recorder is not None:
            self._recorder.record("action", outcome.detail())
        if self._on_outcome is not None:
            try:
                self._on_outcome(outcome)
            except Exception:
                log.exception("door outcome callback failed")


def _offer(q: queue.Queue, item: object) -> None:
    """Put ``item`` in ``q`` unless it is full."""
    with contextlib.suppress(queue.Full):
        q.put_nowait(item)
