"""Text from data is shown literally: names, camera ids and messages are never read as markup;
and a console that crashes says so in its exit status."""

from __future__ import annotations

import functools

import pytest
from textual.app import App
from textual.widgets import DataTable, Label
from textual.widgets._toast import Toast

from gatekeeper.config import Settings
from gatekeeper.store import NewAttempt
from gatekeeper.tui import app as console_app
from gatekeeper.tui.dialogs import ConfirmDialog
from gatekeeper.tui.screens import MainScreen
from gatekeeper.tui.widgets import AccessLog

pytestmark = pytest.mark.slow

NAME = "[on]obama"
CAMERA = "[/b]door"


async def test_markup_in_names_and_camera_ids_is_shown_as_typed(console, wait_for, shared_data):
    app = console()
    app.site.people.enrol(NAME, [shared_data / "faces" / "probe" / "johnsnow_test1.jpg"])
    (person,) = app.site.store.list_people()
    app.site.store.record_attempts(
        [
            NewAttempt(
                camera_id=CAMERA,
                decision="granted",
                threshold=0.55,
                model_id="dlib_resnet_v1",
                name=NAME,
                person_id=person.id,
                distance=0.4,
                box=None,
            )
        ]
    )
    async with app.run_test(size=(200, 60), notifications=True) as pilot:
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.loaded == 1)
        # A table measures its columns for new rows on its next refresh: until then a row is
        # drawn at the widths of the headers alone.
        await wait_for(pilot, lambda: NAME in log.table.render_line(1).text)
        assert CAMERA in log.table.render_line(1).text

        await pilot.press("p")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await wait_for(pilot, lambda: NAME in table.render_line(1).text)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        assert f"Remove {NAME}?" in str(app.screen.query_one(".dialog-title", Label).render())
        await pilot.press("n")
        app.notify(f"Enrolled {NAME}")
        await wait_for(pilot, lambda: app.screen.query(Toast))
        assert str(app.screen.query_one(Toast).render()) == f"Enrolled {NAME}"


def test_a_console_that_crashes_exits_non_zero(tmp_path, monkeypatch, capfd):
    def crash(self) -> None:
        raise RuntimeError("boom (test)")

    monkeypatch.setattr(MainScreen, "on_mount", crash)
    monkeypatch.setattr(
        console_app.GatekeeperApp, "run", functools.partialmethod(App.run, headless=True)
    )
    settings = Settings(home=tmp_path, mute=True, camera_id="desk")
    assert console_app.run_console(settings) == 1
    assert "the console stopped on an internal error" in capfd.readouterr().err
