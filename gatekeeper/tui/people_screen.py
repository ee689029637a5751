"""The console's People screen: everyone enrolled with their templates, schedule, validity
and whether they may enter now; enrolment from a photo or the camera, (de)activation, access
changes and removal, each through the site in a thread worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from gatekeeper.errors import GatekeeperError
from gatekeeper.schedule import describe_validity
from gatekeeper.site import PersonInfo, ScheduleInfo, plural
from gatekeeper.tui.dialogs import (
    AccessChange,
    AccessDialog,
    ConfirmDialog,
    EnrolDialog,
)
from gatekeeper.tui.widgets import (
    HELP_BINDING,
    describe_enrolment,
    fit_columns,
    local_time,
    one_line,
    template_quality,
)

if TYPE_CHECKING:
    import numpy as np

    from gatekeeper.site import AccessNow, EnrolResult
    from gatekeeper.tui.app import GatekeeperApp


#: The People screen reads who may enter now again this often (seconds): schedules open and
#: close as time passes.
ACCESS_REFRESH_S = 30.0


#: The People table's columns, in display order: key, label, and the fewest cells the column
#: keeps when the table is too narrow for it whole (``None``: it is never cut).
PEOPLE_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("name", "Name", 12),
    ("active", "Active", None),
    ("schedule", "Schedule", 8),
    ("now", "May enter", 9),
    ("encodings", "Encodings", None),
    ("photos", "Photos", None),
    ("quality", "Quality", None),
    ("last_seen", "Last seen", None),
)
#: Left out, in this order, when the People table is too narrow (80 columns with a long name or
#: reason): "May enter" says when a person is deactivated, and the line under the table gives
#: the selected person's every detail.
PEOPLE_DROPS = ("photos", "active")


class _People(Message):
    def __init__(
        self,
        people: list[PersonInfo],
        access: dict[str, AccessNow],
        schedules: list[ScheduleInfo],
    ) -> None:
        super().__init__()
        self.people = people
        self.access = access
        self.schedules = schedules


class PeopleScreen(Screen):
    """Everyone enrolled, with counts, their schedule and whether they may enter now; enrol from
    the camera or a photo; (de)activate; edit when they may enter; remove."""

    BINDINGS = [
        Binding("c", "enrol_camera", "Enrol: camera"),
        Binding("i", "enrol_image", "Enrol: photo"),
        Binding("d,delete", "remove", "Remove", key_display="d"),
        Binding("a", "toggle_active", "(De)activate"),
        Binding("s", "edit_access", "Access"),
        Binding("r", "reload", "Refresh", show=False),
        Binding("escape", "app.pop_screen", "Back"),
        HELP_BINDING,
    ]

    app: GatekeeperApp

    def __init__(self) -> None:
        super().__init__()
        self._people: dict[str, PersonInfo] = {}
        self._access: dict[str, AccessNow] = {}
        self._schedules: list[ScheduleInfo] = []
        self._widths: dict[str, int] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="people-list"):
            yield DataTable(id="people-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="people-empty")
            yield Static(id="person-detail")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "People"
        self.query_one("#people-list").border_title = "People"
        self.query_one("#people-empty").display = False
        self._fit_columns()
        self.query_one(DataTable).focus()
        self.action_reload()
        self.set_interval(ACCESS_REFRESH_S, self.action_reload)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_columns)

    def _read_people(self) -> None:
        """Read the people, who may enter now and the schedules, and hand them to the UI
        thread (call from a worker)."""
        site = self.app.site
        try:
            people = site.people.list()
            access = site.schedules.access_now(people)
            self.post_message(_People(people, access, site.schedules.list()))
        except GatekeeperError as exc:
            self.app.notify(f"cannot read the people: {exc}", severity="error")

    @work(thread=True, exclusive=True, group="people-read")
    def action_reload(self) -> None:
        self._read_people()

    @on(_People)
    def _show_people(self, message: _People) -> None:
        self._people = {person.name: person for person in message.people}
        self._access, self._schedules = message.access, message.schedules
        self._fit_columns(force=True)
        empty = self.query_one("#people-empty", Static)
        empty.display = not self._people
        self.query_one("#people-list").set_class(not self._people, "-empty")
        camera = ", c from the camera" if self.app.has_camera else ""
        empty.update(
            Text(
                f"Nobody is enrolled yet. Press i to enrol someone from a photo{camera}; "
                "gatekeeper import FOLDER enrols a folder of photos.",
                "dim",
            )
        )
        self._show_selected()

    def _cells(self, person: PersonInfo) -> dict[str, Text]:
        now = self._access[person.name]
        schedule = now.access.schedule
        return {
            "name": Text(person.name),
            "active": Text("yes", "green") if person.active else Text("no", "yellow"),
            "schedule": Text(schedule or "any time", "" if schedule else "dim"),
            "now": Text("yes", "green") if now.may_enter else Text(f"no: {now.reason}", "yellow"),
            "encodings": Text(str(person.encodings), justify="right"),
            "photos": Text(str(person.photos), justify="right"),
            "quality": template_quality(person),
            "last_seen": Text(
                "never" if person.last_seen is None else local_time(person.last_seen, "%d %b %H:%M")
            ),
        }

    def _fit_columns(self, *, force: bool = False) -> None:
        """Lay the table out for its width (:func:`fit_columns`) and fill it again, when the
        widths change or ``force``."""
        table = self.query_one(DataTable)
        rows = {name: self._cells(person) for name, person in self._people.items()}
        natural = {
            key: max([len(label), *(cell_len(cells[key].plain) for cells in rows.values())])
            for key, label, _ in PEOPLE_COLUMNS
        }
        shortest = {key: cells for key, _, cells in PEOPLE_COLUMNS if cells is not None}
        room = table.size.width - table.styles.scrollbar_size_vertical
        widths = fit_columns(natural, room, drops=PEOPLE_DROPS, shortest=shortest)
        if widths == self._widths and not force:
            return
        selected = self.selected_name()
        self._widths = widths
        table.clear(columns=True)
        for key, label, _ in PEOPLE_COLUMNS:
            if key in widths:
                table.add_column(label, key=key, width=widths[key])
        for name, cells in rows.items():
            table.add_row(
                *(
                    one_line(cells[key], widths[key])
                    for key, _, _ in PEOPLE_COLUMNS
                    if key in widths
                ),
                key=name,
            )
        names = list(rows)
        if selected in names:
            table.move_cursor(row=names.index(selected), animate=False)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        """Everything about the person under the cursor, whole, under the table (a narrow
        table leaves columns out and cuts long names)."""
        detail = self.query_one("#person-detail", Static)
        person = self._people.get(self.selected_name() or "")
        if person is None:
            detail.update("")
            return
        now = self._access[person.name]
        access = now.access
        text = Text()
        text.append(person.name, "bold")
        text.append(": active" if person.active else ": inactive (recognised but denied)")
        text.append(f", {f'schedule {access.schedule}' if access.schedule else 'any time'}")
        if access.valid_from or access.valid_until:
            text.append(f", valid {describe_validity(access.valid_from, access.valid_until)}")
        text.append("; ")
        if now.may_enter:
            text.append("may enter now", "green")
        else:
            text.append(f"may not enter now: {now.reason}", "yellow")
        text.append(f"; {plural(person.photos, 'photo')}, {plural(person.encodings, 'encoding')}")
        text.append(", quality ").append_text(template_quality(person))
        seen = "never" if person.last_seen is None else local_time(person.last_seen)
        text.append(f"; last seen {seen}", "dim")
        detail.update(text)

    def selected_name(self) -> str | None:
        """The name on the cursor's row, if any."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # Enrolment.

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enrolling from the camera is offered only when there is a camera."""
        if action == "enrol_camera":
            return self.app.has_camera
        return True

    def action_enrol_image(self) -> None:
        dialog = EnrolDialog(self.app.site, loading=self.app.models_loading)
        self.app.push_screen(dialog, self._enrolled)

    def action_enrol_camera(self) -> None:
        dialog = EnrolDialog(self.app.site, camera=self._frame, loading=self.app.models_loading)
        self.app.push_screen(dialog, self._enrolled)

    def _frame(self) -> np.ndarray | None:
        """The camera's newest frame, for the enrolment dialog (any thread)."""
        frame = self.app.feed.latest()
        return None if frame is None else frame.image

    def _enrolled(self, result: EnrolResult | None) -> None:
        if result is None:
            return
        self.app.notify(f"Enrolled {result.name}: {describe_enrolment(result)}")
        self.action_reload()

    # Access.

    def action_toggle_active(self) -> None:
        person = self._people.get(self.selected_name() or "")
        if person is None:
            self.app.notify("Nobody selected", severity="warning")
            return
        name, active = person.name, not person.active
        if active:
            title, question = f"Activate {name}?", f"{name} will be granted access again."
        else:
            title = f"Deactivate {name}?"
            question = f"{name} stays enrolled and is recognised, but denied access."

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._set_active(name, active)

        ok = "Activate" if active else "Deactivate"
        self.app.push_screen(ConfirmDialog(title, question, ok=ok), confirmed)

    @work(thread=True, group="people-write")
    def _set_active(self, name: str, active: bool) -> None:
        try:
            self.app.site.people.set_active(name, active)
        except GatekeeperError as exc:
            self.app.notify(f"Not changed: {exc}", severity="error")
            return
        state = "active" if active else "inactive (recognised but denied)"
        self.app.notify(f"{name} is {state}")
        self._read_people()

    def action_edit_access(self) -> None:
        name = self.selected_name()
        if name is None or name not in self._access:
            self.app.notify("Nobody selected", severity="warning")
            return

        def chosen(change: AccessChange | None) -> None:
            if change is not None:
                self._save_access(name, change)

        dialog = AccessDialog(name, self._access[name].access, self._schedules)
        self.app.push_screen(dialog, chosen)

    @work(thread=True, group="people-write")
    def _save_access(self, name: str, change: AccessChange) -> None:
        """Create the new schedule if any, assign it and set the dates, in one transaction."""
        try:
            self.app.site.schedules.change_access(
                name,
                change.schedule,
                change.valid_from,
                change.valid_until,
                new_windows=change.new_windows,
            )
        except GatekeeperError as exc:
            self.app.notify(f"Not changed: {exc}", severity="error")
            self._read_people()
            return
        schedule = f"schedule {change.schedule}" if change.schedule else "any time"
        validity = describe_validity(change.valid_from, change.valid_until)
        self.app.notify(f"{name}: {schedule}, valid {validity}")
        self._read_people()

    # Removal.

    def action_remove(self) -> None:
        name = self.selected_name()
        if name is None:
            self.app.notify("Nobody to remove", severity="warning")
            return

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._remove(name)

        self.app.push_screen(
            ConfirmDialog(
                f"Remove {name}?",
                f"This erases {name}'s face encodings, kept photos and visitor crops for good. "
                "Their access attempts stay in the log.",
                ok="Remove",
                destructive=True,
            ),
            confirmed,
        )

    @work(thread=True, group="remove")
    def _remove(self, name: str) -> None:
        try:
            report = self.app.site.people.remove(name)
        except GatekeeperError as exc:
            self.app.notify(f"Not removed: {exc}", severity="error")
            return
        self.app.notify(
            f"Removed {name}: {report.encodings_deleted} encoding(s), "
            f"{report.photos_deleted} photo(s) and {report.visitors_deleted} visitor crop(s) "
            f"erased; {report.attempts_kept} attempt(s) "
            "kept in the log"
        )
        if report.leftover_files:
            self.app.notify(
                f"Could not delete {len(report.leftover_files)} file(s) under "
                f"{report.leftover_files[0]}: delete them by hand",
                severity="warning",
            )
        self._read_people()
