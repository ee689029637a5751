"""What the door is told and which actions hear it, as pure values: the exact payload bytes and
environment, the event's checks, an action's matching, and reading ``[[actions]]`` tables
(given as the dicts TOML makes, no file, nothing started)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import ClassVar

import pytest

from gatekeeper.door.actions import DEFAULT_TIMEOUT_S, ActionSpec, one_line
from gatekeeper.door.command import CommandSpec
from gatekeeper.door.events import DoorEvent
from gatekeeper.door.mqtt import MqttSpec
from gatekeeper.door.registry import parse_actions
from gatekeeper.door.webhook import WebhookSpec
from gatekeeper.errors import UsageError

WHEN = datetime(2026, 12, 1, 11, 8, 45, 123456, tzinfo=timezone(timedelta(hours=1)))


def _grant(**fields) -> DoorEvent:
    values = {"name": "José", "distance": 0.41, "threshold": 0.6, "attempt_id": 17}
    return DoorEvent("granted", "front-door", WHEN, **(values | fields))


# --- the event -----------------------------------------------------------------------------


def test_the_payload_is_compact_utf8_json_with_every_key_in_order(tokyo_local_time) -> None:
    assert (
        _grant().payload()
        == (
            '{"decision":"granted","name":"José","distance":0.41,"threshold":0.6,'
            '"camera":"front-door","time":"2026-12-01T10:08:45.123456+00:00","attempt_id":17,'
            '"reason":null,"rule":null,"message":null}'
        ).encode()
    )


def test_the_time_is_kept_in_utc_whatever_zone_it_came_in(tokyo_local_time) -> None:
    event = _grant()
    assert event.time == WHEN and event.time.utcoffset() == timedelta(0)
    assert event.fields()["time"] == "2026-12-01T10:08:45.123456+00:00"
    on_the_second = DoorEvent("unknown", "yard", datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    assert on_the_second.fields()["time"] == "2026-12-01T10:00:00.000000+00:00"


def test_the_environment_holds_every_field_with_empty_strings_for_null() -> None:
    assert _grant(reason=None).environment() == {
        "GATEKEEPER_DECISION": "granted",
        "GATEKEEPER_NAME": "José",
        "GATEKEEPER_DISTANCE": "0.41",
        "GATEKEEPER_THRESHOLD": "0.6",
        "GATEKEEPER_CAMERA": "front-door",
        "GATEKEEPER_TIME": "2026-12-01T10:08:45.123456+00:00",
        "GATEKEEPER_ATTEMPT_ID": "17",
        "GATEKEEPER_REASON": "",
        "GATEKEEPER_RULE": "",
        "GATEKEEPER_MESSAGE": "",
    }


class _NoOffset(tzinfo):
    """A time zone that does not know its offset."""

    def utcoffset(self, moment):
        return None

    def dst(self, moment):
        return None


@pytest.mark.parametrize(
    ("decision", "moment", "message"),
    [
        ("opened", WHEN, "unknown door decision 'opened'"),
        ("granted", datetime(2026, 12, 1, 10, 0), "time 2026-12-01T10:00:00 has no time zone"),
        (
            "granted",
            datetime(2026, 12, 1, 10, 0, tzinfo=_NoOffset()),
            "time 2026-12-01T10:00:00 has no time zone",
        ),
    ],
)
def test_a_bad_event_is_refused(decision, moment, message) -> None:
    with pytest.raises(ValueError) as refused:
        DoorEvent(decision, "door", moment)
    assert str(refused.value) == message


def test_the_summary_names_the_person_or_the_rule() -> None:
    assert _grant().summary() == "granted José at front-door"
    assert DoorEvent("unknown", "yard", WHEN).summary() == "unknown at yard"
    alert = DoorEvent("alert", "yard", WHEN, name="lin", rule="photo")
    assert alert.summary() == "alert photo at yard"
    assert DoorEvent("alert", "site", WHEN).summary() == "alert at site"


# --- which actions fire ------------------------------------------------------------------------


def _spec(on=("granted",), cameras=None) -> CommandSpec:
    return CommandSpec(name="strike", on=on, cameras=cameras, timeout_s=2.0, argv=("relay", "1"))


def test_an_action_fires_on_its_decisions_at_its_cameras() -> None:
    everywhere = _spec(on=("granted", "denied"))
    assert everywhere.matches(_grant())
    assert everywhere.matches(DoorEvent("denied", "garage", WHEN))
    assert not everywhere.matches(DoorEvent("unknown", "front-door", WHEN))
    front = _spec(cameras=("front-door",))
    assert front.matches(_grant())
    assert not front.matches(DoorEvent("granted", "garage", WHEN))
    assert not front.matches(DoorEvent("spoof", "front-door", WHEN))


@dataclass(frozen=True)
class _Relay(ActionSpec):
    """An action kind of the tests' own: its target and notes are the base's lines' inputs,
    free of what the machine it runs on can contain (a command's containment)."""

    kind: ClassVar[str] = "relay"
    note: tuple[str, ...] = ()

    def target(self) -> str:
        return "relay 1"

    def notes(self) -> list[str]:
        return list(self.note)


def test_an_action_describes_itself_with_its_deadlines_without_secrets() -> None:
    strike = _Relay(name="strike", on=("granted",), cameras=None, timeout_s=2.0)
    assert strike.describe() == (
        "strike: relay on granted → relay 1 (a try ≤ 2 s; not sent later than granted 5 s)"
    )
    both = _Relay(
        name="strike",
        on=("granted", "alert"),
        cameras=("front", "back"),
        timeout_s=0.5,
        max_ages={"granted": 1.5},
        note=("contained", "as root"),
    )
    assert both.describe() == (
        "strike: relay on granted, alert at front, back → relay 1 (contained; as root; "
        "a try ≤ 0.5 s; not sent later than granted 1.5 s, alert 300 s)"
    )


def test_a_command_names_its_argv_as_its_target() -> None:
    assert _spec().target() == "relay 1"
    assert _spec().describe().startswith("strike: command on granted → relay 1 (")


def test_the_base_spec_has_no_target_and_no_problem() -> None:
    base = ActionSpec(name="x", on=("granted",), cameras=None, timeout_s=1.0)
    assert base.problem() is None and base.warning() is None and base.notes() == []
    with pytest.raises(NotImplementedError):
        base.target()
    with pytest.raises(NotImplementedError):
        base.open()


# --- reading [[actions]] -----------------------------------------------------------------------


def test_each_kind_is_read_with_the_common_keys_and_their_defaults() -> None:
    specs = parse_actions(
        "actions",
        [
            {"kind": "command", "on": ["granted"], "argv": ["relay"]},
            {
                "kind": "webhook",
                "name": "guard",
                "on": ["unknown", "alert"],
                "cameras": ["yard"],
                "url": "https://guard.example/hook",
                "timeout_s": 300,
            },
            {"kind": "mqtt", "on": ["spoof"], "host": "broker", "timeout_s": 0.1},
        ],
    )
    command, webhook, mqtt = specs
    assert type(command) is CommandSpec and type(webhook) is WebhookSpec
    assert type(mqtt) is MqttSpec
    assert (command.name, command.on, command.cameras, command.timeout_s) == (
        "command-1",
        ("granted",),
        None,
        DEFAULT_TIMEOUT_S,
    )
    assert (webhook.name, webhook.on, webhook.cameras, webhook.timeout_s) == (
        "guard",
        ("unknown", "alert"),
        ("yard",),
        300.0,
    )
    assert (mqtt.name, mqtt.timeout_s) == ("mqtt-3", 0.1)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [{"kind": "relay", "on": ["granted"]}],
            "[[actions]] #1: kind must be one of command, webhook, mqtt, got 'relay'",
        ),
        ([{"on": ["granted"]}], "[[actions]] #1: kind is required"),
        ([{"kind": "command", "argv": ["x"]}], "[[actions]] #1 (command-1): on is required"),
        (
            [{"kind": "command", "on": ["opened"], "argv": ["x"]}],
            "[[actions]] #1 (command-1): on: 'opened' is not one of granted, denied, unknown, "
            "spoof, alert",
        ),
        (
            [{"kind": "command", "on": ["granted"], "argv": ["x"], "timeout_s": 0.09}],
            "[[actions]] #1 (command-1): timeout_s must be between 0.1 and 300, got 0.09",
        ),
        (
            [{"kind": "command", "on": ["granted"], "argv": ["x"], "timeout_s": 300.5}],
            "[[actions]] #1 (command-1): timeout_s must be between 0.1 and 300, got 300.5",
        ),
        (
            [{"kind": "command", "on": ["granted"], "argv": ["x"], "cameras": "door"}],
            "[[actions]] #1 (command-1): cameras must be a non-empty list of text, not str 'door'",
        ),
        (
            [{"kind": "command", "on": ["granted"], "argv": ["x"], "colour": "red"}],
            "[[actions]] #1 (command-1): unknown key(s): colour",
        ),
        (
            [
                {"kind": "command", "on": ["granted"], "argv": ["x"]},
                {"kind": "command", "on": ["denied"], "argv": ["y"], "name": "command-1"},
            ],
            "[[actions]]: two entries are named 'command-1'; names must be unique",
        ),
    ],
)
def test_a_bad_action_is_one_line_naming_the_entry_and_the_key(entries, message) -> None:
    with pytest.raises(UsageError) as refused:
        parse_actions("actions", entries)
    assert str(refused.value) == message


def test_an_endpoints_error_is_shown_on_one_short_line() -> None:
    assert one_line("  connection\n\trefused  by\r\npeer ") == "connection refused by peer"
    assert one_line("x" * 200) == "x" * 200
    assert one_line("x" * 201) == "x" * 199 + "…"
    assert one_line("abc def", limit=5) == "abc …"
