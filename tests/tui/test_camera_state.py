"""What the camera panel, the preview and the latest match tell an operator about time: when a
lost camera is retried and why it was lost, a key to retry, a stale preview, a decision's age."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from gatekeeper.door.alerts import AlertRule
from gatekeeper.errors import CameraError
from gatekeeper.live import RecordedDecision
from gatekeeper.recognition import Decision
from gatekeeper.store import AttemptFilter
from gatekeeper.tui import screens
from gatekeeper.tui.widgets import CameraPanel, FramePreview, MatchPanel
from gatekeeper.vision.camera import CameraFeed, CameraState, open_source

pytestmark = pytest.mark.slow

REASON = (
    "cannot open rtsp://door-camera.example:554/stream: connection refused by the camera "
    "after 10 s; check its power, its cable and the address given with --camera"
)


class RefusingCamera:
    """A stream that never opens, counting the attempts."""

    description = "rtsp://door-camera.example:554/stream"
    live = True

    def __init__(self) -> None:
        self.opened = 0

    def open(self):
        self.opened += 1
        raise CameraError(REASON)


def panel_text(app) -> str:
    """The camera panel as shown, its wrapped lines joined by spaces."""
    panel = app.query_one(CameraPanel)
    return " ".join(" ".join(panel.render_line(y).text.split()) for y in range(panel.size.height))


async def test_a_lost_camera_says_when_it_retries_and_why_and_r_retries_now(console, wait_for):
    camera = RefusingCamera()
    app = console(CameraFeed(camera, backoff_initial_s=30.0, backoff_max_s=30.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "reconnecting in" in str(app.query_one(CameraPanel).content))
        assert re.search(r"State lost — reconnecting in (30|29|28) s", panel_text(app))
        # The panel grows to the wrapped reason on a later layout pass: wait for the whole of it.
        await wait_for(pilot, lambda: REASON.replace(" ", "") in panel_text(app).replace(" ", ""))
        assert app.screen.check_action("retry_camera", ()) is True
        opened = camera.opened
        await pilot.press("r")
        await wait_for(pilot, lambda: camera.opened == opened + 1)


async def test_an_ended_clip_replays_and_a_frozen_preview_is_marked_stale(
    console, wait_for, shared_data, tmp_path, monkeypatch
):
    monkeypatch.setattr(screens, "STALE_AFTER_S", 0.5)
    folder = tmp_path / "camera"
    folder.mkdir()
    shutil.copy(shared_data / "seed-images" / "camera_0.jpg", folder / "0.jpg")
    app = console(open_source(str(folder), fps=5, loop=False))
    async with app.run_test(size=(120, 40)) as pilot:
        preview = app.query_one(FramePreview)

        def top_row() -> str:
            rows = [preview.render_line(y).text for y in range(preview.size.height)]
            return next((row for row in rows if row.strip()), "")

        await wait_for(pilot, lambda: app.feed.status().state is CameraState.ENDED, 60)
        await wait_for(pilot, lambda: app.recognizer.latest() is not None, 60)
        await wait_for(pilot, lambda: "STALE" in top_row())
        assert "▀" in top_row(), "the frame stays under the mark"
        assert app.screen.check_action("retry_camera", ()) is True
        await pilot.press("r")
        await wait_for(pilot, lambda: app.feed.status().frame_id == 2)


async def test_the_latest_decision_shows_its_age_and_dims_when_old(console, wait_for):
    app = console()
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    async with app.run_test() as pilot:
        panel = app.query_one(MatchPanel)
        panel.clock = lambda: now
        decision = Decision("granted", "lin", 0.41, (0, 0, 10, 10), 0.0)
        panel.show(RecordedDecision(decision, now - timedelta(seconds=12), 7), 0.55)
        assert "12 s ago" in str(panel.content)
        panel.clock = lambda: now + timedelta(minutes=5)
        await wait_for(pilot, lambda: "5 min ago" in str(panel.content))  # the status timer
        assert panel.content.style == "dim"


async def test_at_80x24_the_footer_holds_every_key_offered(console, wait_for):
    """With the log filtered, the camera lost and an alert up (it is lost), every key."""
    app = console(
        CameraFeed(RefusingCamera(), backoff_initial_s=30.0, backoff_max_s=30.0),
        alerts=(AlertRule("door-camera", "camera_lost", after_s=0.1),),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.check_action("retry_camera", ()))
        await wait_for(pilot, lambda: app.screen.check_action("acknowledge_alert", ()))
        app.screen.set_log_filter(AttemptFilter(person_contains="lin"))
        footer = app.query_one(Footer)
        wanted = {
            "People",
            "Visitors",
            "Filter",
            "Clear",
            "Retry",
            "Export",
            "Ack alert",
            "Help",
            "Quit",
        }

        def shown() -> dict[str, object]:
            return {key.description: key.region for key in footer.query(FooterKey)}

        await wait_for(pilot, lambda: wanted <= set(shown()))
        await wait_for(pilot, lambda: all(shown()[key].area for key in wanted))
        for key in wanted:
            assert app.screen.region.contains_region(shown()[key]), f"{key} is cut off"
