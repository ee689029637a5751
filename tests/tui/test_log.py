"""The access log as an operator reads it: columns that fit, search, no matches, follow mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import Input, Select

from gatekeeper.store import NewAttempt
from gatekeeper.tui.dialogs import FilterDialog
from gatekeeper.tui.widgets import AccessLog

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LONG_NAME = "Lin-Manuel Miranda Hamilton Jr"


def attempt(name: str | None, decision: str, minute: int, camera: str = "desk") -> NewAttempt:
    return NewAttempt(
        camera_id=camera,
        decision=decision,
        threshold=0.55,
        model_id="dlib_resnet_v1",
        name=name,
        distance=0.42 if name else 0.81,
        box=None,
        time=START + timedelta(minutes=minute),
    )


def people(log: AccessLog) -> list[str]:
    return [str(log.table.get_cell(str(log.attempt_id_at(i)), "person")) for i in range(log.loaded)]


async def test_at_80x24_decision_and_distance_come_first_and_camera_and_id_go(console, wait_for):
    app = console()
    app.site.store.record_attempts([attempt("lin", "granted", 0)])
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.loaded == 1)
        header, first = log.table.render_line(0).text, log.table.render_line(1).text
        assert header.split() == ["Decision", "Dist.", "Time", "Person"]
        assert first.split()[:2] == ["granted", "0.42"]
        assert "lin" in first and "desk" not in first


async def test_at_200x60_every_column_shows_and_they_widen_to_the_log(console, wait_for):
    app = console()
    app.site.store.record_attempts([attempt(LONG_NAME, "granted", 0, camera="garage")])
    async with app.run_test(size=(200, 60)) as pilot:
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.loaded == 1)
        header, first = log.table.render_line(0).text, log.table.render_line(1).text
        assert header.split() == ["Decision", "Dist.", "Time", "Person", "Camera", "#"]
        assert LONG_NAME in first and "garage" in first
        table = log.table
        used = sum(column.get_render_width(table) for column in table.ordered_columns)
        assert used >= table.size.width - table.styles.scrollbar_size_vertical


async def test_search_by_part_of_a_name_time_decision_and_camera(console, wait_for):
    app = console()
    app.site.store.record_attempts(
        [
            attempt("Lin-Manuel", "granted", 0, camera="door"),
            attempt("lin", "granted", 10, camera="door"),
            attempt("lin", "denied", 20, camera="door"),
            attempt("lin", "granted", 30, camera="garage"),
            attempt("Ada", "granted", 40, camera="door"),
            attempt(None, "unknown", 50, camera="door"),
            attempt("Marlin", "granted", 90, camera="door"),
        ]
    )
    local = (START + timedelta(minutes=5)).astimezone()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.loaded == 7)
        await pilot.press("f")
        assert isinstance(app.screen, FilterDialog)
        await pilot.press(*"LIN")  # case-insensitive, any part of the name
        app.screen.query_one("#since", Input).value = f"{local:%Y-%m-%d %H:%M}"
        until = local + timedelta(minutes=60)
        app.screen.query_one("#until", Input).value = f"{until:%Y-%m-%d %H:%M}"
        app.screen.query_one("#decision", Select).value = "granted"
        app.screen.query_one("#camera", Input).value = "door"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "person_contains=LIN" in str(log.border_title))
        await wait_for(pilot, lambda: log.loaded == 1)
        assert people(log) == ["lin"]
        assert not log.query_one("#log-empty").display

        await pilot.press("f")
        assert app.screen.query_one("#person", Input).value == "LIN", "the dialog shows it"
        assert app.screen.query_one("#camera", Input).value == "door"
        app.screen.query_one("#person", Input).value = "nobody"
        await pilot.press("enter")
        empty = log.query_one("#log-empty")
        await wait_for(pilot, lambda: empty.display)
        assert "No matches" in str(empty.render()) and "c to clear" in str(empty.render())
        assert log.loaded == 0

        await pilot.press("c")
        await wait_for(pilot, lambda: log.loaded == 7)
        assert str(log.border_title).endswith("all attempts") and not empty.display
        assert app.screen.check_action("clear_filter", ()) is False, "c is offered when filtered"


async def test_new_rows_leave_a_scrolled_log_where_the_operator_put_it(console, wait_for):
    app = console()
    store = app.site.store
    store.record_attempts(attempt(f"p{i}", "granted", i) for i in range(100))
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(AccessLog)
        table = log.table
        await wait_for(pilot, lambda: log.loaded == 100)
        await pilot.press(*["down"] * 40)
        await wait_for(pilot, lambda: table.scroll_y > 0)
        under_cursor, scrolled = log.attempt_id_at(table.cursor_row), table.scroll_y
        in_view = table.render_line(1).text

        store.record_attempts(attempt(f"new{i}", "granted", 200 + i) for i in range(3))
        log.refresh_head()
        await wait_for(pilot, lambda: log.loaded == 103)
        await wait_for(pilot, lambda: table.scroll_y == scrolled + 3, timeout=10)
        assert log.attempt_id_at(table.cursor_row) == under_cursor
        assert table.render_line(1).text == in_view
        assert log.unseen == 3 and "3 new above" in str(log.border_subtitle)

        await pilot.press("ctrl+home")  # back on top: following again
        assert log.unseen == 0 and people(log)[0] == "new2"
        store.record_attempts([attempt("newest", "granted", 300)])
        log.refresh_head()
        await wait_for(pilot, lambda: log.loaded == 104)
        assert table.cursor_row == 0 and people(log)[0] == "newest"
        assert "newest" in table.render_line(1).text
