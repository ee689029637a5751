"""The registry of door action kinds: which ``kind`` of ``[[actions]]`` table each module
reads, and reading a config's actions with it (:func:`parse_actions`).

The kinds' modules (:mod:`~gatekeeper.door.command`, :mod:`~gatekeeper.door.webhook`,
:mod:`~gatekeeper.door.mqtt`) build on :mod:`~gatekeeper.door.actions` (the keys every action
has, its deadlines); this module sits above them all, so a new kind is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatekeeper.door.actions import (
    DEFAULT_TIMEOUT_S,
    MAX_AGE_RANGE_S,
    TIMEOUT_RANGE_S,
    ActionSpec,
)
from gatekeeper.door.command import parse_command
from gatekeeper.door.events import DOOR_DECISIONS
from gatekeeper.door.mqtt import parse_mqtt
from gatekeeper.door.table import Table, entries, unique_names
from gatekeeper.door.webhook import parse_webhook

#: Each action kind and what reads its table: ``parse(table, common)``, ``common`` the keys
#: every action has, already read.
KINDS: dict[str, Callable[[Table, dict[str, Any]], ActionSpec]] = {
    "command": parse_command,
    "webhook": parse_webhook,
    "mqtt": parse_mqtt,
}


def parse_actions(key: str, value: Any) -> tuple[ActionSpec, ...]:
    """The ``[[actions]]`` of a config (``key`` is ``actions``) as specs; a one-line
    ``UsageError`` naming the entry and the key for anything wrong."""
    specs = []
    for index, table in enumerate(entries(key, value), start=1):
        kind = table.text("kind", required=True)
        if kind not in KINDS:
            raise table.error(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        name = table.name(f"{kind}-{index}")  # names the table in the errors from here on
        on = table.texts("on", required=True, choices=DOOR_DECISIONS)
        common = {
            "name": name,
            "on": on,
            "cameras": table.texts("cameras", required=False),
            "timeout_s": table.number(
                "timeout_s", DEFAULT_TIMEOUT_S, low=TIMEOUT_RANGE_S[0], high=TIMEOUT_RANGE_S[1]
            ),
            "max_ages": table.numbers(
                "max_age_s", on, low=MAX_AGE_RANGE_S[0], high=MAX_AGE_RANGE_S[1]
            ),
        }
        spec = KINDS[kind](table, common)
        table.done()
        specs.append(spec)
    unique_names(key, [spec.name for spec in specs])
    return tuple(specs)
