"""The door's lanes and deadlines without endpoints: which lane an event waits in (grants apart
from an action's other decisions), what a full lane, an expired event, a failing runner and a
close record, and an event's expiry — with a runner and a clock of the tests' own, so every
outcome is exact (no network, no process)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from gatekeeper.door.actions import (
    DEFAULT_MAX_AGE_S,
    MAX_AGE_RANGE_S,
    Expiry,
    Result,
)
from gatekeeper.door.dispatcher import QUEUE_SIZE, ActionOutcome, Dispatcher
from gatekeeper.door.events import DoorEvent
from gatekeeper.door.registry import parse_actions
from gatekeeper.errors import UsageError

WHEN = datetime(2026, 12, 1, 10, 8, 45, 250000, tzinfo=UTC)


def _event(decision: str = "granted", camera: str = "front-door", attempt_id: int = 1):
    return DoorEvent(decision, camera, WHEN, name="lin", attempt_id=attempt_id, rule="r")


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sent:
    """What a runner was asked to send: every event with its expiry, and whether it closed."""

    events: list = field(default_factory=list)
    closed: int = 0


class _Runner:
    def __init__(self, spec: _Spec) -> None:
        self.spec = spec

    def send(self, event, stop, expiry=None) -> Result:
        self.spec.sent.events.append((event, expiry))
        if self.spec.fail is not None:
            raise self.spec.fail
        return Result(True, None, attempts=2)

    def close(self) -> None:
        self.spec.sent.closed += 1


@dataclass(frozen=True)
class _Spec:
    """An action kind of the tests' own, whose runner records what it is sent."""

    kind: ClassVar[str] = "probe"
    name: str
    on: tuple[str, ...]
    cameras: tuple[str, ...] | None = None
    timeout_s: float = 1.0
    max_ages: dict = field(default_factory=dict, hash=False)
    sent: Sent = field(default_factory=Sent, hash=False, compare=False)
    fail: Exception | None = None

    def matches(self, event: DoorEvent) -> bool:
        return event.decision in self.on and (self.cameras is None or event.camera in self.cameras)

    def max_age(self, decision: str) -> float:
        return self.max_ages.get(decision, DEFAULT_MAX_AGE_S[decision])

    def open(self) -> _Runner:
        return _Runner(self)


class Recorder:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict]] = []

    def record(self, kind: str, detail: dict) -> None:
        self.rows.append((kind, detail))


def _dispatcher(*specs, clock=None, size=QUEUE_SIZE):
    recorder, outcomes = Recorder(), []
    dispatcher = Dispatcher(
        list(specs),
        recorder=recorder,
        on_outcome=outcomes.append,
        queue_size=size,
        clock=clock or Clock(),
    )
    return dispatcher, recorder, outcomes


def _queued(dispatcher: Dispatcher) -> list[list[tuple[str, int, float]]]:
    """Each lane's waiting events as (decision, attempt id, when fired), in lane order."""
    return [
        [(e.decision, e.attempt_id, fired) for e, fired in list(lane.queue.queue)]
        for lane in dispatcher._lanes
    ]


# --- lanes -------------------------------------------------------------------------------------


def test_an_action_on_grants_and_other_decisions_has_a_lane_for_its_grants() -> None:
    both = _Spec("hook", ("denied", "granted", "unknown"))
    dispatcher, _, _ = _dispatcher(both, _Spec("relay", ("granted",)), _Spec("chime", ("spoof",)))
    lanes = [(lane.spec.name, lane.decisions, lane.thread_name()) for lane in dispatcher._lanes]
    assert lanes == [
        ("hook", ("granted",), "door-hook-grants"),
        ("hook", ("denied", "unknown"), "door-hook"),
        ("relay", ("granted",), "door-relay"),
        ("chime", ("spoof",), "door-chime"),
    ]
    assert all(lane.queue.maxsize == QUEUE_SIZE for lane in dispatcher._lanes)
    assert all(lane.dropped == 0 and lane.current is None for lane in dispatcher._lanes)


def test_each_event_waits_in_its_own_decisions_lane_stamped_when_fired() -> None:
    clock = Clock()
    dispatcher, recorder, _ = _dispatcher(
        _Spec("hook", ("granted", "unknown")), _Spec("yard", ("granted",), ("yard",)), clock=clock
    )
    dispatcher.fire(_event("unknown", attempt_id=1))
    clock.now = 101.5
    dispatcher.fire(_event("granted", attempt_id=2))
    dispatcher.fire(_event("denied", attempt_id=3))
    dispatcher.fire(_event("granted", "yard", attempt_id=4))
    assert _queued(dispatcher) == [
        [("granted", 2, 101.5), ("granted", 4, 101.5)],
        [("unknown", 1, 100.0)],
        [("granted", 4, 101.5)],
    ]
    assert recorder.rows == [] and dispatcher.dropped == 0
    assert dispatcher.runner("hook") is None, "no runner before start"


def test_a_full_lane_drops_the_event_and_records_it_unsent(caplog) -> None:
    dispatcher, recorder, outcomes = _dispatcher(_Spec("hook", ("granted", "denied")), size=1)
    dispatcher.fire(_event("granted", attempt_id=1))
    dispatcher.fire(_event("denied", attempt_id=2))
    dispatcher.fire(_event("granted", attempt_id=3))
    assert dispatcher.dropped == 1 and [lane.dropped for lane in dispatcher._lanes] == [1, 0]
    (outcome,) = outcomes
    assert (outcome.action, outcome.kind, outcome.ok, outcome.attempts) == (
        "hook",
        "probe",
        False,
        0,
    )
    assert outcome.reason == "dropped: 1 events already waiting"
    assert outcome.event.attempt_id == 3 and outcome.duration_ms == 0.0
    assert recorder.rows == [("action", outcome.detail())]
    assert "hook: 1 events already waiting: one dropped" in caplog.text


# --- working through a lane --------------------------------------------------------------------


def test_events_are_sent_in_order_with_their_expiry_and_outcomes_recorded() -> None:
    clock = Clock()
    spec = _Spec("hook", ("granted", "denied"), max_ages={"granted": 2.0})
    dispatcher, recorder, outcomes = _dispatcher(spec, clock=clock)
    dispatcher.fire(_event("granted", attempt_id=1))
    dispatcher.fire(_event("granted", attempt_id=2))
    dispatcher.fire(_event("denied", attempt_id=3))
    clock.now = 101.5
    dispatcher.start()
    assert dispatcher.runner("hook") is not None
    dispatcher.close(3.0)
    sent = [(e.attempt_id, x.decision, x.max_age_s, x.born) for e, x in spec.sent.events]
    assert sorted(sent) == [(1, "granted", 2.0, 100.0), (2, "granted", 2.0, 100.0),
                            (3, "denied", 30.0, 100.0)]  # fmt: skip
    assert [e.attempt_id for e, _ in spec.sent.events if e.decision == "granted"] == [1, 2]
    assert all(x.remaining() == pytest.approx(0.5) for _, x in spec.sent.events[:1])
    assert sorted((o.event.attempt_id, o.ok, o.reason, o.attempts) for o in outcomes) == [
        (1, True, None, 2),
        (2, True, None, 2),
        (3, True, None, 2),
    ]
    assert len(recorder.rows) == 3 and spec.sent.closed == 2, "each lane's runner closed"


def test_an_event_past_its_max_age_is_not_sent_and_is_recorded_expired() -> None:
    clock = Clock()
    spec = _Spec("relay", ("granted",), max_ages={"granted": 2.0})
    dispatcher, recorder, outcomes = _dispatcher(spec, clock=clock)
    dispatcher.fire(_event(attempt_id=1))
    clock.now = 102.0  # exactly its maximum age: expired
    dispatcher.start()
    dispatcher.close(3.0)
    assert spec.sent.events == []
    (outcome,) = outcomes
    assert (outcome.ok, outcome.attempts, outcome.duration_ms) == (False, 0, 0.0)
    assert outcome.reason == "expired: not sent, 2.0 s old (max_age_s 2 for granted)"
    assert recorder.rows[0][1]["reason"] == outcome.reason


def test_an_event_just_inside_its_max_age_is_sent() -> None:
    clock = Clock()
    spec = _Spec("relay", ("granted",))
    dispatcher, _, outcomes = _dispatcher(spec, clock=clock)
    dispatcher.fire(_event())
    clock.now = 100.0 + DEFAULT_MAX_AGE_S["granted"] - 0.001
    dispatcher.start()
    dispatcher.close(3.0)
    assert len(spec.sent.events) == 1 and outcomes[0].ok


def test_a_runner_that_raises_is_an_internal_error_outcome_and_the_lane_goes_on(caplog) -> None:
    spec = _Spec("relay", ("granted",), fail=RuntimeError("boom"))
    dispatcher, _, outcomes = _dispatcher(spec)
    dispatcher.fire(_event(attempt_id=1))
    dispatcher.fire(_event(attempt_id=2))
    dispatcher.start()
    dispatcher.close(3.0)
    assert [(o.event.attempt_id, o.ok, o.reason, o.attempts) for o in outcomes] == [
        (1, False, "internal error: RuntimeError: boom", 1),
        (2, False, "internal error: RuntimeError: boom", 1),
    ]
    assert "relay: the action failed unexpectedly" in caplog.text
    assert "relay (probe): granted lin at front-door failed: internal error" in caplog.text


def test_events_of_a_dispatcher_never_started_are_recorded_not_sent_at_close() -> None:
    spec = _Spec("relay", ("granted", "spoof"))
    dispatcher, recorder, outcomes = _dispatcher(spec)
    dispatcher.fire(_event("spoof", attempt_id=1))
    dispatcher.fire(_event("granted", attempt_id=2))
    dispatcher.close(0.0)
    assert [(o.event.attempt_id, o.reason, o.attempts) for o in outcomes] == [
        (2, "not sent: the console stopped first", 0),
        (1, "not sent: the console stopped first", 0),
    ]
    assert len(recorder.rows) == 2 and spec.sent.closed == 0


def test_an_event_still_sending_at_close_is_recorded_as_unknown() -> None:
    release = threading.Event()

    class Stuck(_Runner):
        def send(self, event, stop, expiry=None):
            self.spec.sent.events.append((event, expiry))
            release.wait(10)
            return Result(True, None)

    @dataclass(frozen=True)
    class StuckSpec(_Spec):
        def open(self):
            return Stuck(self)

    spec = StuckSpec("relay", ("granted",))
    dispatcher, _, outcomes = _dispatcher(spec)
    dispatcher.start()
    dispatcher.fire(_event(attempt_id=1))
    dispatcher.fire(_event(attempt_id=2))
    while not spec.sent.events:
        threading.Event().wait(0.01)
    dispatcher.close(0.05)
    release.set()
    assert [(o.event.attempt_id, o.ok, o.reason, o.attempts) for o in outcomes[:2]] == [
        (2, False, "not sent: the console stopped first", 0),
        (1, False, "still running when the console stopped: outcome unknown", 1),
    ]


def test_an_outcome_callback_that_raises_is_logged_and_the_outcome_still_recorded(caplog):
    def broken(outcome):
        raise ValueError("ui gone")

    recorder = Recorder()
    dispatcher = Dispatcher(
        [_Spec("relay", ("granted",))], recorder=recorder, on_outcome=broken, queue_size=1
    )
    dispatcher.fire(_event(attempt_id=1))
    dispatcher.fire(_event(attempt_id=2))
    assert len(recorder.rows) == 1
    assert "door outcome callback failed" in caplog.text


def test_an_outcomes_detail_names_what_proves_the_door_was_told() -> None:
    outcome = ActionOutcome("relay", "command", _event(attempt_id=9), False, "x", 3, 12.345)
    assert list(outcome.detail().items()) == [
        ("action", "relay"),
        ("kind", "command"),
        ("ok", False),
        ("reason", "x"),
        ("attempts", 3),
        ("duration_ms", 12.3),
        ("decision", "granted"),
        ("name", "lin"),
        ("camera", "front-door"),
        ("time", "2026-12-01T10:08:45.250000+00:00"),
        ("attempt_id", 9),
        ("rule", "r"),
    ]
    assert outcome.finished.tzinfo is UTC


# --- an event's expiry -------------------------------------------------------------------------


def test_an_expiry_counts_down_from_birth_and_passes_at_its_max_age() -> None:
    clock = Clock()
    expiry = Expiry.of(
        _Spec("relay", ("granted",), max_ages={"granted": 3.0}), _event(), 99.0, clock
    )
    assert (expiry.decision, expiry.max_age_s, expiry.born) == ("granted", 3.0, 99.0)
    assert expiry.remaining() == 2.0 and not expiry.passed()
    clock.now = 102.0
    assert expiry.remaining() == 0.0 and expiry.passed()
    clock.now = 102.25
    assert expiry.remaining() == -0.25 and expiry.passed()
    assert expiry.unsent() == "expired: not sent, 3.2 s old (max_age_s 3 for granted)"
    assert expiry.after(1, "refused") == "expired after 1 try (max_age_s 3 for granted): refused"
    assert expiry.after(2, None) == "expired after 2 tries (max_age_s 3 for granted): None"


def test_an_expiry_is_born_now_by_default() -> None:
    clock = Clock()
    expiry = Expiry.of(_Spec("relay", ("alert",)), _event("alert"), clock=clock)
    assert expiry.born == 100.0 and expiry.max_age_s == DEFAULT_MAX_AGE_S["alert"] == 300.0


def test_the_default_max_ages() -> None:
    assert DEFAULT_MAX_AGE_S == {
        "granted": 5.0,
        "denied": 30.0,
        "unknown": 30.0,
        "spoof": 30.0,
        "alert": 300.0,
    }


def _parsed(**keys):
    (spec,) = parse_actions("actions", [{"kind": "command", "argv": ["x"], **keys}])
    return spec


def test_max_age_s_is_one_number_for_every_decision_or_a_table_of_some() -> None:
    one = _parsed(on=["granted", "denied"], max_age_s=2)
    assert one.max_ages == {"granted": 2.0, "denied": 2.0} and one.max_age("denied") == 2.0
    some = _parsed(on=["granted", "alert"], max_age_s={"granted": 1.5})
    assert some.max_ages == {"granted": 1.5}
    assert (some.max_age("granted"), some.max_age("alert")) == (1.5, 300.0)
    assert _parsed(on=["spoof"]).max_ages == {}
    low, high = MAX_AGE_RANGE_S
    assert _parsed(on=["granted"], max_age_s=low).max_age("granted") == 0.1
    assert _parsed(on=["granted"], max_age_s=high).max_age("granted") == 86400.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.09, "max_age_s must be between 0.1 and 86400, got 0.09"),
        (86401, "max_age_s must be between 0.1 and 86400, got 86401"),
        ({"denied": 3}, "max_age_s: 'denied' is not one of granted"),
        ({"granted": 0}, "max_age_s.granted must be between 0.1 and 86400, got 0"),
        ("soon", "max_age_s must be a number, not str 'soon'"),
    ],
)
def test_a_bad_max_age_is_one_line_naming_the_action(value, message) -> None:
    with pytest.raises(UsageError) as refused:
        _parsed(on=["granted"], max_age_s=value)
    assert str(refused.value) == f"[[actions]] #1 (command-1): {message}"
