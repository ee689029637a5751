"""Door actions: what to do on a decision, read from the config's ``[[actions]]`` tables.

Every action has these keys (each kind adds its own: :mod:`~gatekeeper.door.command`,
:mod:`~gatekeeper.door.webhook`, :mod:`~gatekeeper.door.mqtt`)::

    [[actions]]
    kind = "webhook"            # "command", "webhook" or "mqtt" (required)
    name = "front-strike"       # optional, unique; default "<kind>-<N>" (N: its place, from 1)
    on = ["granted"]            # decisions that fire it (required): granted, denied, unknown,
                                # spoof, alert
    cameras = ["front-door"]    # optional: only decisions of these camera ids; default all
    timeout_s = 2.0             # optional: how long one try may take in all, seconds
    max_age_s = { granted = 3 } # optional: not sent once older (per decision, or one number)

**Deadlines.** A try (connecting, sending, reading the answer; a program's whole run) ends
``timeout_s`` seconds after it started, however slowly the other side answers. An event older
than its decision's maximum age (:data:`DEFAULT_MAX_AGE_S`, or ``max_age_s``), counted from
the moment the live worker handed it to the door, is not sent, and no retry of it starts: its
outcome is recorded as expired, with the reason. So a door opens at the latest ``max_age_s +
timeout_s`` seconds after the decision, or not at all.

An action spec is a frozen description (no secret in its ``repr``); :meth:`ActionSpec.open`
gives the :class:`Runner` that sends events, one per dispatcher lane (a thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from gatekeeper.door.events import DoorEvent

#: The default and the range of ``timeout_s``, in seconds.
DEFAULT_TIMEOUT_S = 2.0
TIMEOUT_RANGE_S = (0.1, 300.0)

#: How old an event of each decision may be and still be sent, in seconds, by default. A grant
#: opens a door for a person standing at it: 5 s covers a first try that fails at once and its
#: retry (the webhook's default 2-s tries, 0.5 s apart) and is about as long as someone waits
#: at a shut door before stepping back or trying again; later, the strike would release for
#: whoever is there then. A denial, an unknown face or a photo held up drives a light or a
#: chime at the door, stale after half a minute. An alert is for a guard, who still wants it
#: minutes late.
DEFAULT_MAX_AGE_S = {"granted": 5.0, "denied": 30.0, "unknown": 30.0, "spoof": 30.0, "alert": 300.0}
#: The range of ``max_age_s``, in seconds.
MAX_AGE_RANGE_S = (0.1, 86400.0)


@dataclass(frozen=True)
class Result:
    """What one action made of one event: ``ok``, or why not (``reason``, one line), after
    ``attempts`` tries (webhooks retry; 0: it was never tried)."""

    ok: bool
    reason: str | None = None
    attempts: int = 1


@dataclass(frozen=True)
class Expiry:
    """When an event stops being worth sending: ``max_age_s`` seconds after ``born`` (on
    ``clock``, monotonic seconds), for its ``decision``."""

    decision: str
    max_age_s: float
    born: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def of(
        cls,
        spec: ActionSpec,
        event: DoorEvent,
        born: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Expiry:
        """The expiry of ``event`` at ``spec``, born at ``born`` (default: now)."""
        return cls(
            event.decision, spec.max_age(event.decision), clock() if born is None else born, clock
        )

    def remaining(self) -> float:
        """Seconds until it expires (negative: expired that long ago)."""
        return self.born + self.max_age_s - self.clock()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def unsent(self) -> str:
        """The reason of an event that expired before its first try."""
        age = self.clock() - self.born
        return f"expired: not sent, {age:.1f} s old ({self._limit()})"

    def after(self, tries: int, reason: str | None) -> str:
        """The reason of an event whose next retry would start after it expired."""
        return (
            f"expired after {tries} {'try' if tries == 1 else 'tries'} ({self._limit()}): {reason}"
        )

    def _limit(self) -> str:
        return f"max_age_s {self.max_age_s:g} for {self.decision}"


class Runner(Protocol):
    """Sends events for one action; used from one thread at a time."""

    def send(self, event: DoorEvent, stop: threading.Event, expiry: Expiry | None = None) -> Result:
        """Send ``event``; never raises for a failure of the endpoint (that is a failed
        :class:`Result`); returns early, failed, once ``stop`` is set (between retries), and
        starts no retry that would begin after ``expiry``."""
        ...

    def close(self) -> None:
        """Release connections (an MQTT client)."""
        ...


@dataclass(frozen=True)
class ActionSpec:
    """The keys every action has (see the module docstring); ``cameras`` ``None``: all;
    ``max_ages``: the maximum ages set in the config, by decision (the others: the
    defaults)."""

    kind: ClassVar[str] = ""

    name: str
    on: tuple[str, ...]
    cameras: tuple[str, ...] | None
    timeout_s: float
    max_ages: Mapping[str, float] = field(default_factory=dict, hash=False)

    def matches(self, event: DoorEvent) -> bool:
        """Whether this action fires on ``event``: its decision is in ``on`` and its camera in
        ``cameras`` (when given)."""
        return event.decision in self.on and (self.cameras is None or event.camera in self.cameras)

    def max_age(self, decision: str) -> float:
        """Seconds after which an event of ``decision`` is no longer sent."""
        return self.max_ages.get(decision, DEFAULT_MAX_AGE_S[decision])

    def target(self) -> str:
        """Where it acts, for ``doctor`` and the operator, without secrets."""
        raise NotImplementedError

    def problem(self) -> str | None:
        """What stands in its way that can be seen without firing it (``doctor``), or None."""
        return None

    def warning(self) -> str | None:
        """What works but should not be so (``doctor``'s WARN), or None."""
        return None

    def notes(self) -> list[str]:
        """What ``doctor`` says of it beyond its target and deadlines (no secrets)."""
        return []

    def describe(self) -> str:
        """One line for ``doctor``: what fires it, where it acts, its deadlines."""
        cameras = "" if self.cameras is None else f" at {', '.join(self.cameras)}"
        ages = ", ".join(f"{d} {self.max_age(d):g} s" for d in self.on)
        notes = [
            *self.notes(),
            f"a try ≤ {self.timeout_s:g} s",
            f"not sent later than {ages}",
        ]
        return (
            f"{self.name}: {self.kind} on {', '.join(self.on)}{cameras} → {self.target()} "
            f"({'; '.join(notes)})"
        )

    def open(self) -> Runner:
        raise NotImplementedError


def one_line(text: str, limit: int = 200) -> str:
    """``text`` as one line of at most ``limit`` characters (an endpoint's error message)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
