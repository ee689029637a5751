"""Alert rules on a clock the test moves, with what the engine records kept in a list (the audit
recorder's interface): every rule at its boundary, who is told what, exact messages and details,
and reading ``[[alerts]]`` tables (the dicts TOML makes)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import ManualClock

from gatekeeper.door.alerts import SITE, Alert, AlertEngine, AlertRule, parse_alerts
from gatekeeper.door.events import DoorEvent
from gatekeeper.errors import UsageError

WHEN = datetime(2026, 12, 1, 10, 8, 45, tzinfo=UTC)
RAISED = datetime(2026, 12, 1, 10, 9, 0, 250000, tzinfo=UTC)


class Recorded:
    """What the engine gives its recorder (``AuditRecorder.record``), in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def record(self, kind: str, detail: dict[str, Any]) -> None:
        self.rows.append((kind, detail))


class Engine:
    """An engine on a manual clock and a fixed wall clock, keeping all it raises and fires."""

    def __init__(self, *rules: AlertRule, on_alert=None) -> None:
        self.clock = ManualClock()
        self.recorded = Recorded()
        self.raised: list[Alert] = []
        self.fired: list[DoorEvent] = []
        self.engine = AlertEngine(
            rules,
            recorder=self.recorded,
            fire=self.fired.append,
            on_alert=on_alert or self.raised.append,
            clock=self.clock.monotonic,
            now=lambda: RAISED,
        )

    def decide(self, decision: str, camera: str = "door", name=None, attempt_id=None) -> None:
        self.engine.decision(DoorEvent(decision, camera, WHEN, name=name, attempt_id=attempt_id))

    def messages(self) -> list[str]:
        return [a.message for a in self.raised]


# --- reading [[alerts]] ------------------------------------------------------------------------


def test_each_kind_is_read_with_its_defaults() -> None:
    rules = parse_alerts(
        "alerts",
        [
            {"kind": "unknown_attempts"},
            {"kind": "spoof", "name": "photo", "cameras": ["front"]},
            {"kind": "camera_lost"},
            {"kind": "database_unavailable"},
        ],
    )
    assert rules == (
        AlertRule("unknown_attempts", "unknown_attempts", None, 3, 300.0, 30.0),
        AlertRule("photo", "spoof", ("front",), 3, 300.0, 30.0),
        AlertRule("camera_lost", "camera_lost", None, 3, 300.0, 30.0),
        AlertRule("database_unavailable", "database_unavailable", None, 3, 300.0, 10.0),
    )


def test_the_limits_of_each_key_are_inclusive() -> None:
    low, high = parse_alerts(
        "alerts",
        [
            {"kind": "unknown_attempts", "name": "low", "count": 1, "within_min": 0.1},
            {"kind": "unknown_attempts", "name": "high", "count": 1000, "within_min": 1440},
        ],
    )
    assert (low.count, low.within_s, high.count, high.within_s) == (1, 6.0, 1000, 86400.0)
    lost, store = parse_alerts(
        "alerts",
        [
            {"kind": "camera_lost", "after_s": 86400},
            {"kind": "database_unavailable", "after_s": 0},
        ],
    )
    assert (lost.after_s, store.after_s) == (86400.0, 0.0)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [{"kind": "fire"}],
            "[[alerts]] #1: kind must be one of unknown_attempts, spoof, "
            "camera_lost, database_unavailable, state_disowned, got 'fire'",
        ),
        (
            [{"kind": "unknown_attempts", "count": 1001}],
            "[[alerts]] #1 (unknown_attempts): count must be between 1 and 1000, got 1001",
        ),
        (
            [{"kind": "unknown_attempts", "within_min": 0.05}],
            "[[alerts]] #1 (unknown_attempts): within_min must be between 0.1 and 1440, got 0.05",
        ),
        (
            [{"kind": "unknown_attempts", "within_min": 1441}],
            "[[alerts]] #1 (unknown_attempts): within_min must be between 0.1 and 1440, got 1441",
        ),
        (
            [{"kind": "camera_lost", "after_s": 86401}],
            "[[alerts]] #1 (camera_lost): after_s must be between 0 and 86400, got 86401",
        ),
        (
            [{"kind": "database_unavailable", "after_s": -1}],
            "[[alerts]] #1 (database_unavailable): after_s must be between 0 and 86400, got -1",
        ),
        (
            [{"kind": "database_unavailable", "cameras": ["a"]}],
            "[[alerts]] #1 (database_unavailable): unknown key(s): cameras",
        ),
        ([{"kind": "spoof", "count": 2}], "[[alerts]] #1 (spoof): unknown key(s): count"),
        (
            [{"kind": "camera_lost", "within_min": 2}],
            "[[alerts]] #1 (camera_lost): unknown key(s): within_min",
        ),
        (
            [{"kind": "spoof"}, {"kind": "spoof"}],
            "[[alerts]]: two entries are named 'spoof'; names must be unique",
        ),
    ],
)
def test_a_bad_rule_is_one_line_naming_the_entry_and_the_key(entries, message) -> None:
    with pytest.raises(UsageError) as refused:
        parse_alerts("alerts", entries)
    assert str(refused.value) == message


def test_each_rule_describes_itself() -> None:
    rules = [
        AlertRule("strangers", "unknown_attempts", count=5, within_s=90.0),
        AlertRule("photo", "spoof", cameras=("front", "back")),
        AlertRule("camera", "camera_lost", after_s=30.0),
        AlertRule("db", "database_unavailable", after_s=0.5),
        AlertRule("tamper", "state_disowned"),
    ]
    assert [rule.describe() for rule in rules] == [
        "strangers: 5 unknown attempts within 1.5 min",
        "photo: any spoof at front, back",
        "camera: camera lost for more than 30 s",
        "db: database unavailable for more than 0.5 s",
        "tamper: the live state is not the one the audit log vouches for",
    ]


def test_a_rule_without_a_kind_is_refused() -> None:
    with pytest.raises(UsageError) as refused:
        parse_alerts("alerts", [{"count": 3}])
    assert str(refused.value) == "[[alerts]] #1: kind is required"


def test_a_disowned_state_is_raised_once_per_episode() -> None:
    engine = Engine(AlertRule("tamper", "state_disowned"))
    engine.engine.state("the people differ")
    engine.engine.state("the people differ")
    engine.engine.acknowledge(engine.raised[0].id)
    engine.engine.state("the people differ")  # the same episode: acknowledged, not raised again
    engine.engine.state(None)
    engine.engine.state("the gallery differs")
    assert engine.messages() == [
        "the live state is disowned by the audit log: the people differ; nobody is granted",
        "the live state is disowned by the audit log: the gallery differs; nobody is granted",
    ]


# --- raising -----------------------------------------------------------------------------------


STRANGERS = AlertRule("strangers", "unknown_attempts", count=3, within_s=120.0)


def test_an_alert_is_recorded_fired_published_and_logged(caplog) -> None:
    alerts = Engine(STRANGERS)
    with caplog.at_level(logging.WARNING, logger="gatekeeper.door.alerts"):
        for attempt in (40, 41, 42):
            alerts.decide("unknown", attempt_id=attempt)
    message = "3 unknown attempts at camera door within 2 min"
    expected = Alert(1, "strangers", "unknown_attempts", "door", message, RAISED, 42)
    assert alerts.raised == [expected] and alerts.engine.active() == [expected]
    assert alerts.recorded.rows == [
        (
            "alert",
            {
                "alert": 1,
                "rule": "strangers",
                "kind": "unknown_attempts",
                "camera": "door",
                "message": message,
                "raised": "2026-12-01T10:09:00.250000+00:00",
                "attempt_id": 42,
            },
        )
    ]
    assert alerts.fired == [
        DoorEvent("alert", "door", RAISED, attempt_id=42, rule="strangers", message=message)
    ]
    assert [r.getMessage() for r in caplog.records] == [f"alert strangers: {message}"]


def test_the_acknowledgement_is_recorded_with_the_alert_and_when(tokyo_local_time) -> None:
    alerts = Engine(AlertRule("photo", "spoof"))
    alerts.decide("spoof", name="lin", attempt_id=7)
    (alert,) = alerts.raised
    assert alerts.engine.acknowledge(alert.id) == alert
    kind, detail = alerts.recorded.rows[-1]
    assert (kind, detail["alert"], detail["camera"]) == ("alert_ack", 1, "door")
    assert detail["raised"] == detail["acknowledged"] == "2026-12-01T10:09:00.250000+00:00"
    assert alerts.engine.acknowledge(alert.id) is None
    assert [kind for kind, _ in alerts.recorded.rows] == ["alert", "alert_ack"]


def test_alerts_are_numbered_from_one_and_listed_in_that_order() -> None:
    alerts = Engine(AlertRule("photo", "spoof"))
    for camera in ("front", "back", "yard"):
        alerts.decide("spoof", camera=camera, name="lin")
    assert [(a.id, a.camera) for a in alerts.engine.active()] == [
        (1, "front"),
        (2, "back"),
        (3, "yard"),
    ]
    alerts.engine.acknowledge(2)
    assert [a.id for a in alerts.engine.active()] == [1, 3]


def test_a_spoof_by_nobody_known_says_someone() -> None:
    alerts = Engine(AlertRule("photo", "spoof"))
    alerts.decide("spoof", camera="yard")
    assert alerts.messages() == ["a photo or a screen of someone was shown to camera yard"]
    assert alerts.raised[0].camera == "yard"


def test_a_rule_that_does_not_watch_a_camera_leaves_the_others_to_judge() -> None:
    alerts = Engine(
        AlertRule("front-photo", "spoof", cameras=("front",)), AlertRule("any-photo", "spoof")
    )
    alerts.decide("spoof", camera="back", name="lin")
    assert [(a.rule, a.camera) for a in alerts.raised] == [("any-photo", "back")]


def test_an_active_alert_blocks_only_its_own_rule_at_its_own_camera() -> None:
    alerts = Engine(AlertRule("photo", "spoof"), AlertRule("also", "spoof"))
    alerts.decide("spoof", camera="front", name="lin")
    alerts.decide("spoof", camera="front", name="lin")
    alerts.decide("spoof", camera="back", name="lin")
    assert [(a.rule, a.camera) for a in alerts.raised] == [
        ("photo", "front"),
        ("also", "front"),
        ("photo", "back"),
        ("also", "back"),
    ]


def test_unknown_attempts_exactly_the_window_apart_still_count() -> None:
    alerts = Engine(STRANGERS)
    alerts.decide("unknown")
    alerts.clock.advance(60)
    alerts.decide("unknown")
    alerts.clock.advance(60)  # the first is exactly 120 s old: still within 2 min
    alerts.decide("unknown")
    assert len(alerts.raised) == 1


def test_attempts_while_active_count_towards_the_next_alert() -> None:
    alerts = Engine(STRANGERS)
    for _ in range(3):
        alerts.decide("unknown")
    for _ in range(2):  # the rule is active here: not raised, but counted
        alerts.decide("unknown")
    alerts.engine.acknowledge(1)
    alerts.decide("unknown")
    assert len(alerts.raised) == 2


def test_a_failing_subscriber_is_logged_and_the_alert_stands(caplog) -> None:
    def fail(alert: Alert) -> None:
        raise RuntimeError("console gone")

    alerts = Engine(AlertRule("photo", "spoof"), on_alert=fail)
    alerts.decide("spoof", name="lin")
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "alert callback failed"
    ]
    assert len(alerts.engine.active()) == 1 and len(alerts.fired) == 1


# --- the rules that depend on time -------------------------------------------------------------


def test_a_lost_camera_is_noticed_by_whatever_call_comes_next() -> None:
    alerts = Engine(AlertRule("camera", "camera_lost", after_s=30.0))
    alerts.engine.camera("door", "reconnecting")
    alerts.clock.advance(30)
    alerts.decide("granted", name="lin")
    assert alerts.raised == []
    alerts.clock.advance(0.5)
    alerts.decide("granted", name="lin")
    assert alerts.messages() == ["camera door lost for more than 30 s"]


def test_camera_lost_watches_only_its_cameras() -> None:
    alerts = Engine(AlertRule("camera", "camera_lost", cameras=("front",), after_s=1.0))
    alerts.engine.camera("back", "lost")
    alerts.engine.camera("front", "lost")
    alerts.clock.advance(2)
    alerts.engine.camera("back", "lost")
    assert [a.camera for a in alerts.raised] == ["front"]


def test_a_new_outage_is_raised_once_the_old_alert_is_acknowledged() -> None:
    alerts = Engine(AlertRule("camera", "camera_lost", after_s=1.0))
    camera = alerts.engine.camera
    camera("door", "lost")
    alerts.clock.advance(2)
    camera("door", "lost")
    camera("door", "live")  # back, but the alert is not acknowledged
    camera("door", "lost")
    alerts.clock.advance(2)
    camera("door", "lost")  # a new outage while the old alert is active: not raised yet
    assert len(alerts.raised) == 1
    alerts.engine.acknowledge(1)
    camera("door", "lost")
    assert len(alerts.raised) == 2


def test_the_database_alert_says_how_many_attempts_wait() -> None:
    alerts = Engine(AlertRule("db", "database_unavailable", after_s=10.0))
    alerts.engine.store(False)
    alerts.clock.advance(10)
    alerts.engine.store(False)
    assert alerts.messages() == [
        "the database refuses writes for more than 10 s (0 attempts waiting)"
    ]
    assert alerts.raised[0].camera == SITE


def test_the_database_recovering_rearms_its_rule_and_not_the_cameras() -> None:
    alerts = Engine(
        AlertRule("db", "database_unavailable", after_s=0.0),
        AlertRule("camera", "camera_lost", after_s=1.0),
    )
    alerts.engine.camera("door", "lost")
    alerts.clock.advance(2)
    alerts.engine.store(False, waiting=4)
    assert alerts.messages() == [
        "the database refuses writes for more than 0 s (4 attempts waiting)",
        "camera door lost for more than 1 s",
    ]
    for alert in alerts.engine.active():
        alerts.engine.acknowledge(alert.id)
    alerts.engine.store(True)
    alerts.engine.store(False, waiting=1)
    alerts.engine.camera("door", "lost")
    assert [a.rule for a in alerts.raised] == ["db", "camera", "db"], "the camera's outage goes on"


def test_the_alert_event_carries_the_rule_and_the_attempt() -> None:
    alert = Alert(4, "photo", "spoof", "yard", "a photo", RAISED + timedelta(hours=1), 9)
    assert alert.event().fields() == {
        "decision": "alert",
        "name": None,
        "distance": None,
        "threshold": None,
        "camera": "yard",
        "time": "2026-12-01T11:09:00.250000+00:00",
        "attempt_id": 9,
        "reason": None,
        "rule": "photo",
        "message": "a photo",
    }
