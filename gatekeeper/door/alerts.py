"""Alerts: rules over the stream of decisions, camera states and store failures that raise an
:class:`Alert` for the operator, read from the config's ``[[alerts]]`` tables::

    [[alerts]]
    kind = "unknown_attempts"   # N unknown attempts at one camera within M minutes
    count = 5                   # N, 1–1000 (default 3)
    within_min = 2.0            # M, minutes (default 5)

    [[alerts]]
    kind = "spoof"              # any spoof decision (a photo or a screen held up)

    [[alerts]]
    kind = "camera_lost"        # a camera lost (or reconnecting) for more than S seconds
    after_s = 30                # S (default 30)

    [[alerts]]
    kind = "database_unavailable"   # the store refused attempts for more than S seconds
    after_s = 10                    # S (default 10; 0: at the first refusal)

    [[alerts]]
    kind = "state_disowned"     # the live state differs from what the audit log vouches for

Every rule takes an optional ``name`` (unique; default its kind) and, but for the site-wide
``database_unavailable`` and ``state_disowned``, ``cameras`` (default all).

A raised alert stays *active* until acknowledged (the console's banner, key ``a``). It is
recorded as a chained ``alert`` admin event, its acknowledgement as ``alert_ack`` (the admin
event's ``os_user`` column says who), and it fires the actions whose ``on`` lists ``alert``
(their payload's ``rule`` and ``message`` say which and what). While an alert of a rule is active
at a camera, that rule does not raise again there; ``unknown_attempts`` then counts afresh from
the raise, ``camera_lost`` and ``database_unavailable`` raise once per outage, and
``state_disowned`` once each time the state stops matching the chain (a person re-activated or
a template moved with SQL: nobody is granted until it is restored or accepted).

The engine is fed by the live worker (:meth:`AlertEngine.decision`, :meth:`~AlertEngine.camera`,
:meth:`~AlertEngine.store`); each call also checks the rules that depend on time. Its clock is
injectable (monotonic seconds), so tests move time by hand.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gatekeeper.door.events import DoorEvent
from gatekeeper.door.recorder import AuditRecorder
from gatekeeper.door.table import entries, unique_names

log = logging.getLogger(__name__)

#: The alert rules' kinds.
ALERT_KINDS = (
    "unknown_attempts",
    "spoof",
    "camera_lost",
    "database_unavailable",
    "state_disowned",
)
#: The kinds about the whole site, not one camera (no ``cameras`` key).
SITE_KINDS = ("database_unavailable", "state_disowned")
#: Camera states that count as lost (the values of ``gatekeeper.vision.camera.CameraState``).
LOST_STATES = frozenset({"lost", "reconnecting"})
#: The camera id of alerts about the store, which serves every camera.
SITE = "site"


@dataclass(frozen=True)
class AlertRule:
    """One ``[[alerts]]`` rule: ``count`` unknown attempts within ``within_s`` seconds
    (``unknown_attempts``), or a state lasting more than ``after_s`` seconds (``camera_lost``,
    ``database_unavailable``); ``cameras`` ``None``: every camera."""

    name: str
    kind: str
    cameras: tuple[str, ...] | None = None
    count: int = 3
    within_s: float = 300.0
    after_s: float = 30.0

    def watches(self, camera: str) -> bool:
        return self.cameras is None or camera in self.cameras

    def describe(self) -> str:
        what = {
            "unknown_attempts": f"{self.count} unknown attempts within {self.within_s / 60:g} min",
            "spoof": "any spoof",
            "camera_lost": f"camera lost for more than {self.after_s:g} s",
            "database_unavailable": f"database unavailable for more than {self.after_s:g} s",
            "state_disowned": "the live state is not the one the audit log vouches for",
        }[self.kind]
        cameras = "" if self.cameras is None else f" at {', '.join(self.cameras)}"
        return f"{self.name}: {what}{cameras}"


def parse_alerts(key: str, value: Any) -> tuple[AlertRule, ...]:
    """The ``[[alerts]]`` of a config as rules; a one-line ``UsageError`` naming the entry
    and the key for anything wrong."""
    rules = []
    for table in entries(key, value):
        kind = table.text("kind", required=True)
        if kind not in ALERT_KINDS:
            raise table.error(f"kind must be one of {', '.join(ALERT_KINDS)}, got {kind!r}")
        values: dict[str, Any] = {"name": table.name(kind), "kind": kind}
        if kind not in SITE_KINDS:
            values["cameras"] = table.texts("cameras", required=False)
        if kind == "unknown_attempts":
            values["count"] = table.whole("count", 3, low=1, high=1000)
            values["within_s"] = 60 * table.number("within_min", 5.0, low=0.1, high=1440.0)
        elif kind in ("camera_lost", "database_unavailable"):
            default = 30.0 if kind == "camera_lost" else 10.0
            values["after_s"] = table.number("after_s", default, low=0.0, high=86400.0)
        table.done()
        rules.append(AlertRule(**values))
    unique_names(key, [rule.name for rule in rules])
    return tuple(rules)


@dataclass(frozen=True)
class Alert:
    """A raised alert: ``id`` (counted from 1 in this process), the ``rule`` (its name) and
    ``kind``, the ``camera`` (:data:`SITE` for the store), a one-line ``message``, when it was
    ``raised`` (UTC) and the attempt that raised it (spoof, unknown attempts), if recorded."""

    id: int
    rule: str
    kind: str
    camera: str
    message: str
    raised: datetime
    attempt_id: int | None = None

    def detail(self) -> dict[str, Any]:
        """The recorded detail of its ``alert`` event."""
        return {
            "alert": self.id,
            "rule": self.rule,
            "kind": self.kind,
            "camera": self.camera,
            "message": self.message,
            "raised": _stamp(self.raised),
            "attempt_id": self.attempt_id,
        }

    def event(self) -> DoorEvent:
        """The event the ``alert`` actions receive."""
        return DoorEvent(
            "alert",
            self.camera,
            self.raised,
            attempt_id=self.attempt_id,
            rule=self.rule,
            message=self.message,
        )


class AlertEngine:
    """Applies ``rules``; a raised alert is recorded by ``recorder``, given to ``fire`` (the
    dispatcher's) and published to ``on_alert`` (on the feeding thread: return quickly).

    ``clock()`` is monotonic seconds (default ``time.monotonic``); ``now()`` the wall-clock
    UTC time alerts are stamped with. Safe to feed from one thread while another
    acknowledges.
    """

    def __init__(
        self,
        rules: Sequence[AlertRule],
        *,
        recorder: AuditRecorder | None,
        fire: Callable[[DoorEvent], None] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._rules = tuple(rules)
        self._recorder = recorder
        self._fire = fire
        self._on_alert = on_alert
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._active: dict[int, Alert] = {}
        self._unknown: dict[tuple[str, str], deque[float]] = {}
        self._lost_since: dict[str, float] = {}
        self._store_since: float | None = None
        self._waiting = 0
        self._outage_raised: set[tuple[str, str]] = set()
        self._state_raised = False

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self._rules

    def active(self) -> list[Alert]:
        """The alerts not yet acknowledged, oldest first."""
        with self._lock:
            return sorted(self._active.values(), key=lambda a: a.id)

    def acknowledge(self, alert_id: int) -> Alert | None:
        """Acknowledge an active alert (recorded as ``alert_ack``); ``None`` if it is not
        active (acknowledged already)."""
        with self._lock:
            alert = self._active.pop(alert_id, None)
        if alert is not None and self._recorder is not None:
            self._recorder.record(
                "alert_ack", {**alert.detail(), "acknowledged": _stamp(self._now())}
            )
        return alert

    # --- what the live worker feeds -------------------------------------------------------

    def decision(self, event: DoorEvent) -> None:
        """A decision was made (``granted``, ``unknown``, ``spoof``...)."""
        now = self._clock()
        for rule in self._rules:
            if not rule.watches(event.camera):
                continue
            if rule.kind == "spoof" and event.decision == "spoof":
                who = event.name or "someone"
                message = f"a photo or a screen of {who} was shown to camera {event.camera}"
                self._raise(rule, event.camera, message, event.attempt_id)
            elif rule.kind == "unknown_attempts" and event.decision == "unknown":
                times = self._unknown.setdefault((rule.name, event.camera), deque())
                times.append(now)
                while times and now - times[0] > rule.within_s:
                    times.popleft()
                if len(times) >= rule.count:
                    message = (
                        f"{len(times)} unknown attempts at camera {event.camera} within "
                        f"{rule.within_s / 60:g} min"
                    )
                    if self._raise(rule, event.camera, message, event.attempt_id):
                        times.clear()
        self._check_time(now)

    def camera(self, camera: str, state: str) -> None:
        """The camera's current state (a ``CameraState`` value: ``live``, ``lost``...)."""
        now = self._clock()
        if state in LOST_STATES:
            self._lost_since.setdefault(camera, now)
        elif self._lost_since.pop(camera, None) is not None:
            self._outage_raised = {k for k in self._outage_raised if k[1] != camera}
        self._check_time(now)

    def store(self, ok: bool, waiting: int = 0) -> None:
        """Whether the store took the last write; ``waiting``: attempts queued for it."""
        now = self._clock()
        self._waiting = waiting
        if not ok:
            if self._store_since is None:
                self._store_since = now
        else:
            self._store_since = None
            self._outage_raised = {k for k in self._outage_raised if k[1] != SITE}
        self._check_time(now)

    def state(self, problem: str | None) -> None:
        """Why the live state is disowned by the audit log (``None``: it is not), as often as
        the worker decides: raises ``state_disowned`` once per episode."""
        if problem is None:
            self._state_raised = False
            return
        if self._state_raised:
            return
        self._state_raised = True
        message = f"the live state is disowned by the audit log: {problem}; nobody is granted"
        for rule in self._rules:
            if rule.kind == "state_disowned":
                self._raise(rule, SITE, message)

    # --- the rules that depend on time ----------------------------------------------------

    def _check_time(self, now: float) -> None:
        for rule in self._rules:
            if rule.kind == "camera_lost":
                for camera, since in list(self._lost_since.items()):
                    if rule.watches(camera) and now - since > rule.after_s:
                        message = f"camera {camera} lost for more than {rule.after_s:g} s"
                        self._raise_once(rule, camera, message)
            elif (
                rule.kind == "database_unavailable"
                and self._store_since is not None
                and now - self._store_since >= rule.after_s
            ):
                message = (
                    f"the database refuses writes for more than {rule.after_s:g} s "
                    f"({self._waiting} attempts waiting)"
                )
                self._raise_once(rule, SITE, message)

    def _raise_once(self, rule: AlertRule, camera: str, message: str) -> None:
        """Raise for an outage once (until the state clears)."""
        if (rule.name, camera) not in self._outage_raised and self._raise(rule, camera, message):
            self._outage_raised.add((rule.name, camera))

    def _raise(
        self, rule: AlertRule, camera: str, message: str, attempt_id: int | None = None
    ) -> bool:
        """Raise an alert unless one of ``rule`` is active at ``camera``; whether it did."""
        with self._lock:
            if any(a.rule == rule.name and a.camera == camera for a in self._active.values()):
                return False
            alert = Alert(
                next(self._ids), rule.name, rule.kind, camera, message, self._now(), attempt_id
            )
            self._active[alert.id] = alert
        log.warning("alert %s: %s", rule.name, message)
        if self._recorder is not None:
            self._recorder.record("alert", alert.detail())
        if self._fire is not None:
            self._fire(alert.event())
        if self._on_alert is not None:
            try:
                self._on_alert(alert)
            except Exception:
                log.exception("alert callback failed")
        return True


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
