"""The console's screens: the main (live) screen, the people screen and the help screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Static

from gatekeeper.errors import GatekeeperError, MultipleFacesError, NoFaceError
from gatekeeper.store import PersonInfo
from gatekeeper.tui.dialogs import ConfirmDialog, EnrolImageDialog, NameDialog
from gatekeeper.tui.widgets import AccessLog, CameraPanel, FramePreview, MatchPanel, local_time

if TYPE_CHECKING:
    from pathlib import Path

    from gatekeeper.tui.app import GatekeeperApp

_HELP = Binding("question_mark,f1", "app.help", "Help", key_display="?")


class MainScreen(Screen):
    """Camera status, latest match and preview on the left; the access log on the right."""

    BINDINGS = [
        Binding("p", "app.people", "People"),
        Binding("v", "app.toggle_preview", "Preview"),
        Binding("f", "app.filter_log", "Filter"),
        Binding("x", "app.export", "Export"),
        Binding("t", "app.threshold", "Threshold"),
        _HELP,
        Binding("q", "app.quit", "Quit"),
    ]

    app: GatekeeperApp

    def __init__(self, app: GatekeeperApp) -> None:
        super().__init__(id="main")
        self._gatekeeper = app.gatekeeper

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield CameraPanel(id="camera")
                yield MatchPanel(id="match")
                yield FramePreview(id="preview")
            yield AccessLog(self._gatekeeper, id="log")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#camera").border_title = "Camera"
        self.query_one("#match").border_title = "Latest match"
        self.query_one("#preview").border_title = "Preview"
        self.query_one("#log-table").focus()
        self.app.main_screen_ready()


class _People(Message):
    def __init__(self, people: list[PersonInfo]) -> None:
        super().__init__()
        self.people = people


class PeopleScreen(Screen):
    """Everyone enrolled, with counts; enrol from the camera or an image; remove."""

    BINDINGS = [
        Binding("c", "enrol_camera", "Enrol from camera"),
        Binding("i", "enrol_image", "Enrol from image"),
        Binding("d,delete", "remove", "Remove", key_display="d"),
        Binding("r", "reload", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
        _HELP,
    ]

    app: GatekeeperApp

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="people-table", cursor_type="row", zebra_stripes=True)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "People"
        table = self.query_one(DataTable)
        table.border_title = "People"
        for label, key in (
            ("Name", "name"),
            ("Active", "active"),
            ("Encodings", "encodings"),
            ("Photos", "photos"),
            ("Last seen", "last_seen"),
        ):
            table.add_column(label, key=key)
        table.focus()
        self.action_reload()

    def _read_people(self) -> None:
        """Read the people list and hand it to the UI thread (call from a worker)."""
        try:
            self.post_message(_People(self.app.gatekeeper.store.list_people()))
        except GatekeeperError as exc:
            self.app.notify(f"cannot read the people: {exc}", severity="error")

    @work(thread=True, exclusive=True, group="people-read")
    def action_reload(self) -> None:
        self._read_people()

    @on(_People)
    def _show_people(self, message: _People) -> None:
        table = self.query_one(DataTable)
        selected = self.selected_name()
        table.clear()
        for person in message.people:
            table.add_row(
                person.name,
                Text("yes", "green") if person.active else Text("no", "yellow"),
                person.encodings,
                person.photos,
                "never" if person.last_seen is None else local_time(person.last_seen),
                key=person.name,
            )
        names = [person.name for person in message.people]
        if selected in names:
            table.move_cursor(row=names.index(selected), animate=False)

    def selected_name(self) -> str | None:
        """The name on the cursor's row, if any."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    # Enrolment.

    def action_enrol_image(self) -> None:
        def chosen(result: tuple[str, Path] | None) -> None:
            if result is not None:
                self._enrol_image(*result)

        self.app.push_screen(EnrolImageDialog(), chosen)

    @work(thread=True, group="enrol")
    def _enrol_image(self, name: str, path: Path) -> None:
        try:
            result = self.app.gatekeeper.enrol(name, [path])
        except GatekeeperError as exc:
            self.app.notify(f"Not enrolled: {exc}", severity="error")
            return
        self._enrolled(result.name, result.added, result.duplicates)

    def action_enrol_camera(self) -> None:
        def chosen(name: str | None) -> None:
            if name is None:
                return
            frame = self.app.feed.latest()
            if frame is None:
                state = self.app.feed.status().state.value
                self.app.notify(f"Not enrolled: no camera frame (camera {state})", severity="error")
                return
            self._enrol_frame(name, frame.image)

        self.app.push_screen(NameDialog("Enrol the person in front of the camera"), chosen)

    @work(thread=True, group="enrol")
    def _enrol_frame(self, name: str, image) -> None:
        try:
            result = self.app.gatekeeper.enrol_frame(name, image)
        except MultipleFacesError as exc:
            self.app.notify(
                f"Not enrolled: {exc.count} faces in the camera frame; "
                "exactly one person must be in view",
                severity="error",
            )
            return
        except NoFaceError:
            self.app.notify("Not enrolled: no face in the camera frame", severity="error")
            return
        except GatekeeperError as exc:
            self.app.notify(f"Not enrolled: {exc}", severity="error")
            return
        self._enrolled(result.name, result.added, result.duplicates)

    def _enrolled(self, name: str, added: int, duplicates: int) -> None:
        note = f" ({duplicates} already enrolled)" if duplicates else ""
        self.app.notify(f"Enrolled {name}: {added} encoding(s) added{note}")
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
                f"This erases {name}'s face encodings and kept photos for good. "
                "Their access attempts stay in the log.",
                ok="Remove",
            ),
            confirmed,
        )

    @work(thread=True, group="remove")
    def _remove(self, name: str) -> None:
        try:
            report = self.app.gatekeeper.remove(name)
        except GatekeeperError as exc:
            self.app.notify(f"Not removed: {exc}", severity="error")
            return
        self.app.notify(
            f"Removed {name}: {report.encodings_deleted} encoding(s) and "
            f"{report.photos_deleted} photo(s) erased; {report.attempts_kept} attempt(s) "
            "kept in the log"
        )
        if report.leftover_files:
            self.app.notify(
                f"Could not delete {len(report.leftover_files)} file(s) under "
                f"{report.leftover_files[0]}: delete them by hand",
                severity="warning",
            )
        self._read_people()


class HelpScreen(ModalScreen):
    """The keys of every screen, read from their bindings."""

    BINDINGS = [Binding("escape,question_mark,f1,q", "app.pop_screen", "Close", key_display="esc")]

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Gatekeeper — keys\n\n", "bold")
        for title, bindings in (
            ("Main screen", MainScreen.BINDINGS),
            ("People screen", PeopleScreen.BINDINGS),
        ):
            text.append(f"{title}\n", "bold underline")
            for binding in bindings:
                assert isinstance(binding, Binding)
                keys = ", ".join(
                    key.replace("question_mark", "?") for key in binding.key.split(",")
                )
                text.append(f"  {keys:<14}", "bold cyan").append(f"{binding.description}\n")
            text.append("\n")
        text.append("Everywhere\n", "bold underline")
        text.append(f"  {'ctrl+p':<14}", "bold cyan").append("Command palette\n")
        text.append(f"  {'tab':<14}", "bold cyan").append("Next field or table\n")
        text.append(f"  {'esc':<14}", "bold cyan").append("Close a dialog or screen\n")
        text.append(f"  {'ctrl+q':<14}", "bold cyan").append("Quit\n\n")
        text.append(
            "Decisions: granted (green), denied (yellow: enrolled but deactivated), unknown "
            "(red). A person is decided on after several matching frames, then at most once "
            "per recognition interval.",
            "dim",
        )
        with VerticalScroll(id="help"):
            yield Static(text)
