"""The console's widgets: camera status, latest match, frame preview and the access log.

They only display what they are given; the one that reads the store (:class:`AccessLog`) does
so in thread workers and gets the rows back as messages. Text from data (names, camera ids,
paths, error messages) is always a :class:`rich.text.Text`, never markup.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, Static

from gatekeeper.door import Alert
from gatekeeper.errors import GatekeeperError
from gatekeeper.live import (
    FaceResult,
    LiveStats,
    PipelineState,
    PipelineStatus,
    RecordedDecision,
)
from gatekeeper.site import (
    DECISIONS,
    AttemptFilter,
    AttemptRow,
    EnrolResult,
    Site,
    describe,
    plural,
)
from gatekeeper.tui.halfblock import render_frame
from gatekeeper.tui.palette import decision_style
from gatekeeper.vision.camera import CameraState, CameraStatus
from gatekeeper.voice import Voice

#: Rich styles of the camera states.
CAMERA_STYLES = {
    CameraState.LIVE: "bold green",
    CameraState.CONNECTING: "yellow",
    CameraState.RECONNECTING: "yellow",
    CameraState.LOST: "bold red",
    CameraState.ENDED: "dim",
    CameraState.NONE: "dim",
}
#: The distance gauge spans 0 to this multiple of the threshold.
GAUGE_RANGE = 1.5


def local_time(moment: datetime, fmt: str = "%d %b %H:%M:%S") -> str:
    """A timezone-aware time as local time text."""
    return moment.astimezone().strftime(fmt)


def distance_gauge(distance: float | None, threshold: float, width: int) -> Text:
    """``distance`` against ``threshold`` as a bar of ``width`` cells: filled up to the
    distance (green within the threshold, red beyond), ``│`` marking the threshold."""
    full = GAUGE_RANGE * threshold
    mark = round(width * threshold / full)
    filled = 0 if distance is None else min(width, round(width * distance / full))
    style = "green" if distance is not None and distance <= threshold else "red"
    bar = Text()
    for i in range(width):
        if i == mark:
            bar.append("│", "bold")
        else:
            bar.append("█" if i < filled else "·", style if i < filled else "dim")
    return bar


def one_line(text: str | Text, width: int) -> Text:
    """``text`` on one line of at most ``width`` cells, ending in ``…`` when cut."""
    line = Text(text) if isinstance(text, str) else text.copy()
    line.no_wrap = True
    line.truncate(max(1, width), overflow="ellipsis")
    return line


def wrapped(text: str, width: int, most: int) -> list[str]:
    """``text`` wrapped at spaces into lines of at most ``width`` cells, ``most`` of them at
    most, the last ending in ``…`` when cut."""
    lines = textwrap.wrap(text, max(1, width)) or [""]
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] = one_line(lines[-1] + " …", width).plain
    return lines


def first_fitting(options: list[str], width: int) -> str:
    """The first of ``options`` (longest, most detailed first) that fits ``width`` cells, else
    the last."""
    return next((option for option in options if cell_len(option) <= width), options[-1])


class CameraPanel(Static):
    """Source; the camera's state (with when a lost camera is tried again, and why it was lost,
    whole and wrapped); the models' state (loading — how long and the loader's latest word —,
    ready, or why they failed); with a camera, the captured and processed frame rates, the
    latency (the last processed frame's, and the median and 95th percentile of recent ones,
    capture to result, in ms, as much as fits), and the newest frame's age; whether greetings
    are spoken. Every line but the reasons fits the panel's width."""

    #: Cells taken by a line's label (``"Latency "``).
    LABEL = 8
    #: Lines the Models line may take while loading (the loader's word wraps under it).
    LOADING_LINES = 3
    #: Where a value wrapped under its label goes on.
    INDENT = "\n" + " " * LABEL

    def show(
        self,
        camera: CameraStatus,
        pipeline: PipelineStatus,
        loading: str | None,
        stats: LiveStats | None,
        voice: Voice,
    ) -> None:
        """``loading``: how loading the models is going (see ``GatekeeperApp.models_loading``),
        while ``pipeline`` is loading."""
        room = max(8, self.content_size.width - self.LABEL)
        has_camera = camera.state is not CameraState.NONE
        text = Text()
        source = camera.source if len(camera.source) <= room else "…" + camera.source[1 - room :]
        text.append("Source  ", "dim").append(source)
        text.append("\nState   ", "dim")
        if has_camera and pipeline.state is PipelineState.LOADING:
            text.append_text(one_line(Text("waiting for the models", "yellow"), room))
        elif has_camera and pipeline.state is PipelineState.FAILED:
            text.append_text(one_line(Text("off: the models did not load", "bold red"), room))
        else:
            state = Text(camera.state.value, CAMERA_STYLES[camera.state])
            if camera.retry_in_s is not None:
                retry = f"{camera.state.value} — reconnecting in {math.ceil(camera.retry_in_s)} s"
                lines = wrapped(retry + " (r: now)", room, 2)
                state = Text(self.INDENT.join(lines), CAMERA_STYLES[camera.state])
            elif camera.state is CameraState.ENDED:
                state.append(" (r: play again)", "dim")
            elif not has_camera:
                state.append(" (no camera)", "dim")
            text.append_text(state if camera.retry_in_s is not None else one_line(state, room))
            if camera.error and camera.state is not CameraState.LIVE:
                text.append("\nReason  ", "dim").append(camera.error)
        if pipeline.state is PipelineState.LOADING:
            text.append("\nModels  ", "dim")
            lines = wrapped(loading or "loading…", room, self.LOADING_LINES)
            text.append(self.INDENT.join(lines), "yellow")
        elif pipeline.state is PipelineState.FAILED:
            text.append("\nModels  ", "dim").append(f"failed: {pipeline.message}", "bold red")
        elif not has_camera:
            text.append("\nModels  ", "dim").append("ready", "green")
        if has_camera:
            processed = stats.processed_fps if stats else 0.0
            text.append("\nCapture ", "dim").append(f"{camera.captured_fps:.1f} fps")
            text.append("\nProcess ", "dim").append(f"{processed:.1f} fps")
            text.append("\nLatency ", "dim").append(_latency(stats, room))
            text.append("\nFrame   ", "dim")
            age = camera.last_frame_age_s
            text.append("—" if age is None else f"#{camera.frame_id}, {age:.1f} s ago")
        text.append("\nVoice   ", "dim")
        if voice.off_reason is not None:
            text.append_text(one_line(Text(f"off: {voice.off_reason}", "yellow"), room))
        elif voice.mute:
            text.append("off (muted)", "dim")
        else:
            text.append("on", "green")
        if stats and stats.unrecorded:
            waiting = f"{stats.unrecorded} attempt{'s' if stats.unrecorded != 1 else ''} waiting"
            text.append("\nStore   ", "dim")
            text.append(f"database unavailable, {waiting}", "bold yellow")
        if stats and (stats.dropped or stats.failed):
            text.append("\nIssues  ", "dim")
            text.append(f"{stats.dropped} dropped, {stats.failed} failed frames", "bold yellow")
        if stats and stats.spoofs:
            text.append("\nSpoofs  ", "dim")
            text.append(f"{stats.spoofs} photo or screen attempts refused", "bold red")
        self.update(text)


def _latency(stats: LiveStats | None, room: int) -> str:
    """The last processed frame's latency with as many recent percentiles as fit ``room``."""
    if stats is None:
        return "—"
    last, median, p95 = (
        f"{seconds * 1000:.0f}"
        for seconds in (stats.latency_s, stats.latency_median_s, stats.latency_p95_s)
    )
    return first_fitting(
        [f"{last} ms, p50 {median}, p95 {p95}", f"{last} ms, p95 {p95}", f"{last} ms"], room
    )


def age_text(seconds: float) -> str:
    """How long ago, for an operator: ``just now``, ``42 s ago``, ``3 min ago``, ``2 h ago``."""
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    return f"{seconds // 3600:.0f} h ago"


class MatchPanel(Static):
    """The latest access decision: who, how close against the threshold, what, when and how long
    ago (:meth:`tick` brings the age up to date; after :data:`FRESH_S` it is shown dimmed).
    ``clock`` gives the current time (UTC)."""

    #: A decision older than this (seconds) is dimmed: it no longer describes who is there.
    FRESH_S = 60.0

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._shown: tuple[RecordedDecision, float] | None = None

    def on_mount(self) -> None:
        self.update(Text("no decision yet", "dim"))

    def show(self, recorded: RecordedDecision, threshold: float) -> None:
        self._shown = (recorded, threshold)
        self.tick()

    def tick(self) -> None:
        """Redraw the shown decision with its age as of now."""
        if self._shown is None:
            return
        recorded, threshold = self._shown
        decision = recorded.decision
        age = (self.clock() - recorded.time).total_seconds()
        fresh = age <= self.FRESH_S
        text = Text(no_wrap=True, overflow="ellipsis", style="" if fresh else "dim")
        width = self.content_size.width or self.size.width
        kind = decision.kind.upper()
        # The decision and its age always show; the clock time when it fits, and the name in
        # the room left (whole in the log).
        when = first_fitting(
            [f"  {local_time(recorded.time, '%H:%M:%S')}, {age_text(age)}", f"  {age_text(age)}"],
            width - len(kind) - (cell_len(decision.name) + 2 if decision.name else 0),
        )
        if decision.name:
            room = width - len(kind) - len(when) - 2
            text.append_text(one_line(Text(decision.name, "bold"), room)).append("  ")
        text.append(kind, decision_style(decision.kind) if fresh else "")
        text.append(f"{when}\n", "dim")
        distance = decision.distance if np.isfinite(decision.distance) else None
        text.append("—" if distance is None else f"{distance:.2f}")
        text.append(" ")
        text.append_text(distance_gauge(distance, threshold, max(5, self.size.width - 12)))
        text.append(f" {threshold:.2f}")
        if decision.kind == "spoof":
            text.append("\na photo or a screen, not a live person: refused", "bold red")
        if decision.kind == "denied" and recorded.reason:
            text.append(f"\n{recorded.reason}", "yellow")
        if recorded.attempt_id is None:
            text.append("\nnot recorded yet (store unavailable)", "yellow")
        self.update(text)


class AlertBanner(Static):
    """The oldest alert not yet acknowledged, across the top of the main screen, with how many
    more wait and the key that acknowledges it; hidden when there is none."""

    def show(self, alerts: list[Alert]) -> None:
        self.display = bool(alerts)
        if not alerts:
            return
        alert = alerts[0]
        text = Text(no_wrap=False)
        text.append(" ALERT ", "bold white on red")
        text.append(f" {alert.message}", "bold")
        text.append(f"  {local_time(alert.raised, '%H:%M:%S')}", "dim")
        if len(alerts) > 1:
            text.append(f"  (+{len(alerts) - 1} more)", "bold")
        text.append("  a: acknowledge", "dim")
        self.update(text)


class StateBanner(Static):
    """Across the top of the main screen while the records that decide (threshold, people,
    gallery, schedules, access) were changed outside Gatekeeper, so that nobody is granted:
    why, whole and wrapped, and what the operator can do; hidden otherwise."""

    def show(self, problem: str | None) -> None:
        self.display = problem is not None
        if problem is None:
            return
        text = Text()
        text.append(" NOBODY IS GRANTED ", "bold white on red")
        text.append(f" records changed outside Gatekeeper: {problem}.", "bold")
        text.append(" Check, then gatekeeper audit accept-state (or restore a backup).", "dim")
        self.update(text)


class FramePreview(Widget):
    """The last processed camera frame with its face boxes, in half blocks.

    :meth:`show` renders at once (call it at a capped rate: it downscales on this thread); the
    widget re-renders its last frame when resized. Without a frame it shows a message.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._frame: tuple[np.ndarray, tuple[FaceResult, ...]] | None = None
        self._strips: list[Strip] = []
        self._message = "loading models…"
        self._stale: str | None = None

    def show(self, image: np.ndarray, faces: tuple[FaceResult, ...]) -> None:
        self._frame = (image, faces)
        self._render_frame()

    def show_message(self, message: str) -> None:
        self._frame = None
        self._strips = []
        self._message = message
        self._stale = None
        self.refresh()

    def set_stale(self, label: str | None) -> None:
        """Mark the frame shown as stale with ``label`` across its top row (None: it is not)."""
        if label != self._stale:
            self._stale = label
            self.refresh()

    def on_resize(self) -> None:
        self._render_frame()

    def _render_frame(self) -> None:
        if self._frame is not None:
            image, faces = self._frame
            self._strips = render_frame(image, faces, self.size.width, self.size.height)
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        top = (height - len(self._strips)) // 2
        if self._strips:
            strip = (
                self._strips[y - top] if 0 <= y - top < len(self._strips) else Strip.blank(width)
            )
            if self._stale is not None and y == max(0, top):
                strip = _overlay(strip, f" {self._stale} ", width)
            return strip
        if y == height // 2:
            return Strip([Segment(self._message.center(width)[:width], Style(dim=True))], width)
        return Strip.blank(width)


#: The access log's columns, most important first: key, label, width in cells (``None``: the
#: room left, at least :data:`MIN_PERSON_CELLS`).
LOG_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("decision", "Decision", max(len("Decision"), *map(len, DECISIONS))),
    ("distance", "Dist.", 5),
    ("time", "Time", 15),
    ("person", "Person", None),
    ("camera", "Camera", 12),
    ("id", "#", 7),
)
#: Left out, in this order, when the log is too narrow for them (80×24: the log is 46 wide).
NARROW_DROPS = ("camera", "id")
#: The person column keeps at least this many cells while Camera and # are shown.
MIN_PERSON_CELLS = 12
#: A DataTable cell has one cell of padding either side.
_CELL_PADDING = 2


def log_columns(width: int) -> tuple[tuple[str, str, int], ...]:
    """The columns of an access log ``width`` cells wide (scroll bar excluded) and their widths:
    all of :data:`LOG_COLUMNS` when the person column keeps :data:`MIN_PERSON_CELLS`, else all
    but :data:`NARROW_DROPS`; the person column takes whatever room is left, so a wide log
    shows long names whole."""

    def room_left(columns: tuple[tuple[str, str, int | None], ...]) -> int:
        return width - sum(w or 0 for _, _, w in columns) - _CELL_PADDING * len(columns)

    columns = LOG_COLUMNS
    if room_left(columns) < MIN_PERSON_CELLS:
        columns = tuple(column for column in LOG_COLUMNS if column[0] not in NARROW_DROPS)
    person = room_left(columns)
    return tuple((key, label, w or max(person, len(label))) for key, label, w in columns)


def fit_columns(
    natural: dict[str, int], width: int, *, drops: Sequence[str], shortest: dict[str, int]
) -> dict[str, int]:
    """The columns of a table ``width`` cells wide (scroll bar excluded) and their widths in
    cells, from the ``natural`` ones (their longest cell or label, in display order): all of
    them when they fit; else the columns in ``shortest`` give up room, the one with the most to
    spare first, down to their shortest; else the ``drops`` are left out, in that order, until
    the rest fits — with the room that frees given back to those cut first."""
    for dropped in range(len(drops) + 1):
        widths = {key: w for key, w in natural.items() if key not in drops[:dropped]}
        excess = sum(widths.values()) + _CELL_PADDING * len(widths) - width
        while excess > 0:
            spare = {key: widths[key] - least for key, least in shortest.items() if key in widths}
            key = max(spare, key=spare.__getitem__, default=None)
            if key is None or spare[key] <= 0:
                break
            widths[key] -= 1
            excess -= 1
        if excess <= 0:
            return widths
    return widths


def _person_cell(row: AttemptRow) -> Text:
    """The person of an attempt, and why they were refused when they were."""
    text = Text(row.person_name or "—", no_wrap=True, overflow="ellipsis")
    if row.reason:
        text.append(f" · {row.reason}", "dim")
    return text


class _TimeCell(Text):
    """An attempt's time as shown, carrying its place in the log, ``(time, id)``, to sort by."""

    def __init__(self, row: AttemptRow) -> None:
        super().__init__(local_time(row.time))
        self.order = (row.time, row.id)


def _overlay(strip: Strip, label: str, width: int) -> Strip:
    """``strip`` (``width`` cells) with ``label`` written over its middle, in reverse video."""
    label = label[:width]
    start = (width - len(label)) // 2
    strip = strip.extend_cell_length(width)
    return Strip.join(
        [
            strip.crop(0, start),
            Strip([Segment(label, _STALE_STYLE)]),
            strip.crop(start + len(label)),
        ]
    )


_STALE_STYLE = Style(color="black", bgcolor="yellow", bold=True)


class _Page(Message):
    """Rows read for the access log: the first page (``before_id`` None) or an older one."""

    def __init__(self, generation: int, rows: list[AttemptRow], before_id: int | None) -> None:
        super().__init__()
        self.generation = generation
        self.rows = rows
        self.before_id = before_id


class _Head(Message):
    """The newest rows, read to find attempts recorded since the log was loaded."""

    def __init__(self, generation: int, rows: list[AttemptRow]) -> None:
        super().__init__()
        self.generation = generation
        self.rows = rows


class _ReadFailed(Message):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class AccessLog(Vertical):
    """The attempt log, newest first, read page by page as the cursor goes down.

    Keyset pagination: the first :data:`PAGE_SIZE` rows are read at once; when the cursor comes
    within :data:`PREFETCH_ROWS` of the last loaded row the next page (``before_id`` = the
    oldest loaded attempt) is read. :meth:`refresh_head` reads the newest rows and puts those
    not shown yet at the top. Every read runs in a thread worker; a read started before the
    filter changed is ignored when it returns (``generation``).

    Follow mode: with the cursor on the newest row, new attempts appear under it at the top.
    Once the operator has moved down, new rows leave the view where it is; the subtitle counts
    them until the cursor is back on top (``ctrl+home``). A filter that matches nothing says so.
    The columns fit the width (:func:`log_columns`).
    """

    PAGE_SIZE = 200
    PREFETCH_ROWS = 40
    HEAD_ROWS = 50

    def __init__(self, site: Site, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._site = site
        self.filter = AttemptFilter()
        self._generation = 0
        self._rows: dict[int, AttemptRow] = {}
        self._columns: tuple[tuple[str, str, int], ...] = ()
        self._oldest_id: int | None = None
        self._exhausted = False
        self._loading = False
        self._unseen = 0

    def compose(self) -> ComposeResult:
        yield DataTable(id="log-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="log-empty")

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def loaded(self) -> int:
        """Rows held in the table."""
        return len(self._rows)

    @property
    def unseen(self) -> int:
        """Attempts that arrived above the view since the operator scrolled away from the top."""
        return self._unseen

    def attempt_id_at(self, row: int) -> int:
        """The attempt id of the table's ``row``-th row."""
        return int(self.table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)

    def on_mount(self) -> None:
        self.query_one("#log-empty").display = False
        self._fit_columns(self.size.width)
        self.set_filter(self.filter)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_columns(event.size.width)

    def _fit_columns(self, width: int) -> None:
        """Lay the columns out for ``width`` cells; the rows are rebuilt when that changes."""
        table = self.table
        columns = log_columns(width - table.styles.scrollbar_size_vertical)
        if columns == self._columns:
            return
        selected = self.attempt_id_at(table.cursor_row) if table.row_count else None
        self._columns = columns
        table.clear(columns=True)
        for key, label, cells in columns:
            table.add_column(label, key=key, width=cells)
        for row in sorted(self._rows.values(), key=lambda r: (r.time, r.id), reverse=True):
            table.add_row(*self._cells(row), key=str(row.id))
        if selected is not None:
            table.move_cursor(row=table.get_row_index(str(selected)), animate=False)

    def _cells(self, row: AttemptRow) -> list[object]:
        values = {
            "decision": Text(row.decision, decision_style(row.decision)),
            "distance": "—" if row.distance is None else f"{row.distance:.2f}",
            "time": _TimeCell(row),
            "person": _person_cell(row),
            "camera": Text(row.camera_id, no_wrap=True, overflow="ellipsis"),
            "id": row.id,
        }
        return [values[key] for key, _, _ in self._columns]

    def set_filter(self, filter: AttemptFilter) -> None:
        """Show the attempts matching ``filter`` (from the first page)."""
        self.filter = filter
        self.border_title = Text(f"Access log — {describe(filter)}")
        self._generation += 1
        self._exhausted = False
        self._loading = True
        self._read_page(self._generation, filter, None)

    def refresh_head(self) -> None:
        """Look for attempts newer than those shown (recorded here or by another process)."""
        self._read_head(self._generation, self.filter)

    @work(thread=True, group="log-read")
    def _read_page(self, generation: int, filter: AttemptFilter, before_id: int | None) -> None:
        try:
            rows = self._site.log.page(filter, limit=self.PAGE_SIZE, before_id=before_id)
        except GatekeeperError as exc:
            self.post_message(_ReadFailed(str(exc)))
            rows = []
        self.post_message(_Page(generation, rows, before_id))

    @work(thread=True, group="log-head")
    def _read_head(self, generation: int, filter: AttemptFilter) -> None:
        try:
            rows = self._site.log.page(filter, limit=self.HEAD_ROWS)
        except GatekeeperError as exc:
            self.post_message(_ReadFailed(str(exc)))
            return
        self.post_message(_Head(generation, rows))

    def _add(self, row: AttemptRow) -> None:
        self._rows[row.id] = row
        self.table.add_row(*self._cells(row), key=str(row.id))

    def _show_empty(self) -> None:
        """Say so when nothing is shown: no attempts at all, or none matching the filter."""
        empty = self.query_one("#log-empty", Static)
        empty.display = not self._rows
        self.set_class(not self._rows, "-empty")
        if self.filter == AttemptFilter():
            empty.update(Text("No access attempts yet.", "dim"))
        else:
            empty.update(
                Text(f"No matches for {describe(self.filter)}. Press c to clear the filter.")
            )

    def _set_unseen(self, count: int) -> None:
        self._unseen = count
        self.border_subtitle = Text(f"{count} new above · ctrl+home to follow") if count else None

    @on(_Page)
    def _page_read(self, message: _Page) -> None:
        if message.generation != self._generation:
            return
        if message.before_id is None:
            self.table.clear()
            self._rows.clear()
            self._set_unseen(0)
        for row in message.rows:
            if row.id not in self._rows:
                self._add(row)
        if message.rows:
            self._oldest_id = message.rows[-1].id
        self._exhausted = len(message.rows) < self.PAGE_SIZE
        self._loading = False
        self._show_empty()

    @on(_Head)
    def _head_read(self, message: _Head) -> None:
        if message.generation != self._generation or self._loading:
            return
        new = [row for row in message.rows if row.id not in self._rows]
        if not new:
            return
        if len(new) == len(message.rows) and self._rows:  # a gap: more arrived than we read
            self.set_filter(self.filter)
            return
        table = self.table
        following = table.cursor_row == 0 and table.scroll_y == 0
        for row in new:
            self._add(row)
        table.sort("time", key=lambda cell: cell.order, reverse=True)
        if self._oldest_id is None:
            self._oldest_id = message.rows[-1].id
        self._show_empty()
        if following:
            return
        # Keep the operator's place: the same row under the cursor, the same rows in view.
        table.move_cursor(row=table.cursor_row + len(new), animate=False, scroll=False)
        target = table.scroll_y + len(new)
        table.call_after_refresh(table.scroll_to, y=target, animate=False, immediate=True)
        self._set_unseen(self._unseen + len(new))

    @on(_ReadFailed)
    def _read_failed(self, message: _ReadFailed) -> None:
        self.notify(f"cannot read the access log: {message.message}", severity="error")

    @on(DataTable.RowHighlighted)
    def _cursor_moved(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row == 0 and self._unseen:
            self._set_unseen(0)
        if (
            not self._exhausted
            and not self._loading
            and self._oldest_id is not None
            and event.cursor_row >= self.table.row_count - self.PREFETCH_ROWS
        ):
            self._loading = True
            self._read_page(self._generation, self.filter, self._oldest_id)


def template_quality(person) -> Text:
    """A person's template quality (``PersonInfo.quality``) for the People table, coloured:
    ``low`` templates are matched under the stricter rule; ``unmeasured`` ones predate quality
    measurement (``gatekeeper reencode`` measures them)."""
    style = {"good": "green", "low": "yellow"}.get(person.quality, "dim")
    return Text(person.quality, style)


def describe_enrolment(result: EnrolResult) -> str:
    """What an enrolment stored, as the People table counts it, and what it skipped."""
    skipped = result.duplicates
    note = f" ({plural(skipped, 'photo')} already enrolled, not stored again)" if skipped else ""
    return result.summary() + note


#: The binding every screen shows for help.
HELP_BINDING = Binding("question_mark,f1", "app.help", "Help", key_display="?")
