"""The Gatekeeper console: a Textual app over the live recognizer and the store.

``gatekeeper`` with no arguments calls :func:`run_console`. The screen appears at once, in the
"loading models…" state, while the recognizer's worker thread loads the compiled models (under
a second; on a first run it builds the model cache, each step shown as the loading status); the
camera starts when they are ready. The UI thread only displays: vision runs in the
recognizer's thread, store reads and writes in thread workers.

Native libraries (TensorFlow, OpenCV, FFmpeg) write to file descriptor 2 behind Python's back,
which would scribble over the screen. For the app's lifetime fd 2 therefore points at
``HOME/data/console.log`` (with Gatekeeper's own log records), and Textual draws on a duplicate
of the original terminal descriptor instead.

Kept visitor crops older than the retention (``[visitors] retention_days``) are deleted when
the console starts and then every :data:`EXPIRE_INTERVAL_S` seconds, in a thread worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from gatekeeper.config import Settings
from gatekeeper.door import Door
from gatekeeper.errors import GatekeeperError
from gatekeeper.live import LiveRecognizer, PipelineState
from gatekeeper.site import AttemptFilter, Site
from gatekeeper.tui.dialogs import (
    ConfirmDialog,
    ExportDialog,
    FilterDialog,
    QuitDialog,
    ThresholdDialog,
)
from gatekeeper.tui.help_screen import HelpScreen
from gatekeeper.tui.people_screen import PeopleScreen
from gatekeeper.tui.screens import MainScreen, VisitorsScreen
from gatekeeper.tui.widgets import AccessLog, FramePreview
from gatekeeper.vision.camera import CameraFeed, CameraState, open_source
from gatekeeper.voice import Voice

#: The console's log file, under ``HOME/data``.
LOG_FILE = "console.log"
#: Seconds between two deletions of expired visitor crops (one more at start).
EXPIRE_INTERVAL_S = 3600.0


class GatekeeperApp(App[None]):
    """The console. ``feed`` is a not yet started camera feed; the recognizer starts it once the
    models are loaded. Greetings follow ``settings.greeting`` and ``settings.mute``."""

    CSS_PATH = Path(__file__).with_name("gatekeeper.tcss")
    TITLE = "Gatekeeper"

    def __init__(self, site: Site, feed: CameraFeed) -> None:
        super().__init__()
        settings = site.settings
        self.site = site
        self.feed = feed
        # Voice turned off: the camera panel's Voice line says why (and the console log).
        self.voice = Voice(settings.greeting, mute=settings.mute)
        self.door = (
            Door(
                site.store,
                settings.actions,
                settings.alerts,
                on_notice=lambda notice: self._main.post_door(notice),
            )
            if settings.actions or settings.alerts
            else None
        )
        self.recognizer = LiveRecognizer(
            site,
            feed,
            voice=self.voice,
            on_event=lambda e: self._main.post_live(e),
            door=self.door,
        )
        self.threshold: float | None = None
        self.sub_title = f"camera {settings.camera_id}" if self.has_camera else "no camera"
        self._loading_since: float | None = None
        self._main = MainScreen(id="main")

    def get_default_screen(self) -> Screen:
        return self._main

    def on_mount(self) -> None:
        self.expire_visitors()
        self.set_interval(EXPIRE_INTERVAL_S, self.expire_visitors)

    def on_unmount(self) -> None:
        self.recognizer.stop(timeout=3.0)
        if self.door is not None:
            self.door.close(timeout=1.0)
        self.voice.close(timeout=2.0)

    def notify(self, message: str, **options: Any) -> None:
        """Show a notification as plain text, never as markup: notifications carry names, paths
        and error messages, which may hold ``[`` (``[on]obama`` must not read as "obama")."""
        super().notify(message, **{**options, "markup": False})

    @property
    def has_camera(self) -> bool:
        """Whether the console was given a camera (without one it is for enrolment and the
        log)."""
        return self.feed.status().state is not CameraState.NONE

    def start_recognition(self) -> None:
        """Start the recognizer: it loads the models, then starts the camera."""
        self._loading_since = time.monotonic()
        self.recognizer.start()

    def models_loading(self) -> str | None:
        """While the models load, how long it has taken and the loader's latest word
        (:meth:`Site.report_loading`): ``loading… 12 s — FaceNet weights: downloading
        …``; ``None`` once they are loaded (or failed)."""
        if self.recognizer.state is not PipelineState.LOADING:
            return None
        since = self._loading_since
        text = "loading…" if since is None else f"loading… {time.monotonic() - since:.0f} s"
        note = self.site.loading_note
        return text if note is None else f"{text} — {note}"

    # --- actions -----------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("People", "Enrol and remove people", self.action_people)
        yield SystemCommand(
            "Visitors", "Review the faces of unknown visitors", self.action_visitors
        )
        yield SystemCommand("Export", "Export the access log as CSV", self.action_export)
        yield SystemCommand(
            "Threshold", "View or set the distance threshold", self.action_threshold
        )
        yield SystemCommand("Filter log", "Filter the access log", self.action_filter_log)
        yield SystemCommand(
            "Preview", "Show or hide the camera preview", self.action_toggle_preview
        )
        yield SystemCommand("Help", "Keys of every screen", self.action_help)

    def action_request_quit(self) -> None:
        """Ask "Quit Gatekeeper?" and quit on yes."""

        def answered(answer: bool | None) -> None:
            if answer:
                self.exit()

        if not isinstance(self.screen, QuitDialog):
            self.push_screen(QuitDialog(camera=self.has_camera), answered)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_people(self) -> None:
        if not isinstance(self.screen, PeopleScreen):
            self.push_screen(PeopleScreen())

    def action_visitors(self) -> None:
        if not isinstance(self.screen, VisitorsScreen):
            self.push_screen(VisitorsScreen())

    @work(thread=True, exclusive=True, group="visitors-expire")
    def expire_visitors(self) -> None:
        """Delete the visitor crops older than the retention (a chained ``visitor_expire``
        event when there were some)."""
        try:
            count = self.site.visitors.expire()
        except GatekeeperError as exc:
            self.notify(f"cannot delete expired visitor crops: {exc}", severity="warning")
            return
        if count:
            days = self.site.settings.visitors.retention_days
            self.notify(f"Deleted {count} visitor crop(s) older than {days:g} days")

    def action_toggle_preview(self) -> None:
        preview = self._main.query_one(FramePreview)
        preview.display = not preview.display

    def action_filter_log(self) -> None:
        def chosen(filter: AttemptFilter | None) -> None:
            if filter is not None:
                self._main.set_log_filter(filter)

        self.push_screen(FilterDialog(self._main.query_one(AccessLog).filter), chosen)

    def action_export(self) -> None:
        default = self.site.settings.data_dir / f"export-{datetime.now():%Y%m%d-%H%M%S}.csv"

        def chosen(result: tuple[Path, AttemptFilter] | None) -> None:
            if result is None:
                return
            path, filter = result
            if not path.exists():
                self._export(path, filter)
                return

            def replace(answer: bool | None) -> None:
                if answer:
                    self._export(path, filter)

            question = f"{path} exists. Replace it with this export?"
            dialog = ConfirmDialog(
                f"Replace {path.name}?", question, ok="Replace", destructive=True
            )
            self.push_screen(dialog, replace)

        self.push_screen(ExportDialog(default), chosen)

    @work(thread=True, group="export")
    def _export(self, path: Path, filter: AttemptFilter) -> None:
        """Export as ``gatekeeper export FILE`` does: atomically, and only to a regular file
        (a symbolic link, device, FIFO or socket is refused)."""
        try:
            count = self.site.log.export_file(path, filter)
        except GatekeeperError as exc:
            self.notify(f"Export failed: {exc}", severity="error")
        else:
            self.notify(f"Exported {count} attempt(s) to {path}")

    def action_threshold(self) -> None:
        def chosen(value: float | None) -> None:
            if value is None:
                return
            if self.threshold is not None and value > self.threshold:
                self._confirm_loosening(self.threshold, value)
            else:
                self._set_threshold(value)

        self.push_screen(ThresholdDialog(self.threshold), chosen)

    @work(thread=True, group="threshold")
    def _confirm_loosening(self, current: float, value: float) -> None:
        """A looser threshold lets more strangers in: ask first, with the error rates at both
        values that the last ``gatekeeper evaluate`` of the site's pairs measured, else the
        shipped rule's held-out calibration."""
        before, after = (
            self.site.recognition.expected_rates(current),
            self.site.recognition.expected_rates(value),
        )
        if before is None or after is None:
            expected = "No error rates known at these values (gatekeeper evaluate PAIRS)."
        else:
            expected = (
                f"False accepts {_percent(before[0])} → {_percent(after[0])}, "
                f"false rejects {_percent(before[1])} → {_percent(after[1])} ({after[2]})."
            )

        def answered(answer: bool | None) -> None:
            if answer:
                self._set_threshold(value)

        question = f"Loosen the threshold from {current:g} to {value:g}? {expected}"
        self.call_from_thread(
            self.push_screen,
            ConfirmDialog("Loosen the threshold?", question, ok="Loosen"),
            answered,
        )

    @work(thread=True, group="threshold")
    def read_threshold(self) -> None:
        try:
            self.threshold = self.site.recognition.threshold
        except GatekeeperError as exc:
            self.notify(f"cannot read the threshold: {exc}", severity="error")

    @work(thread=True, group="threshold")
    def _set_threshold(self, value: float) -> None:
        try:
            self.site.recognition.set_threshold(value)
        except GatekeeperError as exc:
            self.notify(f"Threshold not changed: {exc}", severity="error")
            return
        self.threshold = value
        self.notify(f"Threshold set to {value:g}")


@contextlib.contextmanager
def _stderr_to_log(path: Path) -> Iterator[None]:
    """Point fd 2 (and Python's logging, INFO and up) at ``path``; Textual draws on a copy of
    the terminal.

    Textual writes its output to ``sys.__stderr__``, so that becomes a stream on a duplicate of
    the original fd 2 for the duration. The root logger's handlers are replaced by one writing
    to ``path``. Everything is restored on exit.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="replace")
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved = root.level, root.handlers[:], sys.__stderr__
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.__stderr__ = terminal
    try:
        yield
    finally:
        terminal.flush()
        sys.stderr.flush()
        os.dup2(terminal_fd, 2)
        terminal.close()
        root.setLevel(saved[0])
        root.handlers = saved[1]
        sys.__stderr__ = saved[2]
        handler.close()


def run_console(settings: Settings, site: Site | None = None) -> int:
    """Open the console for ``settings`` (camera, home, greeting, mute...) until the user quits;
    returns the exit status: 0, or 1 when the console stopped on an internal error (its
    traceback is then in the console log, and one line on stderr says so).

    ``site`` is the site as the command line opened it (default: opened here from
    ``settings``); it is closed on the way out. Raises :class:`GatekeeperError` before the
    screen opens when the camera path or the database cannot be used.
    """
    site = site or Site.open(settings)
    log_file = settings.data_dir / LOG_FILE
    try:
        feed = open_source(settings.camera, fps=settings.fps, loop=settings.loop)
        app = GatekeeperApp(site, feed)
        with _stderr_to_log(log_file):
            app.run()
    finally:
        site.close()
    if app.return_code:
        print(
            f"gatekeeper: the console stopped on an internal error (traceback in {log_file})",
            file=sys.stderr,
        )
        return 1
    return 0


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"
