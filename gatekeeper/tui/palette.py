"""How access decisions look everywhere in the console: the log, the latest match, the
preview's face boxes and the help screen. A new kind of decision is one line of
:data:`DECISION_LOOKS`."""

from __future__ import annotations

from typing import NamedTuple

from rich.color import Color
from rich.style import Style


class DecisionLook(NamedTuple):
    colour: str
    """The colour's name, as the help screen says it."""
    rgb: tuple[int, int, int]
    """The colour itself: boxes in the preview, and the decision's text in bold unless
    ``text`` says otherwise."""
    meaning: str
    """What the decision means, for the help screen."""
    text: str | None = None
    """The Rich style of the decision's text in the log and the latest match, when it is not
    bold ``rgb``."""


DECISION_LOOKS: dict[str, DecisionLook] = {
    "granted": DecisionLook("green", (40, 200, 80), "an active enrolled person"),
    "denied": DecisionLook(
        "yellow",
        (230, 200, 40),
        "an enrolled person refused: deactivated, outside their schedule or validity dates, or "
        "the records were changed outside Gatekeeper",
    ),
    "unknown": DecisionLook("red", (230, 60, 60), "nobody enrolled"),
    "spoof": DecisionLook(
        "white on red, magenta boxes",
        (230, 60, 230),
        "an enrolled face shown on a photo or a screen",
        "bold white on red",
    ),
}
#: Faces that are not evidence (too small, turned away), and any decision not listed above.
OTHER_RGB = (150, 150, 150)


def decision_rgb(kind: str) -> tuple[int, int, int]:
    """The RGB colour of a decision (or of a face's verdict in the preview)."""
    look = DECISION_LOOKS.get(kind)
    return OTHER_RGB if look is None else look.rgb


def decision_style(kind: str) -> Style:
    """The Rich style of a decision's text: its ``text`` style, else bold in its colour."""
    look = DECISION_LOOKS.get(kind)
    if look is not None and look.text is not None:
        return Style.parse(look.text)
    return Style(color=Color.from_rgb(*decision_rgb(kind)), bold=True)


def decisions_legend() -> str:
    """``granted (green: an active enrolled person), …`` for the help screen."""
    return ", ".join(
        f"{kind} ({look.colour}: {look.meaning})" for kind, look in DECISION_LOOKS.items()
    )
