"""Helpers shared by the test folders: who is in the shared photos (``../shared/data``, checked
by eye where its README errs), waiting for a condition, and a clock the test moves."""

import threading
import time

#: Who each tutorial door-camera frame (``seed-images/camera_N.jpg``) shows.
CAMERA_FRAMES = {
    "camera_0": "younes",
    "camera_1": "bertrand",
    "camera_2": "benoit",
    "camera_3": "bertrand",
    "camera_4": "dan",
    "camera_5": "arnaud",
}

#: Single-face probes (``faces/probe/``) and who they are, named as the ``faces/train/`` folders.
PROBES = {
    "alex_lacamoire1.jpg": "alex_lacamoire",
    "alex-lacamoire.png": "alex_lacamoire",
    "johnsnow_test1.jpg": "kit_harington",
    "obama1.jpg": "obama",
    "obama3.jpg": "obama",
    "obama-240p.jpg": "obama",
    "obama-720p.jpg": "obama",
    "obama_partial_face.jpg": "obama",
    "obama_partial_face2.jpg": "obama",
    "32bit.png": "obama",
}


def wait_until(predicate, timeout: float, step: float = 0.01) -> bool:
    """Poll ``predicate`` every ``step`` seconds until it is true or ``timeout`` seconds pass;
    returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class ManualClock:
    """A :class:`gatekeeper.vision.camera.Clock` that stands still until the test moves it.

    A wait on it ends when its event is set (its condition notified) or when :meth:`advance`
    brings the time to its deadline — never because real time passed. :meth:`deadlines` shows
    the deadlines of the waits in progress, so a test can see what a thread is waiting for.
    """

    #: Real seconds between two looks at the clock while a wait is in progress.
    POLL_S = 0.001

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._waiting: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the time ``seconds`` forward."""
        with self._lock:
            self._now += seconds

    def advance_to(self, when: float) -> None:
        """Move the time to ``when`` (never backwards)."""
        with self._lock:
            self._now = max(self._now, when)

    def deadlines(self) -> list[float]:
        """When the waits in progress (those with a timeout) end, soonest first."""
        with self._lock:
            return sorted(self._waiting)

    def wait(self, waitable, timeout):
        if timeout is None:
            return waitable.wait()
        with self._lock:
            deadline = self._now + timeout
            self._waiting.append(deadline)
        try:
            while not waitable.wait(self.POLL_S):
                if self.monotonic() >= deadline:
                    return False
            return True
        finally:
            with self._lock:
                self._waiting.remove(deadline)
