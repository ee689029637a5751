"""Camera sources and the capture thread that always holds the newest frame.

A camera is named by a *spec* string (:func:`open_source`):

- ``None`` or empty: no camera — a normal state (an enrolment-only desk); the feed's state is
  ``none`` and it never has a frame.
- ``"0"``, ``"1"``...: a local capture device by index (OpenCV).
- ``"rtsp://..."``, ``"http://..."``, any ``scheme://`` URL: a network stream (FFmpeg).
- a folder: its images replayed in natural name order (``frame2`` before ``frame10``) at ``fps``.
- a video file: played once in real time at its own frame rate (frame *i* is released at
  *start + i / fps*), or over and over with ``loop``.

A :class:`CameraFeed` reads on its own thread and keeps only the newest frame: a slow consumer
skips frames, it never sees stale ones queued up. Frames are RGB ``uint8 (H, W, 3)`` arrays,
read-only, stamped with a frame counter and the time of their capture on the feed's clock.

A feed's timing — replay pacing, frame times, stall detection, reconnection backoff, the frame
rate, :meth:`CameraFeed.wait_for_new`'s timeout — all runs on one :class:`Clock`:
:data:`SYSTEM_CLOCK` (``time.monotonic()``) unless another is given, so tests can drive a
feed through time without waiting for it.

States (:class:`CameraState`)::

    connecting ──► live ──► ended            (a file or folder played to its end, or stop())
        │            │
        ▼            ▼
      lost ◄──── (open fails, read fails, no frame for stall_timeout_s)
        │  ▲
        ▼  │  wait: backoff_initial_s, doubling on each failure up to backoff_max_s
    reconnecting ──► live

A device or stream whose read fails (a corrupt frame, an unplugged camera) or that delivers no
frame for ``stall_timeout_s`` is ``lost`` and reopened after the backoff (so is a file or folder
whose next frame is ``stall_timeout_s`` late: a read that blocks); the backoff returns to
its initial value once a connection delivers a frame. A file or folder that cannot be opened
(deleted, unreadable) is treated the same way, so playback resumes if it comes back.
:meth:`CameraFeed.retry` cuts a backoff short, or plays an ended file or folder again.

OpenCV and FFmpeg print warnings straight to file descriptor 2 when a device or stream fails to
open — on every reconnection attempt. Opening and releasing therefore run with fd 2 silenced
(:func:`gatekeeper.vision.stderr.quiet_stderr_fd`); failures are reported through the feed's
state and error message instead. cv2's GUI functions are never used (there is no display).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from gatekeeper.errors import CameraError, UsageError
from gatekeeper.vision.stderr import quiet_stderr_fd

log = logging.getLogger(__name__)

#: File name suffixes replayed from an image folder.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

#: The captured frame rate is estimated over the frames of the last this many seconds.
FPS_WINDOW_S = 2.0

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TO_RGB = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}


class Clock(Protocol):
    """Where a feed reads the time and waits for it."""

    def monotonic(self) -> float:
        """The current time in seconds (only differences matter)."""
        ...

    def wait(self, waitable: threading.Event | threading.Condition, timeout: float | None) -> bool:
        """``waitable.wait(timeout)``, with ``timeout`` in seconds of this clock (``None``: no
        limit): True once the event is set or the condition notified (a condition's lock is
        held, as for ``Condition.wait``), False when the timeout passed first. As with
        ``Condition.wait``, a condition's waiter may wake without a notification and must check
        what it waits for again."""
        ...


class SystemClock:
    """Real time: ``time.monotonic()``, and waits that last as long as they say."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, waitable: threading.Event | threading.Condition, timeout: float | None) -> bool:
        return waitable.wait(timeout)


#: The clock feeds use unless given another.
SYSTEM_CLOCK = SystemClock()


class CameraState(StrEnum):
    """Where a feed stands; the values are the strings the UI shows."""

    NONE = "none"
    CONNECTING = "connecting"
    LIVE = "live"
    LOST = "lost"
    RECONNECTING = "reconnecting"
    ENDED = "ended"


class FrameReader(Protocol):
    """One open connection to a source."""

    #: Replay rate in frames per second for a file or folder (paced by the feed); ``None`` for a
    #: live device or stream, which paces itself.
    fps: float | None

    def read(self) -> np.ndarray | None:
        """The next frame, RGB ``uint8 (H, W, 3)``; ``None`` at the end of a file or folder, or
        when a live device or stream fails to deliver one. May block (a live source)."""
        ...

    def release(self) -> None:
        """Close the connection."""
        ...


class FrameSource(Protocol):
    """Where frames come from: opened once per connection attempt."""

    #: How the source is shown to users (a stream URL without its password).
    description: str
    #: True for a device or stream (failures mean lost/reconnect, stalls are watched); False for
    #: a file or folder (its end means ``ended``, or a replay with ``loop``).
    live: bool

    def open(self) -> FrameReader:
        """Connect; raises :class:`CameraError` with a one-line reason on failure."""
        ...


class CapturedFrame(NamedTuple):
    """The newest frame of a feed."""

    frame_id: int
    """Counter from 1, increasing across reconnections and loops."""
    time: float
    """When the frame was captured (released, for a replayed file), on the feed's clock:
    ``time.monotonic()`` by default."""
    image: np.ndarray
    """RGB ``uint8 (H, W, 3)``, read-only."""


@dataclass(frozen=True)
class CameraStatus:
    """A snapshot of a feed for the UI."""

    source: str
    state: CameraState
    frame_id: int
    """The newest frame's id; 0 before the first frame."""
    captured_fps: float
    """Frames per second captured over the last :data:`FPS_WINDOW_S` seconds."""
    last_frame_age_s: float | None
    """Seconds since the newest frame was captured; ``None`` before the first frame."""
    error: str | None
    """Why the feed was last lost; cleared when frames flow again."""
    retry_in_s: float | None = None
    """While ``lost``: seconds until the next reconnection attempt (:meth:`CameraFeed.retry`
    makes it now)."""


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    """OpenCV's BGR (or grayscale, BGRA) frame as a new RGB ``uint8 (H, W, 3)`` array."""
    channels = 1 if frame.ndim == 2 else frame.shape[2]
    return cv2.cvtColor(frame, _TO_RGB[channels])


def _redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to show and log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class _CaptureReader:
    """A ``cv2.VideoCapture`` delivering RGB frames."""

    def __init__(self, capture: cv2.VideoCapture, fps: float | None) -> None:
        self._capture = capture
        self.fps = fps

    def read(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        return _to_rgb(frame) if ok and frame is not None else None

    def release(self) -> None:
        with quiet_stderr_fd():
            self._capture.release()


@dataclass(frozen=True)
class CaptureSource:
    """A device (``target`` an int), a stream URL or a video file, read through OpenCV.

    ``fallback_fps`` paces a video file whose container states no frame rate; ``timeout_s``
    bounds how long opening or reading a stream may block.
    """

    target: int | str
    description: str
    live: bool
    fallback_fps: float = 25.0
    timeout_s: float = 10.0

    def open(self) -> FrameReader:
        if not self.live and not Path(str(self.target)).is_file():
            raise CameraError(f"video file not found: {self.target}")
        with quiet_stderr_fd():
            if isinstance(self.target, int):
                capture = cv2.VideoCapture(self.target)
            elif self.live:
                timeout_ms = int(self.timeout_s * 1000)
                capture = cv2.VideoCapture(
                    self.target,
                    cv2.CAP_FFMPEG,
                    [
                        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                        timeout_ms,
                        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                        timeout_ms,
                    ],
                )
            else:
                capture = cv2.VideoCapture(self.target)
            if not capture.isOpened():
                capture.release()
                raise CameraError(f"cannot open {self.description}")
        if self.live:
            return _CaptureReader(capture, None)
        fps = capture.get(cv2.CAP_PROP_FPS)
        return _CaptureReader(capture, fps if 0 < fps < 1000 else self.fallback_fps)


def _natural_key(path: Path) -> list[int | str]:
    """Sort key putting ``img2`` before ``img10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class _FolderReader:
    """The images of a folder, in order, as RGB frames; unreadable files are skipped, and so
    is anything that is no longer a regular file when its turn comes."""

    def __init__(self, files: list[Path], fps: float) -> None:
        self._files: Iterator[Path] = iter(files)
        self.fps = fps

    def read(self) -> np.ndarray | None:
        for path in self._files:
            if not path.is_file():  # a FIFO put in its place would block the open for ever
                log.warning("skipping %s: not a regular file", path)
                continue
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is not None:
                return _to_rgb(frame)
            log.warning("skipping unreadable image %s", path)
        return None

    def release(self) -> None:
        self._files = iter(())


@dataclass(frozen=True)
class ImageFolderSource:
    """A folder of images replayed in natural name order at ``fps`` frames per second. Only
    regular files are replayed: a FIFO, device or socket with an image's name is skipped
    without being opened (reading a FIFO waits for a writer)."""

    folder: Path
    fps: float
    live: bool = field(default=False, init=False)

    @property
    def description(self) -> str:
        return str(self.folder)

    def open(self) -> FrameReader:
        try:
            files = sorted(
                (
                    p
                    for p in self.folder.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                ),
                key=_natural_key,
            )
        except OSError as exc:
            raise CameraError(f"cannot read image folder {self.folder}: {exc.strerror}") from None
        if not files:
            raise CameraError(f"no images in {self.folder}")
        return _FolderReader(files, self.fps)


def source_from_spec(
    spec: str | None, *, fps: float, timeout_s: float = 10.0
) -> FrameSource | None:
    """The source a spec string names (see the module docstring), or ``None`` for no camera.

    Files and folders are checked now, so a mistyped path or a file that is not a video fails
    at once with :class:`CameraError`; devices and streams are only tried when the feed starts
    (their failures are states, not errors). ``fps`` (frames per second, > 0) paces an image
    folder and any video file that states no frame rate.
    """
    if not fps > 0:
        raise UsageError(f"fps must be positive, got {fps}")
    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    if spec.isdigit():
        return CaptureSource(int(spec), f"camera {spec}", live=True)
    if _URL.match(spec):
        return CaptureSource(spec, _redact(spec), live=True, timeout_s=timeout_s)
    path = Path(spec).expanduser()
    if path.is_dir():
        folder = ImageFolderSource(path, fps)
        folder.open().release()
        return folder
    if path.is_file():
        video = CaptureSource(str(path), str(path), live=False, fallback_fps=fps)
        try:
            video.open().release()
        except CameraError:
            raise CameraError(f"not a readable video file: {path}") from None
        return video
    raise CameraError(
        f"camera source not found: {spec} "
        "(expected a device index, a stream URL, a video file or a folder of images)"
    )


class _Session:
    """One connection attempt: its capture thread, and what became of it."""

    def __init__(self, first_due: float | None, started_at: float) -> None:
        self.cancelled = threading.Event()
        self.started_at = started_at
        self.last_frame_at: float | None = None
        self.frames = 0
        self.next_due = first_due
        self.outcome: str | None = None
        self.message: str | None = None
        self.thread: threading.Thread | None = None


class CameraFeed:
    """A capture thread holding the newest frame of one source, with reconnection.

    Nothing is read until :meth:`start`, so a video file starts playing when the caller's
    pipeline is ready. Before that the state is ``connecting`` (``none`` without a source);
    after :meth:`stop` it is ``ended``. All methods are thread-safe.

    ``stall_timeout_s``: a device or stream delivering no frame for this long (seconds), or a
    file or folder whose next frame is this late, is lost.
    ``backoff_initial_s`` / ``backoff_max_s``: the wait before reconnecting doubles from the
    first to the second after each consecutive failure. ``clock`` times all of it (see the
    module docstring).
    """

    def __init__(
        self,
        source: FrameSource | None,
        *,
        loop: bool = False,
        stall_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not (stall_timeout_s > 0 and 0 < backoff_initial_s <= backoff_max_s):
            raise UsageError(
                "camera timings must satisfy stall_timeout_s > 0 and "
                "0 < backoff_initial_s <= backoff_max_s"
            )
        self._source = source
        self._loop = loop
        self._stall_timeout = stall_timeout_s
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._clock = clock
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._retry_at: float | None = None
        self._state = CameraState.NONE if source is None else CameraState.CONNECTING
        self._error: str | None = None
        self._latest: CapturedFrame | None = None
        self._recent: deque[float] = deque(maxlen=256)
        self._thread: threading.Thread | None = None
        self._session: _Session | None = None

    @property
    def description(self) -> str:
        """The source as shown to users, or ``none``."""
        return "none" if self._source is None else self._source.description

    def start(self) -> None:
        """Start capturing (once; later calls do nothing). Without a source, does nothing."""
        if self._source is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._supervise, name="camera", daemon=True)
        self._thread.start()

    def retry(self) -> bool:
        """Reconnect a ``lost`` feed now instead of after its backoff, or play an ``ended``
        file or folder again from the start; True if it did either. A stopped feed stays
        stopped."""
        with self._cond:
            if self._stop.is_set() or self._thread is None:
                return False
            if self._state is CameraState.LOST:
                self._wake.set()
                return True
            if self._state is not CameraState.ENDED or self._thread.is_alive():
                return False
            self._set_state(CameraState.CONNECTING, None)
            self._thread = threading.Thread(target=self._supervise, name="camera", daemon=True)
            self._thread.start()
            return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop capturing and join the capture threads (waiting at most ``timeout`` seconds
        each: a stream blocked in a read is left to finish on its own daemon thread)."""
        with self._cond:
            self._stop.set()
            self._wake.set()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        session = self._session
        if session is not None and session.thread is not None:
            session.cancelled.set()
            session.thread.join(timeout)
        with self._cond:
            if self._state is not CameraState.NONE:
                self._set_state(CameraState.ENDED, self._error)

    def latest(self) -> CapturedFrame | None:
        """The newest frame, or ``None`` before the first one."""
        with self._cond:
            return self._latest

    def wait_for_new(self, after_id: int, timeout: float) -> CapturedFrame | None:
        """Block until a frame newer than ``after_id`` exists and return the newest one; ``None``
        after ``timeout`` seconds, or at once when the feed has ended (or has no source)."""
        deadline = self._clock.monotonic() + timeout
        with self._cond:
            while True:
                if self._latest is not None and self._latest.frame_id > after_id:
                    return self._latest
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0 or self._state in (CameraState.ENDED, CameraState.NONE):
                    return None
                self._clock.wait(self._cond, remaining)

    def status(self) -> CameraStatus:
        """Source, state, captured frame rate, age of the newest frame and last error."""
        now = self._clock.monotonic()
        with self._cond:
            recent = [t for t in self._recent if now - t <= FPS_WINDOW_S]
            span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
            latest = self._latest
            return CameraStatus(
                source=self.description,
                state=self._state,
                frame_id=latest.frame_id if latest else 0,
                captured_fps=(len(recent) - 1) / span if span > 0 else 0.0,
                last_frame_age_s=now - latest.time if latest else None,
                error=self._error,
                retry_in_s=None
                if self._retry_at is None or self._state is not CameraState.LOST
                else max(0.0, self._retry_at - now),
            )

    # --- capture machinery -------------------------------------------------------------------

    def _set_state(self, state: CameraState, error: str | None) -> None:
        """Change state (caller holds the lock) and wake waiters."""
        if state is not self._state:
            if state is CameraState.LOST:
                log.warning("%s: lost: %s", self.description, error)
            else:
                log.info("%s: %s", self.description, state.value)
        self._state, self._error = state, error
        self._cond.notify_all()

    def _supervise(self) -> None:
        """Run connection attempts one after another until the end or stop()."""
        assert self._source is not None
        delay = self._backoff_initial
        first_due: float | None = None
        while True:
            session = _Session(first_due, self._clock.monotonic())
            session.thread = threading.Thread(
                target=self._capture, args=(session,), name="camera-reader", daemon=True
            )
            with self._cond:
                self._session = session
            session.thread.start()
            outcome, message = self._watch(session)
            session.cancelled.set()
            if outcome == "stopped":
                return
            if outcome == "ended" and self._loop and session.frames:
                first_due = session.next_due
                continue
            if outcome == "ended":
                with self._cond:
                    self._set_state(CameraState.ENDED, None)
                return
            first_due = None
            if session.frames:
                delay = self._backoff_initial
            with self._cond:
                self._retry_at = self._clock.monotonic() + delay
                self._set_state(CameraState.LOST, message)
            self._clock.wait(self._wake, delay)
            with self._cond:
                self._retry_at = None
                self._wake.clear()
                if self._stop.is_set():
                    return
            delay = min(delay * 2, self._backoff_max)
            with self._cond:
                self._set_state(CameraState.RECONNECTING, self._error)

    def _watch(self, session: _Session) -> tuple[str, str | None]:
        """Wait for the session's outcome: ``ended``, ``failed``, ``stalled`` or ``stopped``.

        A session is stalled when no frame came for the stall timeout: a device or stream
        counts from its last frame (or the connection); a replayed file or folder from when its
        next frame was due (a read that blocks — a file on a hung network share — must not
        freeze the feed at ``live`` for ever)."""
        assert self._source is not None
        with self._cond:
            while True:
                if self._stop.is_set():
                    return "stopped", None
                if session.outcome is not None:
                    return session.outcome, session.message
                since = session.last_frame_at or session.started_at
                if not self._source.live and session.next_due is not None:
                    since = max(since, session.next_due)
                timeout = since + self._stall_timeout - self._clock.monotonic()
                if timeout <= 0:
                    return "stalled", f"no frame for {self._stall_timeout:g} s"
                self._clock.wait(self._cond, timeout)

    def _capture(self, session: _Session) -> None:
        """The reader thread of one session: open, read (paced for files), publish, release."""
        assert self._source is not None
        source = self._source
        reader: FrameReader | None = None
        outcome, message = "failed", None
        try:
            reader = source.open()
            period = 1.0 / reader.fps if reader.fps else 0.0
            due = session.next_due if session.next_due is not None else self._clock.monotonic()
            while not session.cancelled.is_set():
                image = reader.read()
                if image is None:
                    if source.live:
                        message = f"{source.description}: no frame (read failed)"
                    else:
                        outcome = "ended"
                    break
                if period:
                    now = self._clock.monotonic()
                    if due < now - period:  # over a frame late: restart the schedule, no burst
                        due = now
                    if self._clock.wait(session.cancelled, max(0.0, due - now)):
                        break
                    due += period
                    session.next_due = due
                self._publish(session, image)
        except CameraError as exc:
            message = str(exc)
        except Exception as exc:
            log.exception("%s: capture failed", source.description)
            message = f"{source.description}: {type(exc).__name__}: {exc}"
        finally:
            if reader is not None:
                reader.release()
            with self._cond:
                session.outcome, session.message = outcome, message
                self._cond.notify_all()

    def _publish(self, session: _Session, image: np.ndarray) -> None:
        """Make ``image`` the newest frame, unless its session was abandoned."""
        image.flags.writeable = False
        now = self._clock.monotonic()
        with self._cond:
            if session.cancelled.is_set():
                return
            frame_id = self._latest.frame_id + 1 if self._latest else 1
            self._latest = CapturedFrame(frame_id, now, image)
            self._recent.append(now)
            session.frames += 1
            session.last_frame_at = now
            self._set_state(CameraState.LIVE, None)


def open_source(
    spec: str | None,
    *,
    fps: float,
    loop: bool,
    stall_timeout_s: float = 10.0,
    backoff_initial_s: float = 0.5,
    backoff_max_s: float = 30.0,
    clock: Clock = SYSTEM_CLOCK,
) -> CameraFeed:
    """A feed (not yet started) for a camera spec; see :func:`source_from_spec` and
    :class:`CameraFeed`. ``None`` gives a feed in state ``none``.

    Raises :class:`CameraError` for a path that does not exist or is not a video or image folder.
    """
    source = source_from_spec(spec, fps=fps, timeout_s=stall_timeout_s)
    return CameraFeed(
        source,
        loop=loop,
        stall_timeout_s=stall_timeout_s,
        backoff_initial_s=backoff_initial_s,
        backoff_max_s=backoff_max_s,
        clock=clock,
    )
