"""Modal dialogs: names, image paths, confirmation, export, threshold and log filter.

Every dialog works from the keyboard alone: Tab moves between fields, Enter in a field submits,
Escape cancels. Input is validated here (names, dates, numbers, decisions) and a problem is
shown in the dialog, which stays open; the work itself is done by the caller, off the UI thread.
Titles, questions and errors hold names and paths, so they are shown as plain text, never markup.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from gatekeeper.decision import validate_threshold
from gatekeeper.errors import UsageError
from gatekeeper.service import parse_time
from gatekeeper.store import DECISIONS, AttemptFilter, validate_name


def parse_when(text: str, *, end: bool) -> datetime | None:
    """A date or date-time typed in a dialog, read as ``gatekeeper log/export --since/--until``
    read theirs (:func:`gatekeeper.service.parse_time`: local time without an offset; with ``end``
    a bare date means the end of that day). ``None`` when empty; :class:`UsageError` if bad."""
    if not text.strip():
        return None
    try:
        return parse_time(text, end_of_day=end)
    except ValueError:
        raise UsageError(
            f"not a date: {text.strip()!r} (use YYYY-MM-DD or YYYY-MM-DD HH:MM)"
        ) from None


_SINCE_HINT = "YYYY-MM-DD [HH:MM], optional"
_UNTIL_HINT = "YYYY-MM-DD (that day included) [HH:MM], optional"


def field(label: str, widget: Widget) -> Horizontal:
    """One labelled line of a dialog; inputs are compact (no border) to fit 80×24."""
    if isinstance(widget, Input):
        widget.compact = True
    return Horizontal(Label(label, classes="dialog-label"), widget, classes="dialog-field")


class Dialog(ModalScreen):
    """A titled box of fields with OK and Cancel, and an error line.

    Subclasses yield their fields from :meth:`fields` and turn them into a result in
    :meth:`result`, raising :class:`UsageError` (shown in the dialog) when they are wrong.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    HEADING = ""
    OK = "OK"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.HEADING), classes="dialog-title")
            yield from self.fields()
            yield Static("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.OK, variant="primary", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def fields(self) -> ComposeResult:
        yield from ()

    def result(self) -> object:
        raise NotImplementedError

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def action_submit(self) -> None:
        try:
            value = self.result()
        except UsageError as exc:
            self.query_one(".dialog-error", Static).update(Text(str(exc)))
            return
        self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class NameDialog(Dialog):
    """Ask for a person's name → the validated name."""

    OK = "Enrol"

    def __init__(self, title: str) -> None:
        super().__init__()
        self.HEADING = title

    def fields(self) -> ComposeResult:
        yield field("Name", Input(placeholder="as shown in the log", id="name"))

    def result(self) -> str:
        return validate_name(self.query_one("#name", Input).value)


class EnrolImageDialog(Dialog):
    """Ask for a name and an image path → ``(name, Path)``."""

    HEADING = "Enrol from an image file"
    OK = "Enrol"

    def fields(self) -> ComposeResult:
        yield field("Name", Input(placeholder="as shown in the log", id="name"))
        yield field("Photo", Input(placeholder="path to a photo with one face", id="path"))

    def result(self) -> tuple[str, Path]:
        name = validate_name(self.query_one("#name", Input).value)
        path = Path(self.query_one("#path", Input).value.strip()).expanduser()
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
        return name, path


class ConfirmDialog(Dialog):
    """Ask a yes/no question → True, or None when cancelled (``y`` / ``n`` answer too)."""

    BINDINGS = [
        Binding("y", "submit", "Yes"),
        Binding("n,escape", "cancel", "No"),
    ]
    OK = "Yes"

    def __init__(self, title: str, question: str, *, ok: str = "Yes") -> None:
        super().__init__()
        self.HEADING = title
        self.OK = ok
        self._question = question

    def fields(self) -> ComposeResult:
        yield Static(Text(self._question), classes="dialog-text")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def result(self) -> bool:
        return True


def _decision_select(value: str | None) -> Select[str]:
    return Select(
        [(decision, decision) for decision in DECISIONS],
        prompt="any decision",
        value=value if value is not None else Select.NULL,
        id="decision",
        compact=True,
    )


def _decision(select: Select[str]) -> str | None:
    return None if select.value is Select.NULL else str(select.value)


class ExportDialog(Dialog):
    """Ask where to export the access log, and which attempts → ``(Path, AttemptFilter)``."""

    HEADING = "Export the access log as CSV"
    OK = "Export"

    def __init__(self, default_path: Path) -> None:
        super().__init__()
        self._default_path = default_path

    def fields(self) -> ComposeResult:
        yield field("File", Input(str(self._default_path), placeholder="CSV file", id="path"))
        yield field("From", Input(placeholder=_SINCE_HINT, id="since"))
        yield field("Until", Input(placeholder=_UNTIL_HINT, id="until"))
        yield field("Person", Input(placeholder="anyone", id="person"))
        yield field("Decision", _decision_select(None))

    def result(self) -> tuple[Path, AttemptFilter]:
        path = Path(self.query_one("#path", Input).value.strip()).expanduser()
        if not path.name or path.is_dir():
            raise UsageError("give the path of a CSV file to write")
        if not path.parent.is_dir():
            raise UsageError(f"no such folder: {path.parent}")
        person = self.query_one("#person", Input).value.strip() or None
        return path, AttemptFilter(
            since=parse_when(self.query_one("#since", Input).value, end=False),
            until=parse_when(self.query_one("#until", Input).value, end=True),
            person=person,
            decision=_decision(self.query_one("#decision", Select)),
        )


class FilterDialog(Dialog):
    """Ask which attempts the access log shows → an :class:`AttemptFilter`: a part of a name
    (any case), a time range, a decision, a camera."""

    HEADING = "Filter the access log"
    OK = "Apply"

    def __init__(self, current: AttemptFilter) -> None:
        super().__init__()
        self._current = current

    def fields(self) -> ComposeResult:
        current = self._current
        yield field(
            "Person",
            Input(
                current.person_contains or "", placeholder="part of a name, any case", id="person"
            ),
        )
        yield field("From", Input(_when(current.since), placeholder=_SINCE_HINT, id="since"))
        yield field("Until", Input(_when(current.until), placeholder=_UNTIL_HINT, id="until"))
        yield field("Decision", _decision_select(current.decision))
        yield field("Camera", Input(current.camera or "", placeholder="any camera", id="camera"))

    def result(self) -> AttemptFilter:
        return AttemptFilter(
            person_contains=self.query_one("#person", Input).value.strip() or None,
            since=parse_when(self.query_one("#since", Input).value, end=False),
            until=parse_when(self.query_one("#until", Input).value, end=True),
            decision=_decision(self.query_one("#decision", Select)),
            camera=self.query_one("#camera", Input).value.strip() or None,
        )


def _when(moment: datetime | None) -> str:
    """A filter's bound as typed in a dialog (local time), or empty."""
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M")


class ThresholdDialog(Dialog):
    """Show the site's threshold and ask for a new one → ``float``."""

    HEADING = "Distance threshold"
    OK = "Set"

    def __init__(self, current: float | None) -> None:
        super().__init__()
        self._current = current

    def fields(self) -> ComposeResult:
        known = "unknown" if self._current is None else f"{self._current:g}"
        yield Static(
            f"Current threshold: {known} (L2 distance; a face at or under it is a match). "
            "Lower is stricter.",
            classes="dialog-text",
        )
        value = "" if self._current is None else f"{self._current:g}"
        yield field("New", Input(value, placeholder="e.g. 0.55", id="threshold"))

    def result(self) -> float:
        return validate_threshold(self.query_one("#threshold", Input).value.strip())
