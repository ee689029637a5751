"""Alert rules on a clock the test moves: each raises on the right input and not otherwise;
alerts and acknowledgements are chained audit events; an alert fires the ``alert`` actions."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime

import pytest
from endpoints import admin_events, wait_for
from helpers import ManualClock

from gatekeeper.door import Alert, AlertRule, Door, DoorEvent
from gatekeeper.door.alerts import SITE, AlertEngine
from gatekeeper.door.command import CommandSpec

WHEN = datetime(2026, 12, 1, 10, 8, 45, tzinfo=UTC)


def seen(decision: str, camera: str = "door", name: str | None = None, attempt_id=None):
    return DoorEvent(
        decision, camera, WHEN, name=name, distance=0.7, threshold=0.6, attempt_id=attempt_id
    )


class Engine:
    """An alert engine on a manual clock, collecting what it raises."""

    def __init__(self, *rules: AlertRule) -> None:
        self.clock = ManualClock()
        self.raised: list[Alert] = []
        self.fired: list[DoorEvent] = []
        self.engine = AlertEngine(
            rules,
            recorder=None,
            fire=self.fired.append,
            on_alert=self.raised.append,
            clock=self.clock.monotonic,
        )

    def messages(self) -> list[str]:
        return [a.message for a in self.raised]


UNKNOWN = AlertRule("strangers", "unknown_attempts", count=3, within_s=120.0)


def test_n_unknown_attempts_at_one_camera_within_m_minutes_raise_one_alert():
    alerts = Engine(UNKNOWN)
    feed = alerts.engine.decision
    feed(seen("unknown"))
    alerts.clock.advance(60)
    feed(seen("unknown"))
    feed(seen("granted", name="lin"))
    feed(seen("unknown", camera="yard"))  # another camera counts on its own
    assert alerts.raised == []
    alerts.clock.advance(61)  # the first is now more than 2 min old
    feed(seen("unknown"))
    assert alerts.raised == []
    feed(seen("unknown", attempt_id=41))
    assert alerts.messages() == ["3 unknown attempts at camera door within 2 min"]
    (alert,) = alerts.raised
    assert (alert.rule, alert.kind, alert.camera, alert.attempt_id) == (
        "strangers",
        "unknown_attempts",
        "door",
        41,
    )
    for _ in range(5):  # active: the rule does not raise again at that camera
        feed(seen("unknown"))
    assert len(alerts.raised) == 1
    alerts.engine.acknowledge(alert.id)
    for _ in range(3):  # counting starts afresh from the raise
        feed(seen("unknown"))
    assert len(alerts.raised) == 2


def test_a_spoof_raises_at_once_and_other_decisions_never():
    alerts = Engine(AlertRule("photo", "spoof"))
    for decision, name in (("granted", "lin"), ("unknown", None), ("denied", "ada")):
        alerts.engine.decision(seen(decision, name=name))
    assert alerts.raised == []
    alerts.engine.decision(seen("spoof", name="lin", attempt_id=9))
    assert alerts.messages() == ["a photo or a screen of lin was shown to camera door"]
    assert alerts.raised[0].attempt_id == 9


def test_a_rule_watches_only_its_cameras():
    alerts = Engine(AlertRule("photo", "spoof", cameras=("front",)))
    alerts.engine.decision(seen("spoof", camera="back", name="lin"))
    assert alerts.raised == []
    alerts.engine.decision(seen("spoof", camera="front", name="lin"))
    assert len(alerts.raised) == 1


def test_a_camera_lost_for_more_than_s_seconds_raises_once_per_outage():
    alerts = Engine(AlertRule("camera", "camera_lost", after_s=30.0))
    camera = alerts.engine.camera
    camera("door", "live")
    camera("door", "lost")
    alerts.clock.advance(20)
    camera("door", "reconnecting")  # still lost: reconnecting counts
    alerts.clock.advance(10)
    camera("door", "reconnecting")
    assert alerts.raised == [], "30 s is not more than 30 s"
    alerts.clock.advance(1)
    camera("door", "lost")
    assert alerts.messages() == ["camera door lost for more than 30 s"]
    alerts.engine.acknowledge(alerts.raised[0].id)
    alerts.clock.advance(600)
    camera("door", "lost")
    assert len(alerts.raised) == 1, "one alert per outage, even acknowledged"
    camera("door", "live")
    camera("door", "lost")
    alerts.clock.advance(31)
    camera("door", "lost")
    assert len(alerts.raised) == 2


def test_a_short_camera_loss_raises_nothing():
    alerts = Engine(AlertRule("camera", "camera_lost", after_s=30.0))
    alerts.engine.camera("door", "lost")
    alerts.clock.advance(29)
    alerts.engine.camera("door", "live")
    alerts.clock.advance(100)
    alerts.engine.camera("door", "live")
    assert alerts.raised == []


def test_the_database_refusing_writes_for_more_than_s_seconds_raises():
    alerts = Engine(AlertRule("db", "database_unavailable", after_s=10.0))
    store = alerts.engine.store
    store(False, 1)
    alerts.clock.advance(5)
    store(True)  # back before 10 s: no alert, the count restarts
    store(False, 1)
    alerts.clock.advance(9)
    alerts.engine.camera("door", "live")  # the worker's every turn checks the time
    assert alerts.raised == []
    alerts.clock.advance(1)
    store(False, 4)
    assert alerts.messages() == [
        "the database refuses writes for more than 10 s (4 attempts waiting)"
    ]
    assert alerts.raised[0].camera == SITE


def test_a_disowned_state_raises_once_per_episode_and_again_after_it_was_restored():
    alerts = Engine(AlertRule("tamper", "state_disowned"))
    state = alerts.engine.state
    state(None)
    assert alerts.raised == []
    state("the people differ from the audit log's state record")
    state("the people differ from the audit log's state record")  # every frame: once
    (alert,) = alerts.raised
    assert alert.camera == SITE and alert.kind == "state_disowned"
    assert alert.message == (
        "the live state is disowned by the audit log: the people differ from the audit log's "
        "state record; nobody is granted"
    )
    alerts.engine.acknowledge(alert.id)
    state("the people differ from the audit log's state record")
    assert len(alerts.raised) == 1  # still the same episode: acknowledged, not raised again
    state(None)  # restored
    state("the gallery (encodings) differ from the audit log's state record")
    assert len(alerts.raised) == 2


def test_acknowledging_twice_is_a_no_op():
    alerts = Engine(AlertRule("photo", "spoof"))
    alerts.engine.decision(seen("spoof", name="lin"))
    (alert,) = alerts.engine.active()
    assert alerts.engine.acknowledge(alert.id) == alert
    assert alerts.engine.acknowledge(alert.id) is None
    assert alerts.engine.active() == []


def test_an_alert_is_chained_fires_the_alert_actions_and_its_acknowledgement_is_chained(
    store, recorder
):
    relay = CommandSpec(
        name="relay", on=("granted",), cameras=None, timeout_s=10.0, argv=tuple(recorder.argv)
    )
    siren = CommandSpec(
        name="siren", on=("alert",), cameras=None, timeout_s=10.0, argv=tuple(recorder.argv)
    )
    door = Door(store, [relay, siren], [AlertRule("photo", "spoof")])
    door.start()
    try:
        door.decision(seen("spoof", name="lin", attempt_id=3))
        wait_for(lambda: len(admin_events(store.path, "action")) == 1)
        (alert,) = door.alerts.active()
        door.alerts.acknowledge(alert.id)
        wait_for(lambda: admin_events(store.path, "alert_ack"))
    finally:
        door.close()
    (run,) = recorder.runs()  # the siren, not the relay
    assert run["env"]["GATEKEEPER_DECISION"] == "alert"
    assert run["env"]["GATEKEEPER_RULE"] == "photo"
    assert (
        json.loads(run["stdin"])["message"] == "a photo or a screen of lin was shown to camera door"
    )
    (raised,) = admin_events(store.path, "alert")
    assert (raised["alert"], raised["rule"], raised["kind"], raised["attempt_id"]) == (
        alert.id,
        "photo",
        "spoof",
        3,
    )
    (ack,) = admin_events(store.path, "alert_ack")
    assert ack["alert"] == alert.id and ack["_os_user"] == getpass.getuser()
    assert datetime.fromisoformat(ack["acknowledged"]) >= datetime.fromisoformat(raised["raised"])
    assert store.verify_chain().ok


@pytest.mark.parametrize("kind", ["spoof", "unknown_attempts"])
def test_a_rule_never_raises_on_granted_decisions(kind):
    alerts = Engine(AlertRule("r", kind, count=1))
    for _ in range(10):
        alerts.engine.decision(seen("granted", name="lin"))
    assert alerts.raised == [] and alerts.fired == []
