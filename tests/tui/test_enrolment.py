"""Enrolling from the console: check the face first, errors in the dialog, the largest face,
path completion, keys in a burst, (de)activation."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, DataTable, Input

from gatekeeper.tui.dialogs import ConfirmDialog, EnrolDialog
from gatekeeper.tui.people_screen import PeopleScreen

pytestmark = pytest.mark.slow


def error(dialog) -> str:
    return str(dialog.query_one(".dialog-error").content)


def face_shown(dialog) -> bool:
    preview = dialog.query_one("#enrol-face")
    return preview.display and any(
        "▀" in preview.render_line(y).text for y in range(preview.size.height)
    )


async def test_a_burst_of_keys_is_applied_in_order_and_the_right_name_enrolled(
    console, wait_for, burst, shared_data
):
    app = console()
    photo = str(shared_data / "faces" / "probe" / "lin-manuel-miranda.png")
    async with app.run_test() as pilot:
        await pilot.press("p", "i")
        dialog = app.screen
        assert isinstance(dialog, EnrolDialog)
        keys = [*"abcdef", *["backspace"] * 6, *"Miranda", "tab", *photo, "enter"]
        burst(app, keys)
        await wait_for(pilot, lambda: face_shown(dialog) or error(dialog), 20)
        assert dialog.query_one("#name", Input).value == "Miranda"
        assert dialog.query_one("#path", Input).value == photo
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PeopleScreen), 20)
        assert [p.name for p in app.site.store.list_people()] == ["Miranda"]


async def test_the_face_is_shown_before_saving_and_the_largest_can_be_taken(
    console, wait_for, shared_data
):
    app = console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p", "i", *"kit", "tab")
        dialog = app.screen
        dialog.query_one("#path", Input).value = str(
            shared_data / "faces" / "probe" / "kit_with_rose.jpg"
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: "2 faces in the photo" in error(dialog), 20)
        assert "Largest face" in error(dialog)
        assert not dialog.query_one("#enrol-face").display

        dialog.query_one("#largest", Checkbox).value = True
        dialog.query_one("#name", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: face_shown(dialog), 20)
        assert app.site.store.list_people() == [], "checking stores nothing"
        assert str(dialog.query_one("#ok").label) == "Enrol"
        for widget in (dialog.query_one("#enrol-face"), dialog.query_one("#ok")):
            assert app.screen.region.contains_region(widget.region), f"{widget} cut off"

        await pilot.press("end", "backspace", *"t")  # an edit goes back to checking
        assert not dialog.query_one("#enrol-face").display
        assert str(dialog.query_one("#ok").label) == "Check"
        await pilot.press("enter")
        await wait_for(pilot, lambda: face_shown(dialog), 20)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PeopleScreen), 20)
        assert [p.name for p in app.site.store.list_people()] == ["kit"]


async def test_the_photo_path_completes(console, wait_for, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "rose_leslie.jpg").write_bytes(b"")
    (folder / "robert").mkdir()
    app = console()
    async with app.run_test() as pilot:
        await pilot.press("p", "i", "tab")
        path = app.screen.query_one("#path", Input)
        path.value = f"{folder}/ros"
        await pilot.press("e")
        await wait_for(pilot, lambda: path._suggestion.endswith("rose_leslie.jpg"))
        await pilot.press("right")
        assert path.value == f"{folder}/rose_leslie.jpg"
        path.value = f"{folder}/rob"
        await pilot.press("e")
        await wait_for(pilot, lambda: path._suggestion == f"{folder}/robert/")


async def test_people_are_deactivated_and_activated_from_the_people_screen(
    console, wait_for, shared_data
):
    app = console()
    app.site.people.enrol("kit", [shared_data / "faces" / "probe" / "johnsnow_test1.jpg"])
    async with app.run_test() as pilot:
        await pilot.press("p")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("c")
        assert isinstance(app.screen, PeopleScreen), "no camera: c does not enrol from it"

        await pilot.press("a")
        assert isinstance(app.screen, ConfirmDialog)
        assert "Deactivate kit?" in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.site.store.list_people()[0].active)
        await wait_for(pilot, lambda: str(table.get_row_at(0)[1]) == "no")

        await pilot.press("a", "y")
        await wait_for(pilot, lambda: app.site.store.list_people()[0].active)
        await wait_for(pilot, lambda: str(table.get_row_at(0)[1]) == "yes")
