"""The ``mqtt`` action: publish the JSON payload to an MQTT broker (paho-mqtt 2.x), e.g. for a
Home Assistant automation::

    [[actions]]
    kind = "mqtt"
    on = ["granted", "unknown", "alert"]
    host = "homeassistant.local"
    port = 1883                         # optional
    username = "gatekeeper"             # optional
    password = "…"                      # optional (never printed or logged)
    topic = "gatekeeper/{camera}/{decision}"   # optional; placeholders {camera} {decision} {name}
    qos = 1                             # optional: 0, 1 or 2
    timeout_s = 2.0                     # how long to wait for the broker's acknowledgement

Messages are never retained (a retained ``granted`` would be replayed to every new subscriber).
Each lane of an action (its grants have one of their own) keeps one client, started with the
dispatcher, connected in the background (``connect_async`` + ``loop_start``): a broker that is
down at start or goes away later is reconnected to by paho itself, waiting 1 s, then twice as
long each time up to 30 s (``reconnect_delay_set``). While it is not connected an event fails at
once ("not connected"): it is not queued, so a door is never opened minutes late when the broker
comes back. A publish with ``qos`` 1 or 2 succeeded when the broker acknowledged it within
``timeout_s`` seconds; with ``qos`` 0 when it was written to the connection. A publish that
failed is dropped with its connection (a new one is opened), since paho would otherwise send it
again after reconnecting; only a broker that received it but whose acknowledgement was lost on
the way can have delivered it, on time.

In the topic, ``{name}`` is ``-`` when there is no name (unknown faces, alerts), and the
characters MQTT gives a meaning in topics (``/ + #``), NUL and control characters in a value
are replaced by ``_``: a person named ``a/b`` publishes to ``gatekeeper/door/granted/a_b``, never
to another level.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.door.actions import ActionSpec, Expiry, Result, one_line
from gatekeeper.door.events import DoorEvent
from gatekeeper.door.table import Table

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "gatekeeper/{camera}/{decision}"
#: The placeholders a topic template may hold.
TOPIC_FIELDS = ("camera", "decision", "name")
#: Seconds paho waits before reconnecting: first, and at most (doubling in between).
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
#: Keep-alive interval of the connection, seconds.
KEEPALIVE_S = 30
#: MQTT's topic length limit, in UTF-8 bytes.
MAX_TOPIC_BYTES = 65535


def topic_value(value: str | None) -> str:
    """``value`` made safe as (part of) one topic level; ``-`` for ``None`` or empty."""
    if not value:
        return "-"
    return "".join("_" if c in "/+#" or not c.isprintable() else c for c in value)


@dataclass(frozen=True)
class MqttSpec(ActionSpec):
    kind = "mqtt"

    host: str = ""
    port: int = 1883
    topic: str = DEFAULT_TOPIC
    qos: int = 1
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never printed

    def topic_for(self, event: DoorEvent) -> str:
        """The topic of ``event`` (placeholders filled with :func:`topic_value`)."""
        return self.topic.format(
            camera=topic_value(event.camera),
            decision=topic_value(event.decision),
            name=topic_value(event.name),
        )

    def target(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"mqtt://{user}{self.host}:{self.port} topic {self.topic} qos {self.qos}"

    def open(self) -> MqttRunner:
        return MqttRunner(self)


def parse_mqtt(table: Table, common: dict[str, Any]) -> MqttSpec:
    topic = table.text("topic", DEFAULT_TOPIC)
    try:
        topic.format(**dict.fromkeys(TOPIC_FIELDS, "x"))
    except (KeyError, IndexError, ValueError):
        raise table.error(
            f"topic may hold {', '.join('{' + f + '}' for f in TOPIC_FIELDS)} and no other "
            f"placeholder: {topic!r}"
        ) from None
    if "+" in topic or "#" in topic or "\0" in topic:
        raise table.error(f"topic cannot hold the wildcards + or # (or NUL): {topic!r}")
    if len(topic.encode()) > MAX_TOPIC_BYTES // 2:
        raise table.error("topic is too long")
    username = table.text("username")
    password = table.text("password")
    if password is not None and username is None:
        raise table.error("password needs a username")
    return MqttSpec(
        **common,
        host=table.text("host", required=True),
        port=table.whole("port", 1883, low=1, high=65535),
        topic=topic,
        qos=table.whole("qos", 1, low=0, high=2),
        username=username,
        password=password,
    )


class MqttRunner:
    """One long-lived paho client for one action, reconnecting by itself.

    A publish that fails (not acknowledged in time, or the connection dropped under it) takes
    its client with it: paho would keep the message in its session and send it again after
    reconnecting, opening a door minutes late. A fresh client, connecting in the background,
    replaces it.
    """

    def __init__(self, spec: MqttSpec) -> None:
        self.spec = spec
        self._client, self._connected = self._connect()

    def _connect(self):  # noqa: ANN202 (paho's Client, imported lazily)
        """A new client connecting in the background, and the event set while it is up."""
        import paho.mqtt.client as mqtt

        connected = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if self.spec.username is not None:
            client.username_pw_set(self.spec.username, self.spec.password)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)

        def on_connect(client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
            if reason_code.is_failure:
                log.warning(
                    "%s: broker %s refused the connection: %s",
                    self.spec.name,
                    self._where(),
                    reason_code,
                )
                return
            log.info("%s: connected to %s", self.spec.name, self._where())
            connected.set()

        def on_disconnect(client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
            if connected.is_set():
                log.warning(
                    "%s: lost %s (%s): reconnecting", self.spec.name, self._where(), reason_code
                )
            connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.connect_async(self.spec.host, self.spec.port, keepalive=KEEPALIVE_S)
        client.loop_start()
        return client, connected

    def _where(self) -> str:
        return f"{self.spec.host}:{self.spec.port}"

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the connection; whether it is up."""
        return self._connected.wait(timeout)

    def send(self, event: DoorEvent, stop: threading.Event, expiry: Expiry | None = None) -> Result:
        if not self._connected.is_set():
            return Result(False, f"not connected to the broker {self._where()} (reconnecting)")
        info = self._client.publish(
            self.spec.topic_for(event), event.payload(), qos=self.spec.qos, retain=False
        )
        try:
            info.wait_for_publish(self.spec.timeout_s)
        except (RuntimeError, ValueError) as exc:
            reason = one_line(f"publish failed: {exc}")
        else:
            if info.is_published():
                return Result(True)
            what = "acknowledged" if self.spec.qos else "sent"
            reason = f"not {what} by the broker within {self.spec.timeout_s:g} s"
        self.close()  # the unsent message goes with its client, never delivered late
        self._client, self._connected = self._connect()
        return Result(False, reason)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
