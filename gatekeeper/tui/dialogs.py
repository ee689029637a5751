"""Modal dialogs: enrolment, confirmation, export, threshold, log filter and a person's access.

Every dialog works from the keyboard alone: Tab moves between fields, Enter in a field submits,
Escape cancels; every text field is an :class:`OrderedInput`, which keeps a burst of keys in
order. Input is validated here (names, dates, numbers, decisions) and a problem is shown in the
dialog, which stays open. The work itself is done by the caller, off the UI thread — except
enrolment, whose dialog runs its steps through the site in thread workers so that it can
stay open on an error. Titles, questions and errors hold names and paths, so they are shown as
plain text, never markup.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from gatekeeper.decision import validate_threshold
from gatekeeper.errors import GatekeeperError, MultipleFacesError, OverridableError, UsageError
from gatekeeper.live import FaceResult
from gatekeeper.recognition import Box
from gatekeeper.schedule import (
    Access,
    Window,
    check_validity,
    parse_date,
    parse_windows,
)
from gatekeeper.site import (
    DECISIONS,
    AttemptFilter,
    EnrolResult,
    ScheduleInfo,
    Site,
    SourceImage,
    VisitorRow,
    check_export_target,
    name_key,
    parse_time,
    validate_name,
    validate_new_name,
)
from gatekeeper.tui.widgets import FramePreview


def parse_when(text: str, *, end: bool) -> datetime | None:
    """A date or date-time typed in a dialog, read as ``gatekeeper log/export --since/--until``
    read theirs (:func:`gatekeeper.site.parse_time`: local time without an offset; with ``end``
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
    #: The OK button's variant: ``primary``, or ``error`` for an answer that destroys or stops.
    OK_VARIANT = "primary"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.HEADING), classes="dialog-title")
            yield from self.fields()
            yield Static("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.OK, variant=self.OK_VARIANT, id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def fields(self) -> ComposeResult:
        yield from ()

    def result(self) -> object:
        raise NotImplementedError

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submitted(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        try:
            value = self.result()
        except GatekeeperError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(value)

    def show_error(self, message: str) -> None:
        """Say what is wrong (or nothing, with ``""``) in the dialog's error line."""
        self.query_one(".dialog-error", Static).update(Text(message))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class OrderedInput(Input):
    """An input that applies keys in the order they were typed, however fast they arrive.

    Textual (#6605) inserts a printable key in the input's own handler but runs any other key
    (backspace, tab...) as a binding only once the event has bubbled up to the app through the
    queue of every container on the way. In a burst (a paste, a laggy SSH link) characters typed
    after a backspace or a tab were inserted before it ran: "abcdef⌫⌫⌫⌫⌫⌫Miranda" became
    "abcdefM", "obama<Tab>/path" typed the path into the name. Here the input's own bindings
    and tab / shift+tab run as their key is handled, in turn, and a key that reaches the input
    after focus has moved on (typed after a tab) is handed to the widget that has it now.
    """

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not self:
            event.stop()
            event.prevent_default()
            if focused is not None:
                focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            if event.key == "tab":
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
            return
        # Textual's map of this input's bindings (keymap applied): run the key's binding now.
        bindings = self._bindings.key_to_bindings.get(event.key)
        if bindings:
            event.stop()
            event.prevent_default()
            await self.run_action(bindings[0].action)


class PathSuggester(Suggester):
    """Completes a file path as it is typed: the first entry (in name order) of the folder that
    starts with the last part; folders end with ``/``, hidden entries only when asked for.
    The input shows the rest dimmed and → takes it."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, start = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            names = sorted(
                entry.name + ("/" if entry.is_dir() else "")
                for entry in os.scandir(folder)
                if entry.name.startswith(start) and (start or not entry.name.startswith("."))
            )
        except OSError:
            return None
        return value + names[0][len(start) :] if names else None


class EnrolDialog(Dialog):
    """Enrol a person from a photo or, with ``camera``, from the camera's newest frame.

    Two steps, both run through the ``site`` in thread workers: **Check** finds the face
    that would be enrolled and shows it (the image in half blocks, the face boxed), **Enrol**
    saves it. Changing a field goes back to Check. Errors are shown in the dialog, which stays
    open; "Largest face" takes the largest of several faces; a refusal the operator may
    override (a low-quality face, another person's face) asks first. ``camera()`` returns the
    newest frame, RGB ``uint8 (H, W, 3)``, or None. While a step waits for the models, it says
    so with ``loading()`` (how loading them is going, ``None`` once they are loaded).
    Dismissed with the :class:`EnrolResult`, or None when cancelled.

    Where the image comes from and how it is enrolled are :meth:`_photo_path`,
    :meth:`_largest`, :meth:`_read_source` and :meth:`_enrol` (see
    :class:`VisitorEnrolDialog`).
    """

    #: While busy, the note is brought up to date this often (seconds).
    NOTE_INTERVAL_S = 0.25

    def __init__(
        self,
        site: Site,
        camera: Callable[[], np.ndarray | None] | None = None,
        *,
        loading: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__()
        self.HEADING = "Enrol from a photo" if camera is None else "Enrol from the camera"
        self.OK = "Check"
        self._site = site
        self._camera = camera
        self._loading = loading
        self._checked: tuple[str, SourceImage, bool] | None = None
        self._busy: str | None = None

    def fields(self) -> ComposeResult:
        yield field("Name", OrderedInput(placeholder="as shown in the log", id="name"))
        if self._camera is None:
            yield field(
                "Photo",
                OrderedInput(
                    placeholder="path to a photo (→ completes)",
                    id="path",
                    suggester=PathSuggester(),
                ),
            )
        yield Checkbox("Largest face (when there are several)", id="largest", compact=True)
        yield FramePreview(id="enrol-face")
        yield Static("", classes="dialog-text", id="enrol-note")

    def on_mount(self) -> None:
        self.query_one("#enrol-face").display = False
        self.set_interval(self.NOTE_INTERVAL_S, self._show_busy)

    def action_submit(self) -> None:
        if self._busy is not None:
            return
        if self._checked is not None:
            self._set_busy("Enrolling…")
            self._save(*self._checked, force=False)
            return
        try:
            name = validate_name(self.query_one("#name", Input).value)
            path = self._photo_path()
        except UsageError as exc:
            self.show_error(str(exc))
            return
        self._set_busy("Looking for the face…")
        self._check(name, path, self._largest())

    def _photo_path(self) -> Path | None:
        """The photo to enrol from, checked (``UsageError``); None for the camera."""
        if self._camera is not None:
            return None
        path = Path(self.query_one("#path", Input).value.strip()).expanduser()
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
        return path

    def _largest(self) -> bool:
        """Whether the largest of several faces is taken."""
        return self.query_one("#largest", Checkbox).value

    def _read_source(self, path: Path | None) -> SourceImage:
        """The image to enrol from (on a worker thread): the photo at ``path``, else the
        camera's newest frame."""
        if path is not None:
            return SourceImage.from_path(path)
        if (frame := self._camera()) is not None:
            return SourceImage.from_frame(frame)
        raise GatekeeperError("no frame from the camera yet")

    def _enrol(self, name: str, source: SourceImage, largest: bool, force: bool) -> EnrolResult:
        """Enrol the checked face (on a worker thread)."""
        return self._site.people.enrol(name, [source], largest=largest, force=force)

    def _set_busy(self, note: str) -> None:
        self._busy = note
        self.show_error("")
        self._show_busy()

    def _show_busy(self) -> None:
        """Say what the step under way is doing, and that it waits for the models if it does."""
        if self._busy is None:
            return
        models = self._loading()
        note = self._busy if models is None else f"{self._busy} waiting for the models: {models}"
        self.query_one("#enrol-note", Static).update(Text(note, "dim"))

    def _failed(self, message: str) -> None:
        self._busy = None
        self.query_one("#enrol-note", Static).update("")
        self.show_error(message)

    @work(thread=True, group="enrol")
    def _check(self, name: str, path: Path | None, largest: bool) -> None:
        where = "photo" if path is not None else "camera frame"
        try:
            source = self._read_source(path)
            box = self._site.people.enrolment_face(source, largest=largest)
        except MultipleFacesError as exc:
            self.app.call_from_thread(
                self._failed,
                f"{exc.count} faces in the {where}: tick “Largest face” to enrol the largest, "
                "or use one with one person",
            )
        except GatekeeperError as exc:
            self.app.call_from_thread(self._failed, str(exc))
        else:
            self.app.call_from_thread(self._show_face, name, source, largest, box)

    def _show_face(self, name: str, source: SourceImage, largest: bool, box: Box) -> None:
        self._busy = None
        self._checked = (name, source, largest)
        preview = self.query_one("#enrol-face", FramePreview)
        preview.display = True
        preview.show(source.rgb, (FaceResult(box, name, None, "granted"),))
        self.query_one("#enrol-note", Static).update(
            Text(f"This face will be enrolled as {name}. Enrol saves it.")
        )
        self.query_one("#ok", Button).label = "Enrol"

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _edited(self) -> None:
        """A field changed after Check: check again before enrolling."""
        if self._checked is not None and self._busy is None:
            self._checked = None
            self.query_one("#enrol-face").display = False
            self.query_one("#enrol-note", Static).update("")
            self.query_one("#ok", Button).label = "Check"

    @work(thread=True, group="enrol")
    def _save(self, name: str, source: SourceImage, largest: bool, force: bool) -> None:
        try:
            result = self._enrol(name, source, largest, force)
        except OverridableError as exc:
            self.app.call_from_thread(self._ask_override, exc)
        except GatekeeperError as exc:
            self.app.call_from_thread(self._failed, f"Not enrolled: {exc}")
        else:
            self.app.call_from_thread(self.dismiss, result)

    def _ask_override(self, refusal: OverridableError) -> None:
        """Ask whether to enrol despite ``refusal``; yes enrols with ``force``."""

        def answered(answer: bool | None) -> None:
            if answer and self._checked is not None:
                self._save(*self._checked, force=True)
            else:
                self._failed(f"Not enrolled: {refusal.reason}")

        self.app.push_screen(
            ConfirmDialog("Enrol anyway?", f"{refusal.reason}. Enrol anyway?", ok="Enrol"),
            answered,
        )


class VisitorEnrolDialog(EnrolDialog):
    """Enrol a person from a kept visitor crop: a name, then Check shows the face the crop
    gives, and Enrol saves it through ``site.visitors.enrol`` — with every check and
    confirmation of :class:`EnrolDialog` (a low-quality face, another person's face, a photo
    of a screen ask first). The crop's largest face is taken: it is centred on the visitor's."""

    def __init__(
        self,
        site: Site,
        visitor: VisitorRow,
        *,
        loading: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__(site, loading=loading)
        when = visitor.time.astimezone().strftime("%d %b %H:%M")
        self.HEADING = f"Enrol visitor {visitor.id} ({visitor.decision}, {when})"
        self._visitor = visitor

    def fields(self) -> ComposeResult:
        yield field("Name", OrderedInput(placeholder="who this is, as shown in the log", id="name"))
        yield FramePreview(id="enrol-face")
        yield Static("", classes="dialog-text", id="enrol-note")

    def _photo_path(self) -> Path | None:
        return None

    def _largest(self) -> bool:
        return True

    def _read_source(self, path: Path | None) -> SourceImage:
        return self._site.visitors.image(self._visitor.id)

    def _enrol(self, name: str, source: SourceImage, largest: bool, force: bool) -> EnrolResult:
        return self._site.visitors.enrol(self._visitor.id, name, force=force)


class ConfirmDialog(Dialog):
    """Ask a yes/no question → True, or None when cancelled (``y`` / ``n`` answer too). A
    ``destructive`` answer (erase, replace, stop) is a red button, never the primary one; the
    focus starts on Cancel either way."""

    BINDINGS = [
        Binding("y", "submit", "Yes"),
        Binding("n,escape", "cancel", "No"),
    ]
    OK = "Yes"

    def __init__(
        self, title: str, question: str, *, ok: str = "Yes", destructive: bool = False
    ) -> None:
        super().__init__()
        self.HEADING = title
        self.OK = ok
        self.OK_VARIANT = "error" if destructive else "primary"
        self._question = question

    def fields(self) -> ComposeResult:
        yield Static(Text(self._question), classes="dialog-text")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def result(self) -> bool:
        return True


class QuitDialog(ConfirmDialog):
    """ "Quit Gatekeeper?": ``y`` (or the Quit button) → True; any other key cancels, so one
    stray key never closes a security console. It says what quitting stops: the ``camera``'s
    recognition, or (without one) nothing at the door."""

    def __init__(self, *, camera: bool) -> None:
        stops = (
            "The camera stops: nobody is recognised or logged until the console runs again."
            if camera
            else "There is no camera: quitting stops no recognition, only this console."
        )
        super().__init__(
            "Quit Gatekeeper?",
            f"{stops} y quits, any other key cancels.",
            ok="Quit",
            destructive=True,
        )

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if event.key == "y":
            self.action_submit()
        else:
            self.action_cancel()


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
        yield field(
            "File", OrderedInput(str(self._default_path), placeholder="CSV file", id="path")
        )
        yield field("From", OrderedInput(placeholder=_SINCE_HINT, id="since"))
        yield field("Until", OrderedInput(placeholder=_UNTIL_HINT, id="until"))
        yield field("Person", OrderedInput(placeholder="anyone", id="person"))
        yield field("Decision", _decision_select(None))

    def result(self) -> tuple[Path, AttemptFilter]:
        path = Path(self.query_one("#path", Input).value.strip()).expanduser()
        if not path.name or path.is_dir():
            raise UsageError("give the path of a CSV file to write")
        if not path.parent.is_dir():
            raise UsageError(f"no such folder: {path.parent}")
        check_export_target(path)
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
            OrderedInput(
                current.person_contains or "", placeholder="part of a name, any case", id="person"
            ),
        )
        yield field("From", OrderedInput(_when(current.since), placeholder=_SINCE_HINT, id="since"))
        yield field(
            "Until", OrderedInput(_when(current.until), placeholder=_UNTIL_HINT, id="until")
        )
        yield field("Decision", _decision_select(current.decision))
        yield field(
            "Camera", OrderedInput(current.camera or "", placeholder="any camera", id="camera")
        )

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
        yield field("New", OrderedInput(value, placeholder="e.g. 0.55", id="threshold"))

    def result(self) -> float:
        return validate_threshold(self.query_one("#threshold", Input).value.strip())


@dataclass(frozen=True)
class AccessChange:
    """A person's access as the :class:`AccessDialog` was left: the ``schedule`` to assign
    (``None``: any time), created first with ``new_windows`` when those are given, and the
    inclusive validity dates (``None``: no limit)."""

    schedule: str | None
    new_windows: tuple[Window, ...] | None
    valid_from: date | None
    valid_until: date | None


class AccessDialog(Dialog):
    """Edit when a person may enter → :class:`AccessChange`: pick one of the ``schedules`` (or
    none: any time), or name a new schedule and type its windows (``Mon-Fri 07:00-19:00;
    Sat 09:00-13:00``), and set or clear the validity dates. ``current`` fills it in."""

    OK = "Save"

    def __init__(self, person: str, current: Access, schedules: Sequence[ScheduleInfo]) -> None:
        super().__init__()
        self.HEADING = f"When may {person} enter?"
        self._current = current
        self._schedules = {info.name: info for info in schedules}

    def fields(self) -> ComposeResult:
        current = self._current
        options = [
            (Text(f"{info.name}: {'; '.join(info.text)}"), info.name)
            for info in self._schedules.values()
        ]
        chosen = current.schedule if current.schedule in self._schedules else Select.NULL
        yield field(
            "Schedule",
            Select(
                options, prompt="any time (no schedule)", value=chosen, id="schedule", compact=True
            ),
        )
        yield field(
            "New", OrderedInput(placeholder="or the name of a new schedule", id="new-schedule")
        )
        yield field(
            "Windows",
            OrderedInput(
                placeholder="its windows: Mon-Fri 07:00-19:00; Sat 09:00-13:00", id="windows"
            ),
        )
        yield field(
            "From",
            OrderedInput(
                _day(current.valid_from),
                placeholder="YYYY-MM-DD, first day, optional",
                id="valid-from",
            ),
        )
        yield field(
            "Until",
            OrderedInput(
                _day(current.valid_until),
                placeholder="YYYY-MM-DD, last day, optional",
                id="valid-until",
            ),
        )

    def result(self) -> AccessChange:
        new = self.query_one("#new-schedule", Input).value.strip()
        windows = self.query_one("#windows", Input).value
        new_windows = None
        if new:
            schedule: str | None = validate_new_name(new)
            for existing in self._schedules:
                if name_key(existing) == name_key(new):
                    raise UsageError(f"there is a schedule {existing} already: pick it above")
            new_windows = parse_windows([windows])
        elif windows.strip():
            raise UsageError("name the new schedule these windows are for")
        else:
            picked = self.query_one("#schedule", Select).value
            schedule = None if picked is Select.NULL else str(picked)
        valid_from = _typed_day(self.query_one("#valid-from", Input).value, "From")
        valid_until = _typed_day(self.query_one("#valid-until", Input).value, "Until")
        check_validity(valid_from, valid_until)
        return AccessChange(schedule, new_windows, valid_from, valid_until)


def _day(day: date | None) -> str:
    return "" if day is None else day.isoformat()


def _typed_day(text: str, what: str) -> date | None:
    return parse_date(text, what=what) if text.strip() else None
