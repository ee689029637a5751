"""The MQTT action against a real mosquitto broker started by the test, with a paho
subscriber: topics, QoS, no retain, credentials, a broker that is down, and reconnection."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from endpoints import Broker, Subscriber, require_mosquitto, wait_for

from gatekeeper.door.events import DoorEvent
from gatekeeper.door.mqtt import MqttSpec, topic_value

NEVER = threading.Event()
WHEN = datetime(2026, 12, 1, 10, 8, 45, tzinfo=UTC)


def mqtt(broker: Broker, **options) -> MqttSpec:
    values = {"name": "ha", "on": ("granted",), "cameras": None, "timeout_s": 5.0}
    return MqttSpec(**(values | options), host=broker.host, port=broker.port)


def event(decision="granted", name="lin", camera="front-door") -> DoorEvent:
    return DoorEvent(decision, camera, WHEN, name=name, distance=0.4, threshold=0.6, attempt_id=3)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_a_decision_is_published_on_its_topic_never_retained(broker, qos):
    subscriber = Subscriber(broker)
    runner = mqtt(broker, qos=qos, topic="gatekeeper/{camera}/{decision}/{name}").open()
    try:
        assert runner.wait_connected(10)
        result = runner.send(event(), NEVER)
        assert (result.ok, result.reason) == (True, None)
        wait_for(lambda: subscriber.messages)
    finally:
        runner.close()
        subscriber.close()
    ((topic, payload, retained),) = subscriber.messages
    assert topic == "gatekeeper/front-door/granted/lin"
    assert payload == event().payload() and not retained


def test_values_cannot_add_topic_levels_or_wildcards(broker):
    subscriber = Subscriber(broker)
    runner = mqtt(broker, topic="gk/{camera}/{name}").open()
    try:
        assert runner.wait_connected(10)
        assert runner.send(event(name="a/b+c#d", camera="hall\tway"), NEVER).ok
        assert runner.send(event("alert", name=None), NEVER).ok
        wait_for(lambda: len(subscriber.messages) == 2)
    finally:
        runner.close()
        subscriber.close()
    assert [m[0] for m in subscriber.messages] == ["gk/hall_way/a_b_c_d", "gk/front-door/-"]
    assert topic_value("") == "-"


def test_credentials_are_used_and_a_wrong_password_never_connects(tmp_path):
    require_mosquitto()
    broker = Broker(tmp_path, users={"gatekeeper": "right horse battery"})
    broker.start()
    good = mqtt(broker, username="gatekeeper", password="right horse battery").open()
    bad = mqtt(broker, username="gatekeeper", password="wrong").open()
    subscriber = Subscriber(broker, auth=("gatekeeper", "right horse battery"))
    try:
        assert good.wait_connected(10)
        assert good.send(event(), NEVER).ok
        wait_for(lambda: subscriber.messages)
        result = bad.send(event(), NEVER)
        assert not result.ok and result.reason.startswith("not connected to the broker")
        assert "wrong" not in result.reason
    finally:
        good.close()
        bad.close()
        subscriber.close()
        broker.stop()
    assert len(subscriber.messages) == 1


def test_a_broker_that_is_down_fails_at_once_and_is_reconnected_to_when_it_starts(tmp_path):
    """Nothing is queued while it is down, and what failed as it went down is never sent after
    it is back (a door must not open late); the action connects by itself once it is up."""
    require_mosquitto()
    broker = Broker(tmp_path)
    runner = mqtt(broker).open()
    try:
        down = runner.send(event(), NEVER)
        assert (down.ok, down.reason) == (
            False,
            f"not connected to the broker 127.0.0.1:{broker.port} (reconnecting)",
        )
        broker.start()
        subscriber = Subscriber(broker)
        assert runner.wait_connected(30), "paho reconnects by itself"
        assert runner.send(event(name="ada"), NEVER).ok
        wait_for(lambda: subscriber.messages)
        subscriber.close()
        broker.stop()  # lost again, then back on the same port
        wait_for(lambda: not runner.send(event(), NEVER).ok)
        broker.start()
        subscriber = Subscriber(broker)
        assert runner.wait_connected(60)
        wait_for(lambda: runner.send(event(name="bob"), NEVER).ok, 30)
        wait_for(lambda: subscriber.messages)
        subscriber.close()
    finally:
        runner.close()
        broker.stop()
    assert [json.loads(m[1])["name"] for m in subscriber.messages] == ["bob"]
