"""Every decision the store can hold has one look, used everywhere in the console."""

from gatekeeper.store import DECISIONS
from gatekeeper.tui.palette import DECISION_LOOKS, OTHER_RGB, decision_rgb, decision_style


def test_every_decision_has_a_distinct_colour():
    assert set(DECISIONS) <= set(DECISION_LOOKS)
    colours = [decision_rgb(kind) for kind in DECISIONS]
    assert len(set(colours)) == len(colours) and OTHER_RGB not in colours
    assert decision_style("granted").color.triplet == DECISION_LOOKS["granted"].rgb
