"""A photo of an enrolled person held up to the console's camera: shown plainly as a spoof."""

from __future__ import annotations

import pytest

from gatekeeper.tui.palette import decision_style
from gatekeeper.tui.widgets import AccessLog, CameraPanel, MatchPanel
from gatekeeper.vision.camera import open_source

pytestmark = pytest.mark.slow


async def test_a_replayed_photo_is_a_spoof_in_every_panel(console, wait_for, shared_data, tmp_path):
    frames = shared_data / "liveness"
    attack = tmp_path / "attack"
    attack.mkdir()
    for spoof in sorted((frames / "spoof").glob("lestari15__*")):
        (attack / spoof.name).write_bytes(spoof.read_bytes())
    app = console(open_source(str(attack), fps=5, loop=True))
    app.site.people.enrol("lestari", [frames / "live" / "lestari15__real_f0000.jpg"])
    async with app.run_test(size=(120, 40)) as pilot:
        match = app.query_one(MatchPanel)
        await wait_for(pilot, lambda: "SPOOF" in str(match.content), 60)
        assert str(match.content).startswith("lestari")
        assert "a photo or a screen, not a live person: refused" in str(match.content)
        panel = app.query_one(CameraPanel)
        await wait_for(pilot, lambda: "Spoofs" in str(panel.content))
        assert "photo or screen attempts refused" in str(panel.content)
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.loaded >= 1)
        newest = str(log.attempt_id_at(0))
        person, decision = (log.table.get_cell(newest, key) for key in ("person", "decision"))
        assert [str(person), str(decision)] == ["lestari", "spoof"]
        assert decision.style == decision_style("spoof") != decision_style("unknown")
