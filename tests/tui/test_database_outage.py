"""The console beside a PostgreSQL server that is stopped and started again while it runs.

Lin is enrolled and the real clip plays as the camera. While the server is down the console
keeps recognising (frames are processed, Lin is still decided on), shows "database unavailable,
N attempts waiting", and keeps the attempts in order; once the server is back they are written:
every decision the worker made is in the log exactly once, in order, and the chain verifies.
"""

from __future__ import annotations

import pytest
from postgres import Server

from gatekeeper.store import AttemptFilter
from gatekeeper.tui.screens import MainScreen
from gatekeeper.tui.widgets import CameraPanel
from gatekeeper.vision.camera import open_source

CLIP = "video/short_hamilton_clip.mp4"


@pytest.fixture(scope="module")
def server(restartable_server: Server) -> Server:
    """The module's own server: its tests stop and start it."""
    return restartable_server


@pytest.mark.slow
async def test_the_console_rides_out_a_database_restart(
    server: Server, console, wait_for, shared_data, monkeypatch
) -> None:
    url = server.create_database()
    decided = []
    post_live = MainScreen.post_live

    def keep_decisions(screen, event) -> None:
        decided.extend(getattr(event, "decisions", ()))
        post_live(screen, event)

    monkeypatch.setattr(MainScreen, "post_live", keep_decisions)
    feed = open_source(str(shared_data / CLIP), fps=5, loop=True)
    app = console(feed, db=url, camera_id="front-door", recognition_interval_s=1.0, liveness="off")
    store = app.site.store
    try:
        app.site.people.enrol("Lin", [shared_data / "faces" / "probe" / "lin-manuel-miranda.png"])
        async with app.run_test(size=(120, 40)) as pilot:
            panel = app.query_one(CameraPanel)
            await wait_for(pilot, lambda: any(d.attempt_id for d in decided), 120)
            server.stop()
            try:
                stopped_at = len(decided)
                await wait_for(pilot, lambda: app.recognizer.unrecorded >= 3, 120)
                await wait_for(pilot, lambda: "attempts waiting" in str(panel.content), 10)
                assert "database unavailable, " in str(panel.content)
                assert len(decided) - stopped_at >= 3, "still deciding while the server is down"
            finally:
                server.start()
            await wait_for(pilot, lambda: app.recognizer.unrecorded == 0, 60)
            await wait_for(pilot, lambda: "attempts waiting" not in str(panel.content), 10)
        rows = list(store.iter_attempts(AttemptFilter()))
        report = store.verify_chain()
    finally:
        store.close()
        server.drop_database(url)
    assert report.ok, report.summary()
    assert [(r.decision, r.person_name) for r in rows] == [
        (d.decision.kind, d.decision.name) for d in decided
    ], "every decision once, in the order it was made"
    assert "Lin" in {r.person_name for r in rows}
