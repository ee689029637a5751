"""Door actions: what to do on a decision, read from the config's ``[[actions]]`` tables.

Every action has these keys (each kind adds its own: :mod:`~gatekeeper.door.command`,
:mod:`~gatekeeper.door.webhook`, :mod:`~gatekeeper.door.mqtt`)::

    [[actions]]
    kind = "webhook"            # "command", "webhook" or "mqtt" (required)
    name = "front-strike"       # optional, unique; default "<kind>-<N>" (N: its place, from 1)
    on = ["granted"]            # decisions that fire it (required): granted, denied, unknown,
                                # spoof, alert
    cameras = ["front-door"]    # optional: only decisions of these camera ids; default all
    timeout_s = 2.0             # optional: how long one try may take, seconds

An action spec is a frozen description (no secret in its ``repr``); :meth:`ActionSpec.open`
gives the :class:`Runner` that sends events, one per action, used by one dispatcher thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from gatekeeper.door.events import DOOR_DECISIONS, DoorEvent
from gatekeeper.door.table import entries, unique_names

#: The default and the range of ``timeout_s``, in seconds.
DEFAULT_TIMEOUT_S = 2.0
TIMEOUT_RANGE_S = (0.1, 300.0)


@dataclass(frozen=True)
class Result:
    """What one action made of one event: ``ok``, or why not (``reason``, one line), after
    ``attempts`` tries (webhooks retry; 0: it was never tried)."""

    ok: bool
    reason: str | None = None
    attempts: int = 1


class Runner(Protocol):
    """Sends events for one action; used from one thread at a time."""

    def send(self, event: DoorEvent, stop: threading.Event) -> Result:
        """Send ``event``; never raises for a failure of the endpoint (that is a failed
        :class:`Result`); returns early, failed, once ``stop`` is set (between retries)."""
        ...

    def close(self) -> None:
        """Release connections (an MQTT client)."""
        ...


@dataclass(frozen=True)
class ActionSpec:
    """The keys every action has (see the module docstring); ``cameras`` ``None``: all."""

    kind: ClassVar[str] = ""

    name: str
    on: tuple[str, ...]
    cameras: tuple[str, ...] | None
    timeout_s: float

    def matches(self, event: DoorEvent) -> bool:
        """Whether this action fires on ``event``: its decision is in ``on`` and its camera in
        ``cameras`` (when given)."""
        return event.decision in self.on and (self.cameras is None or event.camera in self.cameras)

    def target(self) -> str:
        """Where it acts, for ``doctor`` and the operator, without secrets."""
        raise NotImplementedError

    def problem(self) -> str | None:
        """What stands in its way that can be seen without firing it (``doctor``), or None."""
        return None

    def describe(self) -> str:
        cameras = "" if self.cameras is None else f" at {', '.join(self.cameras)}"
        return f"{self.name}: {self.kind} on {', '.join(self.on)}{cameras} → {self.target()}"

    def open(self) -> Runner:
        raise NotImplementedError


def parse_actions(key: str, value: Any) -> tuple[ActionSpec, ...]:
    """The ``[[actions]]`` of a config (``key`` is ``actions``) as specs; a one-line
    ``UsageError`` naming the entry and the key for anything wrong."""
    from gatekeeper.door.command import parse_command
    from gatekeeper.door.mqtt import parse_mqtt
    from gatekeeper.door.webhook import parse_webhook

    parsers = {"command": parse_command, "webhook": parse_webhook, "mqtt": parse_mqtt}
    specs = []
    for index, table in enumerate(entries(key, value), start=1):
        kind = table.text("kind", required=True)
        if kind not in parsers:
            raise table.error(f"kind must be one of {', '.join(parsers)}, got {kind!r}")
        common = {
            "name": table.name(f"{kind}-{index}"),
            "on": table.texts("on", required=True, choices=DOOR_DECISIONS),
            "cameras": table.texts("cameras", required=False),
            "timeout_s": table.number(
                "timeout_s", DEFAULT_TIMEOUT_S, low=TIMEOUT_RANGE_S[0], high=TIMEOUT_RANGE_S[1]
            ),
        }
        spec = parsers[kind](table, common)
        table.done()
        specs.append(spec)
    unique_names(key, [spec.name for spec in specs])
    return tuple(specs)


def one_line(text: str, limit: int = 200) -> str:
    """``text`` as one line of at most ``limit`` characters (an endpoint's error message)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
