"""The Visitors screen: kept faces listed newest first and drawn in half blocks, enrolled as a
person through the enrolment dialog's checks, dismissed after asking; expiry at start and
periodically. At 80×24."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from itertools import combinations

import pytest
from helpers import keep_visitor
from textual.coordinate import Coordinate
from textual.widgets import Button, DataTable, Footer, Header, Input, Static
from textual.widgets._footer import FooterKey

from gatekeeper.config import VisitorSettings
from gatekeeper.tui import app as console_app
from gatekeeper.tui.dialogs import ConfirmDialog, VisitorEnrolDialog
from gatekeeper.tui.help_screen import HelpScreen
from gatekeeper.tui.screens import VisitorsScreen
from gatekeeper.tui.widgets import AccessLog, FramePreview, MatchPanel
from gatekeeper.vision.camera import open_source
from gatekeeper.vision.image import load_image

pytestmark = pytest.mark.slow

KEEP = VisitorSettings(keep=True)


def half_blocks(widget) -> bool:
    return any("▀" in widget.render_line(y).text for y in range(widget.size.height))


def rows(screen: VisitorsScreen) -> list[tuple[int, str, str, str]]:
    """(visitor id, camera, decision, status) of each row, top to bottom."""
    table = screen.query_one(DataTable)
    shown = []
    for index in range(table.row_count):
        key = table.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
        _, camera, decision, status = (str(cell) for cell in table.get_row_at(index))
        shown.append((int(key), camera, decision, status))
    return shown


def visitor_events(app) -> list[str]:
    with sqlite3.connect(app.site.settings.database) as db:
        return [
            row[0]
            for row in db.execute(
                "SELECT kind FROM admin_event WHERE kind LIKE 'visitor%' ORDER BY seq"
            )
        ]


@pytest.fixture
def lin(shared_data, engine):
    """Lin's photo as a camera frame, and the box of his face in it."""
    rgb = load_image(shared_data / "faces" / "probe" / "lin-manuel-miranda.png")
    return rgb, engine.detect(rgb)[0].box


async def test_visitors_are_listed_newest_first_and_dismissed_after_asking(console, wait_for, lin):
    app = console(visitors=KEEP)
    now = datetime.now(UTC)
    store = app.site.store
    older = keep_visitor(store, *lin, kept=now - timedelta(hours=1))
    newer = keep_visitor(store, *lin, decision="denied", camera_id="back-door", kept=now)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        screen = app.screen
        assert isinstance(screen, VisitorsScreen)
        await wait_for(pilot, lambda: len(rows(screen)) == 2)
        assert rows(screen) == [
            (newer, "back-door", "denied", "new"),
            (older, "front-door", "unknown", "new"),
        ]
        crop = screen.query_one(FramePreview)
        await wait_for(pilot, lambda: half_blocks(crop))
        detail = str(screen.query_one("#visitor-detail", Static).content)
        assert f"#{newer} denied at back-door" in detail and "looks like someone" in detail

        region = screen.region
        widgets = [
            screen.query_one(Header),
            screen.query_one("#visitors-list"),
            screen.query_one("#visitor-side"),
            screen.query_one(Footer),
        ]
        for widget in widgets:
            assert region.contains_region(widget.region), f"{widget} leaves 80x24"
        for a, b in combinations(widgets, 2):
            assert not a.region.overlaps(b.region), f"{a} overlaps {b}"
        assert crop.region.height >= 10 and crop.region.width >= 26
        keys = {key.description: key.region for key in screen.query(FooterKey)}
        for wanted in ("Enrol", "Dismiss", "Back", "Help"):
            assert region.contains_region(keys[wanted]), f"{wanted} is cut off"

        await pilot.press("down")
        await wait_for(
            pilot,
            lambda: f"#{older} unknown" in str(screen.query_one("#visitor-detail", Static).content),
        )
        await pilot.press("d")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert f"Dismiss visitor {older}?" in str(dialog.query_one(".dialog-title").render())
        assert dialog.query_one("#ok", Button).variant == "error", "destructive: red"
        assert dialog.focused is dialog.query_one("#cancel", Button)
        await pilot.press("n")
        assert len(store.list_visitors()) == 2
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: [r[0] for r in rows(screen)] == [newer])
        assert [v.id for v in store.list_visitors()] == [newer]
        assert visitor_events(app) == ["visitor_dismiss"]
        assert store.verify_chain().ok

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Visitors screen" in str(app.screen.query_one(Static).content)


async def test_a_stranger_at_the_door_is_kept_then_enrolled_from_the_screen_and_recognised(
    console, wait_for, shared_data, tmp_path
):
    door = tmp_path / "door"
    door.mkdir()
    shutil.copy(shared_data / "faces" / "probe" / "lin-manuel-miranda.png", door / "frame.png")
    app = console(open_source(str(door), fps=5, loop=True), visitors=KEEP)
    store = app.site.store
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: store.list_visitors(), 60)
        assert {v.decision for v in store.list_visitors()} == {"unknown"}
        assert store.list_people() == []
        await pilot.press("u")
        screen = app.screen
        await wait_for(pilot, lambda: rows(screen))
        visitor = rows(screen)[0][0]  # the cursor's, the newest
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, VisitorEnrolDialog)
        await pilot.press(*"Lin", "enter")
        face = dialog.query_one("#enrol-face", FramePreview)
        await wait_for(pilot, lambda: face.display and half_blocks(face), 30)
        assert "will be enrolled as Lin" in str(dialog.query_one("#enrol-note", Static).content)
        assert store.list_people() == [], "checking stores nothing"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, 30)
        assert [p.name for p in store.list_people()] == ["Lin"]
        assert any(
            m.startswith(f"Enrolled Lin from visitor {visitor}") for m in app.notes.messages()
        )
        await wait_for(pilot, lambda: (visitor, "→ Lin") in [(r[0], r[3]) for r in rows(screen)])
        (enrolled,) = [v for v in store.list_visitors() if v.id == visitor]
        assert (enrolled.status, enrolled.enrolled_name) == ("enrolled", "Lin")

        await pilot.press("escape")
        match = app.query_one(MatchPanel)
        await wait_for(pilot, lambda: "GRANTED" in str(match.content), 60)
        assert str(match.content).startswith("Lin")
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.loaded and "granted" in str(log.table.get_row_at(0)[0]))
    assert store.verify_chain().ok


async def test_a_low_quality_visitor_face_is_enrolled_only_after_confirming(
    console, wait_for, shared_data
):
    app = console(visitors=KEEP)
    crop = load_image(shared_data / "seed-images" / "younes.jpg")  # a 65-pixel face
    visitor = keep_visitor(app.site.store, crop, (0, 0, *crop.shape[1::-1]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        screen = app.screen
        await wait_for(pilot, lambda: len(rows(screen)) == 1)
        for answer in ("n", "y"):
            await pilot.press("e")
            dialog = app.screen
            dialog.query_one("#name", Input).value = "younes"
            await pilot.press("enter")
            await wait_for(pilot, lambda d=dialog: d.query_one("#enrol-face").display, 30)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), 30)
            question = str(app.screen.query_one(".dialog-text").content)
            assert "at least 80 px needed for enrolment. Enrol anyway?" in question
            await pilot.press(answer)
            if answer == "n":
                assert app.screen is dialog, "a refusal keeps the dialog open"
                await wait_for(
                    pilot,
                    lambda d=dialog: "Not enrolled" in str(d.query_one(".dialog-error").content),
                )
                assert app.site.store.list_people() == []
                await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, 30)
        (person,) = app.site.store.list_people()
        assert (person.name, person.quality) == ("younes", "low")
        assert app.site.store.get_visitor(visitor).enrolled_name == "younes"


async def test_expired_crops_are_deleted_at_start_and_then_periodically(
    console, wait_for, lin, monkeypatch
):
    monkeypatch.setattr(console_app, "EXPIRE_INTERVAL_S", 0.5)
    app = console(visitors=VisitorSettings(keep=True, retention_days=30))
    store = app.site.store
    now = datetime.now(UTC)
    keep_visitor(store, *lin, kept=now - timedelta(days=31))
    recent = keep_visitor(store, *lin, kept=now - timedelta(days=29))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: [v.id for v in store.list_visitors()] == [recent])
        deleted = "Deleted 1 visitor crop(s) older than 30 days"
        await wait_for(pilot, lambda: deleted in app.notes.messages())
        keep_visitor(store, *lin, kept=now - timedelta(days=40))  # e.g. a clock put right
        await wait_for(pilot, lambda: [v.id for v in store.list_visitors()] == [recent], 10)
    assert visitor_events(app) == ["visitor_expire", "visitor_expire"]
    assert store.verify_chain().ok


async def test_with_keeping_off_the_screen_says_how_to_turn_it_on(console, wait_for):
    app = console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        empty = app.screen.query_one("#visitors-empty", Static)
        await wait_for(pilot, lambda: empty.display)
        assert "set keep = true under [visitors]" in str(empty.content)
