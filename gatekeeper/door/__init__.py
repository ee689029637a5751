"""The door: actions on access decisions (a relay script, a webhook, MQTT) and alerts.

Fed decisions by the live worker (``gatekeeper/live.py``) and nothing else; no knowledge of
the UI, which receives what happens through one callback. A :class:`Door` joins the three
parts, each on its own threads:

- :class:`~gatekeeper.door.dispatcher.Dispatcher`: a queue and a thread per action (two for
  an action firing on grants and on other decisions), events past their maximum age expired;
- :class:`~gatekeeper.door.alerts.AlertEngine`: the alert rules;
- :class:`~gatekeeper.door.recorder.AuditRecorder`: outcomes, alerts and acknowledgements into
  the audit chain, retried while the database refuses writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gatekeeper.door.actions import ActionSpec, Result
from gatekeeper.door.alerts import Alert, AlertEngine, AlertRule, parse_alerts
from gatekeeper.door.dispatcher import ActionOutcome, Dispatcher
from gatekeeper.door.events import DOOR_DECISIONS, DoorEvent
from gatekeeper.door.recorder import AuditRecorder, EventLog
from gatekeeper.door.registry import parse_actions


@dataclass(frozen=True)
class DoorWarning:
    """Something the operator should know: door events cannot be recorded (and later: were)."""

    message: str


DoorNotice = ActionOutcome | Alert | DoorWarning


class Door:
    """The site's actions and alert rules over ``store`` (where outcomes are recorded).

    ``on_notice`` receives every :data:`DoorNotice` on the thread it happens on (return
    quickly); ``clock`` (monotonic seconds) drives the alert rules and measures the events'
    ages. Call :meth:`start` before feeding it and :meth:`close` when done.
    """

    def __init__(
        self,
        store: EventLog,
        actions: Sequence[ActionSpec] = (),
        rules: Sequence[AlertRule] = (),
        *,
        on_notice: Callable[[DoorNotice], None] | None = None,
        clock: Callable[[], float] | None = None,
        queue_size: int | None = None,
    ) -> None:
        notify = on_notice or (lambda notice: None)
        self.recorder = AuditRecorder(store, on_problem=lambda m: notify(DoorWarning(m)))
        self.dispatcher = Dispatcher(
            actions,
            recorder=self.recorder,
            on_outcome=notify,
            **({"queue_size": queue_size} if queue_size else {}),
            **({"clock": clock} if clock else {}),
        )
        self.alerts = AlertEngine(
            rules,
            recorder=self.recorder,
            fire=self.dispatcher.fire,
            on_alert=notify,
            **({"clock": clock} if clock else {}),
        )

    def start(self) -> None:
        self.recorder.start()
        self.dispatcher.start()

    def decision(self, event: DoorEvent) -> None:
        """A recorded (or queued) access decision: fire its actions, feed the alert rules.
        Returns at once."""
        self.dispatcher.fire(event)
        self.alerts.decision(event)

    def camera(self, camera: str, state: str) -> None:
        """The camera's state, as often as the worker looks (for ``camera_lost``)."""
        self.alerts.camera(camera, state)

    def store(self, ok: bool, waiting: int = 0) -> None:
        """Whether the store took the worker's last write (for ``database_unavailable``)."""
        self.alerts.store(ok, waiting)

    def state(self, problem: str | None) -> None:
        """Why the live state is disowned by the audit log, or None (for ``state_disowned``)."""
        self.alerts.state(problem)

    def close(self, timeout: float = 3.0) -> None:
        """Let queued actions finish (at most ``timeout`` seconds), then write what waits."""
        self.dispatcher.close(timeout)
        self.recorder.close(timeout)


__all__ = [
    "DOOR_DECISIONS",
    "ActionOutcome",
    "ActionSpec",
    "Alert",
    "AlertEngine",
    "AlertRule",
    "AuditRecorder",
    "Dispatcher",
    "Door",
    "DoorEvent",
    "DoorNotice",
    "DoorWarning",
    "Result",
    "parse_actions",
    "parse_alerts",
]
