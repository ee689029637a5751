"""The dispatcher: each action on its own queue and thread, every outcome a chained audit
event, a full queue dropped and recorded, outcomes kept while the database refuses them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from endpoints import admin_events, signed_by, wait_for

from gatekeeper.door import Door, DoorEvent, DoorWarning
from gatekeeper.door.command import CommandSpec
from gatekeeper.door.dispatcher import ActionOutcome
from gatekeeper.door.mqtt import MqttSpec
from gatekeeper.door.webhook import WebhookSpec
from gatekeeper.errors import StoreError

WHEN = datetime(2026, 12, 1, 10, 8, 45, tzinfo=UTC)


def decided(decision="granted", name="lin", camera="front-door", attempt_id=1) -> DoorEvent:
    return DoorEvent(
        decision, camera, WHEN, name=name, distance=0.4, threshold=0.6, attempt_id=attempt_id
    )


def hook(name, url, on=("granted",), **options) -> WebhookSpec:
    values = {"cameras": None, "timeout_s": 2.0, "retries": 0, "backoff_s": 0.01}
    return WebhookSpec(name=name, on=on, url=url, **(values | options))


def run(name, argv, on=("granted",)) -> CommandSpec:
    return CommandSpec(name=name, on=on, cameras=None, timeout_s=10.0, argv=tuple(argv))


class Notices(list):
    def outcomes(self) -> list[ActionOutcome]:
        return [n for n in self if isinstance(n, ActionOutcome)]


def test_every_action_gets_what_it_matches_and_every_outcome_is_chained(
    store, http, refused_url, recorder
):
    endpoint = http()
    notices = Notices()
    door = Door(
        store,
        [
            run("relay", recorder.argv),
            hook(
                "hook", endpoint.url, on=("granted", "unknown"), cameras=("front-door",), secret="k"
            ),
            hook("down", refused_url, retries=1),
        ],
        on_notice=notices.append,
    )
    door.start()
    try:
        door.decision(decided(attempt_id=7))
        door.decision(decided("unknown", None, attempt_id=8))
        door.decision(decided("unknown", None, camera="back-door", attempt_id=9))
        wait_for(lambda: len(admin_events(store.path, "action")) == 4)
    finally:
        door.close()
    # the grant and the unknown travel in lanes of their own: no order between them
    assert sorted(r.json()["attempt_id"] for r in endpoint.received) == [7, 8]
    assert all(signed_by(r, "k") for r in endpoint.received)
    assert [run["env"]["GATEKEEPER_ATTEMPT_ID"] for run in recorder.runs()] == ["7"]
    events = {(e["action"], e["attempt_id"]): e for e in admin_events(store.path, "action")}
    assert set(events) == {("relay", 7), ("hook", 7), ("hook", 8), ("down", 7)}
    down = events["down", 7]
    assert (down["ok"], down["reason"], down["attempts"]) == (
        False,
        "cannot connect: Connection refused",
        2,
    )
    relay = events["relay", 7]
    assert relay["ok"] and relay["reason"] is None and relay["duration_ms"] > 0
    assert (relay["kind"], relay["decision"], relay["name"], relay["camera"], relay["time"]) == (
        "command",
        "granted",
        "lin",
        "front-door",
        "2026-12-01T10:08:45.000000+00:00",
    )
    assert sorted((o.action, o.ok) for o in notices.outcomes()) == [
        ("down", False),
        ("hook", True),
        ("hook", True),
        ("relay", True),
    ]
    assert store.verify_chain().ok


def test_a_hanging_action_delays_neither_the_caller_nor_the_other_actions(store, http, recorder):
    """While the hanging server holds the first request unanswered, ``decision`` has returned
    for all three events and the relay has run for each (if either waited for the server, this
    test could not get past its first wait)."""
    hanging = http(hang=True)
    door = Door(store, [hook("stuck", hanging.url, timeout_s=60), run("relay", recorder.argv)])
    door.start()
    try:
        for attempt_id in (1, 2, 3):
            door.decision(decided(attempt_id=attempt_id))
        wait_for(lambda: len(recorder.runs()) == 3)
        assert hanging.held == 1, "the server still holds the first request"
        hanging.release()
        wait_for(lambda: len(admin_events(store.path, "action")) == 6, 30)
    finally:
        door.close()
    assert [len(r.json()) for r in hanging.received] == [10, 10, 10]


def test_a_full_queue_drops_the_event_counts_it_and_records_it(store, http):
    hanging = http(hang=True)
    door = Door(store, [hook("stuck", hanging.url, timeout_s=60)], queue_size=1)
    door.start()
    try:
        door.decision(decided(attempt_id=1))
        wait_for(lambda: hanging.held == 1)  # the worker holds event 1; the queue is empty
        for attempt_id in (2, 3, 4):
            door.decision(decided(attempt_id=attempt_id))
        assert door.dispatcher.dropped == 2
        hanging.release()
        wait_for(lambda: len(admin_events(store.path, "action")) == 4, 30)
    finally:
        door.close()
    dropped = [e for e in admin_events(store.path, "action") if e["attempts"] == 0]
    assert [(e["attempt_id"], e["ok"], e["reason"]) for e in dropped] == [
        (3, False, "dropped: 1 events already waiting"),
        (4, False, "dropped: 1 events already waiting"),
    ]
    assert store.verify_chain().ok


def test_events_still_queued_at_close_are_recorded_as_not_sent(store, http):
    hanging = http(hang=True)
    door = Door(store, [hook("stuck", hanging.url, timeout_s=60)])
    door.start()
    door.decision(decided(attempt_id=1))
    wait_for(lambda: hanging.held == 1)
    door.decision(decided(attempt_id=2))
    door.close(timeout=0.2)
    hanging.release()
    reasons = {e["attempt_id"]: e["reason"] for e in admin_events(store.path, "action")}
    assert reasons == {
        1: "still running when the console stopped: outcome unknown",
        2: "not sent: the console stopped first",
    }


class RefusingStore:
    """The real store, except that admin events are refused while ``failing`` is set."""

    def __init__(self, store) -> None:
        self._store = store
        self.failing = threading.Event()

    def log_admin_event(self, kind: str, detail: str) -> None:
        if self.failing.is_set():
            raise StoreError("database is locked (injected)")
        self._store.log_admin_event(kind, detail)


def test_outcomes_wait_while_the_database_refuses_and_are_chained_in_order_later(store, recorder):
    refusing = RefusingStore(store)
    refusing.failing.set()
    notices = Notices()
    door = Door(refusing, [run("relay", recorder.argv)], on_notice=notices.append)
    door.start()
    try:
        for attempt_id in (None, 11, 12):
            door.decision(decided(attempt_id=attempt_id))
        wait_for(lambda: len(recorder.runs()) == 3, 20)
        # the door still opens while nothing can be recorded
        assert [r["env"]["GATEKEEPER_ATTEMPT_ID"] for r in recorder.runs()] == ["", "11", "12"]
        wait_for(lambda: any(isinstance(n, DoorWarning) for n in notices))
        wait_for(lambda: door.recorder.pending == 3)
        assert admin_events(store.path, "action") == []
        refusing.failing.clear()
        wait_for(lambda: door.recorder.pending == 0)
    finally:
        door.close()
    assert [e["attempt_id"] for e in admin_events(store.path, "action")] == [None, 11, 12]
    warnings = [n.message for n in notices if isinstance(n, DoorWarning)]
    assert warnings[0].startswith("cannot record door events (database is locked (injected))")
    assert warnings[-1] == "recorded 3 delayed door events"
    assert store.verify_chain().ok


def test_what_the_database_never_took_is_logged_at_close(store, recorder, caplog):
    refusing = RefusingStore(store)
    refusing.failing.set()
    door = Door(refusing, [run("relay", recorder.argv)])
    door.start()
    door.decision(decided(attempt_id=5))
    wait_for(lambda: len(recorder.runs()) == 1)
    wait_for(lambda: door.recorder.pending == 1)
    door.close(timeout=1)
    assert "1 door events could not be recorded" in caplog.text
    assert '"action":"relay"' in caplog.text and '"attempt_id":5' in caplog.text


# --- deadlines: a grant never waits behind another decision, nor goes out late -----------


def test_a_slow_event_never_delays_a_grant_of_the_same_action(store, http):
    """While the lock's endpoint holds an ``unknown`` event unanswered, the grants fired after
    it reach the endpoint, in order, and are recorded (if they queued behind it, this test
    could not get past its second wait)."""
    lock = http(hang=True, slow=("unknown",))
    door = Door(store, [hook("lock", lock.url, on=("granted", "unknown"), timeout_s=60)])
    door.start()
    try:
        door.decision(decided("unknown", None, attempt_id=1))
        wait_for(lambda: lock.held == 1)
        door.decision(decided(attempt_id=2))
        door.decision(decided(attempt_id=3))
        wait_for(lambda: [e["attempt_id"] for e in admin_events(store.path, "action")] == [2, 3])
        assert lock.held == 1, "the unknown event is still being sent"
        lock.release()
        wait_for(lambda: len(admin_events(store.path, "action")) == 3, 30)
    finally:
        door.close()
    assert [r.json()["attempt_id"] for r in lock.received] == [1, 2, 3]
    assert [e["ok"] for e in admin_events(store.path, "action")][:2] == [True, True]


def test_the_drip_case_a_grant_reaches_a_healthy_lock_while_an_unknown_drips(store, http):
    """The issue's case: the lock drips its answer to an ``unknown`` event one byte at a time
    (each read well within ``timeout_s``); a grant fired behind it is answered at once and the
    unknown's try ends at its deadline."""
    lock = http(drip_s=0.05, slow=("unknown",))
    door = Door(store, [hook("lock", lock.url, on=("granted", "unknown"), timeout_s=1.0)])
    door.start()
    try:
        door.decision(decided("unknown", None, attempt_id=1))
        wait_for(lambda: lock.dripping == 1)
        door.decision(decided(attempt_id=2))
        wait_for(lambda: len(admin_events(store.path, "action")) == 2, 30)
    finally:
        door.close()
    events = {e["attempt_id"]: e for e in admin_events(store.path, "action")}
    assert (events[2]["ok"], events[2]["attempts"]) == (True, 1)
    assert (events[1]["ok"], events[1]["reason"]) == (False, "timed out after 1 s")


@pytest.mark.parametrize("kind", ["command", "webhook", "mqtt"])
def test_an_event_older_than_its_max_age_is_not_sent_and_is_recorded_as_expired(
    kind, store, http, recorder, request
):
    """A grant waits in its queue while the (manual) clock moves 6 s, past the grant's default
    5-s maximum age: it is never sent, and its outcome says so; a grant fired afterwards is
    sent. The same for every kind of action."""
    from helpers import ManualClock

    endpoint = http()
    if kind == "command":
        spec = run("door", recorder.argv)
    elif kind == "webhook":
        spec = hook("door", endpoint.url)
    else:
        broker = request.getfixturevalue("broker")
        spec = MqttSpec(
            name="door",
            on=("granted",),
            cameras=None,
            timeout_s=5.0,
            host=broker.host,
            port=broker.port,
        )
    clock = ManualClock()
    door = Door(store, [spec], clock=clock.monotonic)
    door.decision(decided(attempt_id=1))  # queued: the door's threads are not started yet
    clock.advance(6)
    door.start()
    try:
        wait_for(lambda: len(admin_events(store.path, "action")) == 1)
        if kind == "mqtt":
            assert door.dispatcher.runner("door").wait_connected(10)
        door.decision(decided(attempt_id=2))
        wait_for(lambda: len(admin_events(store.path, "action")) == 2)
    finally:
        door.close()
    expired, sent = admin_events(store.path, "action")
    assert (expired["attempt_id"], expired["ok"], expired["attempts"]) == (1, False, 0)
    assert expired["reason"] == "expired: not sent, 6.0 s old (max_age_s 5 for granted)"
    assert (sent["attempt_id"], sent["ok"]) == (2, True)
    if kind == "command":
        assert [r["env"]["GATEKEEPER_ATTEMPT_ID"] for r in recorder.runs()] == ["2"]
    if kind == "webhook":
        assert [r.json()["attempt_id"] for r in endpoint.received] == [2]
    assert store.verify_chain().ok
