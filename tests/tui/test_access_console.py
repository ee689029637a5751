"""The console and access schedules: the People screen shows each person's schedule and whether
they may enter now, its dialog assigns a schedule (an existing one, or a new one typed as
windows) and validity dates, and the access log says why a person was denied."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from textual.widgets import DataTable, Input, Select
from textual.widgets._footer import FooterKey

from gatekeeper.live import RecordedDecision
from gatekeeper.recognition import Decision
from gatekeeper.schedule import Access, parse_windows
from gatekeeper.store import NewAttempt
from gatekeeper.tui.dialogs import AccessDialog
from gatekeeper.tui.people_screen import PeopleScreen
from gatekeeper.tui.widgets import AccessLog, MatchPanel
from gatekeeper.vision.camera import CameraState, open_source

pytestmark = pytest.mark.slow


def _cells(table: DataTable, row: int) -> list[str]:
    return [str(cell) for cell in table.get_row_at(row)]


def _access(app, name: str) -> Access:
    person = app.site.store.get_person(name)
    return app.site.store.access_rules().get(person.id, Access())


async def test_people_screen_edits_schedules_and_validity(console, wait_for):
    app = console(timezone="Europe/Berlin")
    store = app.site.store
    store.add_person("kit")
    store.add_person("rose")
    store.set_schedule("staff", parse_windows(["Mon-Fri 07:00-19:00"]))
    store.set_validity("rose", None, date(2000, 1, 31))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("p")
        assert isinstance(app.screen, PeopleScreen)
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert _cells(table, 0)[:4] == ["kit", "yes", "any time", "yes"]
        assert _cells(table, 1)[:4] == ["rose", "yes", "any time", "no: expired after 2000-01-31"]

        # A new schedule, typed as windows, with a last day.
        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, AccessDialog)
        assert "When may kit enter?" in str(dialog.query_one(".dialog-title").render())
        dialog.query_one("#new-schedule", Input).focus()
        await pilot.press(*"night", "tab", *"Sun 22:00-06:00", "tab", "tab", *"2999-12-31")
        await pilot.press("enter")
        await wait_for(pilot, lambda: _access(app, "kit").schedule == "night")
        assert _access(app, "kit") == Access(
            "night", parse_windows(["Sun 22:00-06:00"]), None, date(2999, 12, 31)
        )
        await wait_for(pilot, lambda: _cells(table, 0)[2] == "night")
        assert any("kit: schedule night, valid until 2999-12-31" in m for m in app.notes.messages())

        # The dialog refuses what it cannot save, and stays open.
        await pilot.press("s")
        dialog = app.screen
        assert dialog.query_one("#valid-until", Input).value == "2999-12-31"
        assert dialog.query_one("#schedule", Select).value == "night"
        dialog.query_one("#new-schedule", Input).value = "Staff"
        dialog.query_one("#windows", Input).value = "always"
        dialog.query_one("#windows", Input).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, AccessDialog)
        assert "there is a schedule staff already" in str(dialog.query_one(".dialog-error").content)
        dialog.query_one("#new-schedule", Input).value = ""
        dialog.query_one("#windows", Input).value = ""
        dialog.query_one("#valid-from", Input).value = "2027-02-30"
        await pilot.press("enter")
        assert "From must be a date as YYYY-MM-DD" in str(dialog.query_one(".dialog-error").content)

        # An existing schedule picked from the list; the dates cleared.
        dialog.query_one("#valid-from", Input).value = ""
        dialog.query_one("#valid-until", Input).value = ""
        select = dialog.query_one("#schedule", Select)
        select.focus()
        await pilot.press("enter", "down", "enter")
        await wait_for(pilot, lambda: select.value == "staff")
        dialog.query_one("#ok").press()
        await wait_for(
            pilot,
            lambda: _access(app, "kit") == Access("staff", store.get_schedule("staff").windows),
        )
        await wait_for(pilot, lambda: _cells(table, 0)[2] == "staff")
        assert store.get_schedule("staff").people == ("kit",)
        assert store.verify_chain().ok


async def test_the_access_log_and_the_latest_match_say_why_a_person_was_denied(console, wait_for):
    app = console()
    app.site.store.record_attempts(
        [
            NewAttempt(
                camera_id="desk",
                decision="denied",
                threshold=0.55,
                model_id="dlib_resnet_v1",
                name="kit",
                distance=0.4,
                reason="outside schedule staff",
            )
        ]
    )
    async with app.run_test(size=(120, 30)) as pilot:
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.loaded == 1)
        person = str(log.table.get_cell(str(log.attempt_id_at(0)), "person"))
        assert person == "kit · outside schedule staff"
        panel = app.query_one(MatchPanel)
        decision = Decision("denied", "kit", 0.4, (1, 2, 30, 40), 0.0)
        panel.show(RecordedDecision(decision, datetime.now(UTC), 1, "outside schedule staff"), 0.55)
        shown = str(panel.render())
        assert "DENIED" in shown and "outside schedule staff" in shown


async def test_every_people_screen_key_and_the_access_columns_fit_80_columns(
    console, wait_for, shared_data
):
    """With a camera (so "Enrol: camera" is offered) the People screen's seven keys fit an
    80-column terminal, and its table shows the schedule and "May enter" first."""
    feed = open_source(str(shared_data / "video" / "short_hamilton_clip.mp4"), fps=1, loop=True)
    app = console(feed=feed)
    app.site.store.add_person("kit")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: feed.status().state is not CameraState.NONE)
        await pilot.press("p")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await wait_for(pilot, lambda: "Enrol: camera" in _footer(app))
        keys = app.screen.query(FooterKey)
        assert [key.description for key in keys] == [
            "Enrol: camera", "Enrol: photo", "Remove", "(De)activate", "Access", "Back", "Help"
        ]  # fmt: skip
        assert all(key.region.right <= 80 for key in keys), [key.region for key in keys]
        header = app.export_screenshot().replace("&#160;", " ")
        assert "Schedule" in header and "May enter" in header


def _footer(app) -> list[str]:
    return [key.description for key in app.screen.query(FooterKey)]
