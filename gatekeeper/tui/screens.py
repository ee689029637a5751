"""The console's main (live) screen and its visitors screen (the People screen is
:mod:`gatekeeper.tui.people_screen`, the keys' help :mod:`gatekeeper.tui.help_screen`)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from gatekeeper.door import ActionOutcome, Alert, DoorNotice, DoorWarning
from gatekeeper.errors import GatekeeperError, StoreError
from gatekeeper.live import (
    FrameResult,
    LiveEvent,
    LiveStats,
    LiveWarning,
    PipelineState,
    PipelineStatus,
)
from gatekeeper.site import AttemptFilter, VisitorRow
from gatekeeper.tui.dialogs import (
    ConfirmDialog,
    VisitorEnrolDialog,
)
from gatekeeper.tui.palette import decision_style
from gatekeeper.tui.widgets import (
    HELP_BINDING,
    AccessLog,
    AlertBanner,
    CameraPanel,
    FramePreview,
    MatchPanel,
    StateBanner,
    describe_enrolment,
    local_time,
)
from gatekeeper.vision.camera import FPS_WINDOW_S, CameraState

if TYPE_CHECKING:
    import numpy as np

    from gatekeeper.site import EnrolResult
    from gatekeeper.tui.app import GatekeeperApp


#: The preview is re-rendered at most this often (seconds): 5 frames per second.
PREVIEW_INTERVAL_S = 0.2
#: The camera panel is refreshed this often (seconds).
STATUS_INTERVAL_S = 0.25
#: The access log looks for attempts recorded by other processes this often (seconds).
LOG_POLL_S = 5.0
#: Whether the records were changed outside Gatekeeper is asked this often (seconds), camera
#: or not (``site.recognition.state_problem`` answers from its cache until the database moves).
STATE_CHECK_S = 2.0
#: The preview is marked stale when the frame it shows was captured longer ago (seconds).
STALE_AFTER_S = 3.0
#: A failing door action is notified at most this often (seconds); every failure is recorded.
ACTION_NOTICE_INTERVAL_S = 10.0
#: Camera states that ``r`` acts on: reconnect now, or play a file or folder again.
RETRYABLE = frozenset({CameraState.LOST, CameraState.ENDED})


class _Live(Message):
    """A recognizer event handed from its thread to the main screen."""

    def __init__(self, event: LiveEvent) -> None:
        super().__init__()
        self.event = event


class _Door(Message):
    """A door notice (action outcome, alert, recording problem) handed from its thread."""

    def __init__(self, notice: DoorNotice) -> None:
        super().__init__()
        self.notice = notice


class _State(Message):
    """Why the records must not decide (``None``: they may), read on a worker thread."""

    def __init__(self, problem: str | None) -> None:
        super().__init__()
        self.problem = problem


class MainScreen(Screen):
    """Camera status, latest match and preview on the left; the access log on the right.

    It shows the recognizer's events and polls the camera status; its timers stop with it.
    """

    BINDINGS = [
        Binding("p", "app.people", "People"),
        Binding("u", "app.visitors", "Visitors"),
        Binding("v", "app.toggle_preview", "Preview", show=False),
        Binding("f", "app.filter_log", "Filter"),
        Binding("c", "clear_filter", "Clear"),
        Binding("r", "retry_camera", "Retry"),
        Binding("x", "app.export", "Export"),
        # Set once at installation: out of the footer (in the help screen and the palette), so
        # that every key offered fits 80 columns with an alert up, the camera lost and the log
        # filtered.
        Binding("t", "app.threshold", "Threshold", show=False),
        Binding("a", "acknowledge_alert", "Ack alert"),
        HELP_BINDING,
        Binding("q", "app.request_quit", "Quit"),
    ]

    app: GatekeeperApp

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pipeline = PipelineStatus(PipelineState.LOADING)
        self._stats: LiveStats | None = None
        self._stats_at = 0.0
        self._previewed = 0
        self._camera_state = CameraState.NONE
        self._action_noticed: dict[str, float] = {}
        self._state_problem: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield StateBanner(id="state-banner")
        yield AlertBanner(id="alert-banner")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield CameraPanel(id="camera")
                yield MatchPanel(id="match")
                yield FramePreview(id="preview")
            yield AccessLog(self.app.site, id="log")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#camera").border_title = "Camera"
        self.query_one("#match").border_title = "Latest match"
        self.query_one("#preview").border_title = "Preview"
        self.query_one("#log-table").focus()
        self.set_interval(STATUS_INTERVAL_S, self._refresh_status)
        self.set_interval(PREVIEW_INTERVAL_S, self._refresh_preview)
        self.set_interval(LOG_POLL_S, self.query_one(AccessLog).refresh_head)
        self.query_one(AlertBanner).show([])
        self.query_one(StateBanner).show(None)
        self.set_interval(STATE_CHECK_S, self._check_state)
        self._check_state()
        if self.app.door is not None:
            self.app.door.start()
        self.app.start_recognition()
        self.app.read_threshold()

    def set_log_filter(self, filter: AttemptFilter) -> None:
        """Show the attempts matching ``filter`` in the log (``c`` clears it)."""
        self.query_one(AccessLog).set_filter(filter)
        self.refresh_bindings()

    def action_clear_filter(self) -> None:
        self.set_log_filter(AttemptFilter())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``c`` (clear the filter) is offered only while the log is filtered, ``r`` (retry the
        camera) only while it is lost or has ended."""
        if action == "clear_filter":
            return self.query_one(AccessLog).filter != AttemptFilter()
        if action == "retry_camera":
            return self._camera_state in RETRYABLE
        if action == "acknowledge_alert":
            return self.app.door is not None and bool(self.app.door.alerts.active())
        return True

    def action_acknowledge_alert(self) -> None:
        """Acknowledge the alert on the banner (recorded as ``alert_ack``)."""
        door = self.app.door
        active = door.alerts.active() if door is not None else []
        if door is not None and active:
            door.alerts.acknowledge(active[0].id)
            self._show_alerts()

    def _show_alerts(self) -> None:
        door = self.app.door
        self.query_one(AlertBanner).show(door.alerts.active() if door is not None else [])
        self.refresh_bindings()

    def post_door(self, notice: DoorNotice) -> None:
        """Hand a door notice to this screen (called on the door's threads)."""
        self.post_message(_Door(notice))

    @on(_Door)
    def _door(self, message: _Door) -> None:
        """Alerts go on the banner (and a notification); failed actions are notified, at most
        once per :data:`ACTION_NOTICE_INTERVAL_S` per action; successes are only recorded."""
        notice = message.notice
        if isinstance(notice, Alert):
            self.notify(f"ALERT: {notice.message}", severity="error", timeout=15)
            self._show_alerts()
        elif isinstance(notice, ActionOutcome) and not notice.ok:
            now = time.monotonic()
            last = self._action_noticed.get(notice.action)
            if last is None or now - last >= ACTION_NOTICE_INTERVAL_S:
                self._action_noticed[notice.action] = now
                self.notify(
                    f"Door action {notice.action} failed ({notice.event.summary()}): "
                    f"{notice.reason}",
                    severity="error",
                    timeout=10,
                )
        elif isinstance(notice, DoorWarning):
            self.notify(notice.message, severity="warning")

    @work(thread=True, group="state", exclusive=True)
    def _check_state(self) -> None:
        """Ask whether the records were changed outside Gatekeeper (a worker: it reads the
        database); while the store is away the banner stays as it is."""
        try:
            problem = self.app.site.recognition.state_problem()
        except StoreError:
            return
        self.post_message(_State(problem))

    @on(_State)
    def _state(self, message: _State) -> None:
        self._show_state(message.problem)

    def _show_state(self, problem: str | None) -> None:
        """The banner says why nobody is granted; a new problem is notified once too (the
        operator may be on another screen)."""
        if problem == self._state_problem:
            return
        self._state_problem = problem
        self.query_one(StateBanner).show(problem)
        if problem is not None:
            self.app.notify(
                f"Nobody is granted: records changed outside Gatekeeper: {problem}",
                severity="error",
                timeout=15,
            )

    def action_retry_camera(self) -> None:
        if self.app.feed.retry():
            self._refresh_status()

    def post_live(self, event: LiveEvent) -> None:
        """Hand a recognizer event to this screen (called on the recognizer's thread)."""
        self.post_message(_Live(event))

    @on(_Live)
    def _live(self, message: _Live) -> None:
        event = message.event
        if isinstance(event, FrameResult):
            self._stats, self._stats_at = event.stats, time.monotonic()
            self.app.threshold = event.threshold
            self._show_state(event.state_problem)
            if event.decisions:
                self.query_one(MatchPanel).show(event.decisions[-1], event.threshold)
                self.query_one(AccessLog).refresh_head()
        elif isinstance(event, PipelineStatus):
            self._pipeline = event
            if event.state is PipelineState.FAILED:
                self.notify(f"Recognition is off: {event.message}", severity="error", timeout=30)
            self._refresh_status()
        elif isinstance(event, LiveWarning):
            self.notify(event.message, severity="warning")

    def _refresh_status(self) -> None:
        stats = self._stats
        if stats is not None and time.monotonic() - self._stats_at > FPS_WINDOW_S:
            stats = replace(stats, processed_fps=0.0)
        camera = self.app.recognizer.camera_status()
        if camera.state is not self._camera_state:
            self._camera_state = camera.state
            self.refresh_bindings()
        loading = self.app.models_loading()
        self.query_one(CameraPanel).show(camera, self._pipeline, loading, stats, self.app.voice)
        self.query_one(MatchPanel).tick()

    def _refresh_preview(self) -> None:
        """Draw the newest processed frame, if new (a timer caps this at 5 per second)."""
        preview = self.query_one(FramePreview)
        if not preview.display or not self.is_current:
            self._previewed = 0
            return
        latest = self.app.recognizer.latest()
        if latest is not None:
            if latest.frame_id != self._previewed:
                self._previewed = latest.frame_id
                preview.show(latest.image, latest.faces)
            age = time.monotonic() - latest.captured_at
            preview.set_stale(f"STALE · {age:.0f} s old" if age > STALE_AFTER_S else None)
        elif not self.app.has_camera:
            preview.show_message("no camera")
        elif self._pipeline.state is PipelineState.LOADING:
            preview.show_message(self._pipeline.message or "loading models…")
        elif self._pipeline.state is PipelineState.FAILED:
            preview.show_message("recognition is off")
        else:
            preview.show_message("waiting for frames…")


class _Visitors(Message):
    """Visitors read for the visitors screen, with the decoded crops it did not hold yet."""

    def __init__(self, rows: list[VisitorRow], crops: dict[int, np.ndarray]) -> None:
        super().__init__()
        self.rows = rows
        self.crops = crops


class VisitorsScreen(Screen):
    """The kept face crops of unknown, spoof and denied attempts, newest first: time, camera,
    decision and status in a table, the crop under the cursor in half blocks beside it. Enrol
    one as a person (the enrolment dialog's checks and confirmations) or dismiss it (its crop
    is deleted). New crops appear by themselves (read every :data:`POLL_S` seconds)."""

    BINDINGS = [
        Binding("e", "enrol", "Enrol"),
        Binding("d,delete", "dismiss_visitor", "Dismiss", key_display="d"),
        Binding("r", "reload", "Refresh", show=False),
        Binding("escape", "app.pop_screen", "Back"),
        HELP_BINDING,
    ]
    #: Visitors shown, at most.
    LIMIT = 100
    #: Seconds between two looks for new crops.
    POLL_S = 5.0

    app: GatekeeperApp

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[int, VisitorRow] | None = None
        self._crops: dict[int, np.ndarray] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="visitors-body"):
            with Vertical(id="visitors-list"):
                yield DataTable(id="visitors-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="visitors-empty")
            with Vertical(id="visitor-side"):
                yield FramePreview(id="visitor-crop")
                yield Static(id="visitor-detail")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "Visitors"
        self.query_one("#visitors-list").border_title = "Unknown visitors"
        self.query_one("#visitor-side").border_title = "Face"
        self.query_one("#visitors-empty").display = False
        self.query_one(FramePreview).show_message("no visitor selected")
        table = self.query_one(DataTable)
        for label, key, width in (
            ("Time", "time", 12),
            ("Camera", "camera", 10),
            ("Decision", "decision", 8),
            ("Status", "status", 8),
        ):
            table.add_column(label, key=key, width=width)
        table.focus()
        self.set_interval(self.POLL_S, self.action_reload)
        self.action_reload()

    @work(thread=True, exclusive=True, group="visitors-read")
    def action_reload(self) -> None:
        self._read_visitors()

    def _read_visitors(self) -> None:
        """Read the visitors, and decode the crops not held yet (call from a worker)."""
        try:
            rows = self.app.site.visitors.list(limit=self.LIMIT)
            crops = {
                row.id: self.app.site.visitors.image(row.id).rgb
                for row in rows
                if row.id not in self._crops
            }
        except GatekeeperError as exc:
            self.app.notify(f"cannot read the visitors: {exc}", severity="error")
            return
        self.post_message(_Visitors(rows, crops))

    @on(_Visitors)
    def _show_visitors(self, message: _Visitors) -> None:
        self._crops = {
            row.id: message.crops.get(row.id, self._crops.get(row.id)) for row in message.rows
        }
        if self._rows is not None and message.rows == list(self._rows.values()):
            return
        table = self.query_one(DataTable)
        selected = self.selected()
        self._rows = {row.id: row for row in message.rows}
        table.clear()
        for row in message.rows:
            status = "new" if row.enrolled_name is None else f"→ {row.enrolled_name}"
            table.add_row(
                local_time(row.time, "%d %b %H:%M"),
                Text(row.camera_id, no_wrap=True, overflow="ellipsis"),
                Text(row.decision, decision_style(row.decision)),
                Text(status, "green" if row.enrolled_name else "", no_wrap=True),
                key=str(row.id),
            )
        ids = list(self._rows)
        if selected is not None and selected.id in ids:
            table.move_cursor(row=ids.index(selected.id), animate=False)
        self._show_empty()
        self._show_selected()

    def _show_empty(self) -> None:
        empty = self.query_one("#visitors-empty", Static)
        empty.display = not self._rows
        self.query_one("#visitors-list").set_class(not self._rows, "-empty")
        if self.app.site.settings.visitors.keep:
            days = self.app.site.settings.visitors.retention_days
            empty.update(Text(f"No unknown visitors kept in the last {days:g} days.", "dim"))
        else:
            empty.update(
                Text(
                    "Keeping the faces of unknown visitors is off: set keep = true under "
                    "[visitors] in the config file to review them here.",
                    "dim",
                )
            )

    def selected(self) -> VisitorRow | None:
        """The visitor on the cursor's row, if any."""
        table = self.query_one(DataTable)
        if table.row_count == 0 or self._rows is None:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._rows.get(int(key))

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        """Draw the crop and the details of the visitor under the cursor."""
        row, preview = self.selected(), self.query_one(FramePreview)
        detail = self.query_one("#visitor-detail", Static)
        crop = None if row is None else self._crops.get(row.id)
        if row is None or crop is None:
            preview.show_message("no visitor selected")
            detail.update("")
            return
        preview.show(crop, ())
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"#{row.id} ", "bold").append(row.decision, decision_style(row.decision))
        text.append(f" at {row.camera_id}\n")
        text.append(local_time(row.time), "dim")
        if row.person_name:
            text.append(f"\nlooks like {row.person_name}")
            if row.reason:
                text.append(f" ({row.reason})")
        distance = "—" if row.distance is None else f"{row.distance:.2f}"
        text.append(f"\ndistance {distance}, {row.width}×{row.height} px", "dim")
        if row.enrolled_name:
            text.append(f"\nenrolled as {row.enrolled_name}", "green")
        detail.update(text)

    def action_enrol(self) -> None:
        row = self.selected()
        if row is None:
            self.app.notify("No visitor selected", severity="warning")
            return

        def enrolled(result: EnrolResult | None) -> None:
            if result is None:
                return
            self.app.notify(
                f"Enrolled {result.name} from visitor {row.id}: {describe_enrolment(result)}"
            )
            self.action_reload()

        dialog = VisitorEnrolDialog(self.app.site, row, loading=self.app.models_loading)
        self.app.push_screen(dialog, enrolled)

    def action_dismiss_visitor(self) -> None:
        row = self.selected()
        if row is None:
            self.app.notify("No visitor to dismiss", severity="warning")
            return

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._dismiss(row.id)

        self.app.push_screen(
            ConfirmDialog(
                f"Dismiss visitor {row.id}?",
                f"This deletes the face crop of visitor {row.id} ({row.decision} at "
                f"{row.camera_id}, {local_time(row.time)}) for good. The attempt stays in "
                "the log.",
                ok="Dismiss",
                destructive=True,
            ),
            confirmed,
        )

    @work(thread=True, group="visitors-write")
    def _dismiss(self, visitor_id: int) -> None:
        try:
            self.app.site.visitors.dismiss(visitor_id)
        except GatekeeperError as exc:
            self.app.notify(f"Not dismissed: {exc}", severity="error")
            return
        self.app.notify(f"Dismissed visitor {visitor_id}: its face crop is deleted")
        self._read_visitors()
