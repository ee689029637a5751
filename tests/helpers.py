"""Helpers shared by the test folders: who is in the shared photos (``../shared/data``, checked
by eye where its README errs), waiting for a condition, a clock the test moves, and stand-in
programs, ``python -m gatekeeper`` in a subprocess, a small file system to fill, images the
whole-image fallback must refuse or take, plain driver access to a database of either backend,
and visitor crops kept as the console keeps them."""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psycopg
import pytest

from gatekeeper.decision import DEFAULT_THRESHOLD, SHIPPED_TIERS, DecisionRule
from gatekeeper.store.backends import mask_url

#: The encoders of the shipped rule: enrolment stores one encoding per photo for each.
ENCODERS = DecisionRule(DEFAULT_THRESHOLD, SHIPPED_TIERS).models

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


@dataclass(frozen=True)
class Result:
    """What a command did: its exit status and its two output streams."""

    code: int
    out: str
    err: str


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a ``gatekeeper`` subprocess: quiet TensorFlow, UTF-8 output."""
    env = dict(os.environ)
    env.pop("GATEKEEPER_HOME", None)
    env.update(PYTHONIOENCODING="utf-8", TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


def run_process(*argv: str | Path, timeout: float = 120, **env: str) -> Result:
    """``python -m gatekeeper ARGV`` in a subprocess."""
    completed = subprocess.run(
        [sys.executable, "-m", "gatekeeper", *map(str, argv)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env=subprocess_env(**env),
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``, as CI services and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def require_shared_data(folder: Path) -> Path:
    """``folder`` (the shared photos and video); where it is absent, skip the test saying why —
    or, in CI, fail it: a CI run must never go green with the tests that need it unexecuted."""
    if not folder.is_dir():
        message = f"shared test data not found at {folder}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: every test must run)", pytrace=False)
        pytest.skip(message)
    return folder


#: Tests of real speech need the espeak-ng library (pyttsx3's engine on Linux).
needs_espeak = pytest.mark.skipif(
    (ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak")) is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


def fake_program(folder: Path, name: str, *, exit_code: int = 0, stderr: str = "") -> Path:
    """An executable ``folder/name`` that writes ``stderr`` to its standard error and exits
    with ``exit_code``: put ``folder`` alone on ``PATH`` to decide what a program does."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    program.write_text(f"#!/bin/sh\nprintf '%s' '{stderr}' >&2\nexit {exit_code}\n")
    program.chmod(0o755)
    return program


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
                if isinstance(waitable, threading.Condition):
                    # A notify can be lost to a timed-out Condition.wait (CPython: the waiter
                    # is released after its timeout, before it is taken off the list). Wake
                    # up instead of waiting on: the caller checks its predicate again.
                    return True
            return True
        finally:
            with self._lock:
                self._waiting.remove(deadline)


@contextlib.contextmanager
def small_filesystem(folder: Path, size_kb: int) -> Iterator[Path]:
    """A tmpfs of ``size_kb`` KiB mounted at ``folder`` (needs root), unmounted afterwards."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system holding ``folder``, then free ``leave`` bytes of it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)


def crop_detection_misses(rgb: np.ndarray, engine) -> np.ndarray:
    """The face of ``rgb`` cut a third inside its box on every side, as a 96×96 crop: a face
    that fills the frame so tightly that the detector, even padded, finds nothing."""
    x, y, w, h = engine.detector.detect(rgb)[0].box
    dx, dy = round(w / 3), round(h / 3)
    crop = rgb[max(0, y + dy) : y + h - dy, max(0, x + dx) : x + w - dx]
    return cv2.resize(crop, (96, 96), interpolation=cv2.INTER_AREA)


def non_faces() -> dict[str, np.ndarray]:
    """Crop-sized images with no face: what the whole-image fallback must refuse."""
    text = np.full((96, 96, 3), 255, np.uint8)
    cv2.putText(text, "Hello", (4, 55), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    return {
        "tiny": np.full((10, 10, 3), 128, np.uint8),
        "grey": np.full((96, 96, 3), 128, np.uint8),
        "black": np.zeros((96, 96, 3), np.uint8),
        "noise": np.random.default_rng(7).integers(0, 256, (96, 96, 3), dtype=np.uint8),
        "text": text,
    }


def sqlite_dump(database: Path) -> dict[str, list[tuple]]:
    """Every row of every table of a SQLite file, sorted, read through a read-only connection
    (``mode=ro``: reading changes nothing, not even the file's neighbours)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in tables
        }
    finally:
        connection.close()


def sqlite_backup(database: Path, target: Path) -> None:
    """Copy the SQLite file ``database`` as it is now to ``target`` (SQLite's online backup:
    a consistent copy even with its WAL beside it), as an operator keeps an older copy."""
    with sqlite3.connect(database) as live, sqlite3.connect(target) as copy:
        live.backup(copy)


@dataclass(frozen=True)
class DatabaseUnderTest:
    """A fresh database of one backend for one test: ``url`` is what ``--db`` takes, ``path``
    the SQLite file (None on PostgreSQL; the file does not exist yet)."""

    backend: str
    url: str
    path: Path | None = None

    @property
    def shown(self) -> str:
        """How Gatekeeper names the database in messages: the path, or the URL with its
        password masked."""
        return str(self.path) if self.path is not None else mask_url(self.url)

    @contextlib.contextmanager
    def raw(self) -> Iterator[RawConnection]:
        """A plain driver connection, as a tamperer would use; commits on leaving the block."""
        if self.path is not None:
            connection = sqlite3.connect(self.path)
        else:
            connection = psycopg.connect(self.url)
        try:
            with connection:
                yield RawConnection(connection, "%s" if self.path is None else "?")
        finally:
            connection.close()

    def tables(self) -> list[str]:
        """The names of the database's tables, sorted."""
        with self.raw() as connection:
            if self.path is not None:
                query = "SELECT name FROM sqlite_master WHERE type = 'table'"
            else:
                query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            return sorted(row[0] for row in connection.execute(query).fetchall())

    def dump(self) -> dict[str, list[tuple]]:
        """Every row of every table, sorted: equal dumps mean an unchanged database."""
        if self.path is not None:
            return sqlite_dump(self.path)
        tables = self.tables()
        with self.raw() as connection:
            return {
                table: sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
                for table in tables
            }

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Another connection holds, for the block, the lock every writer takes first (SQLite's
        exclusive lock; PostgreSQL's lock on the chain head row)."""
        if self.path is not None:
            connection = sqlite3.connect(self.path, isolation_level=None)
            connection.execute("BEGIN EXCLUSIVE")
        else:
            connection = psycopg.connect(self.url)
            connection.execute("SELECT id FROM chain_head WHERE id = 1 FOR UPDATE")
        try:
            yield
        finally:
            connection.rollback() if self.path is None else connection.execute("ROLLBACK")
            connection.close()


@dataclass(frozen=True)
class RawConnection:
    """``execute(sql, params)`` with ``?`` placeholders on either driver."""

    connection: Any
    marker: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(sql.replace("?", self.marker), tuple(params))


def keep_visitor(
    store,
    rgb: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    decision: str = "unknown",
    kept=None,
    camera_id: str = "front-door",
) -> int:
    """Record an attempt of ``decision`` whose face ``box`` is in the frame ``rgb``, at ``kept``
    (a UTC datetime; default now), and keep its face crop as the console does; the visitor id.
    """
    from datetime import UTC, datetime

    from gatekeeper.visitors import face_crop

    kept = datetime.now(UTC) if kept is None else kept
    crop = face_crop(rgb, box)
    attempt_id = store.record_attempt(
        camera_id=camera_id,
        name=None if decision == "unknown" else "someone",
        person_id=None,
        distance=0.83,
        threshold=0.6,
        decision=decision,
        model_id="dlib_resnet_v1",
        box=box,
        time=kept,
    )
    return store.keep_visitor(attempt_id, crop.jpeg, crop.width, crop.height, kept=kept)


def rehash_chain(connection: RawConnection) -> None:
    """What a tamperer without the audit key can do after editing rows: recompute every row
    hash and link in ``seq`` order and the head's hash, leaving its signature as it was."""
    from gatekeeper.store.audit import CHAINED_COLUMNS, GENESIS_HASH, row_hash

    rows = []
    for table, columns in CHAINED_COLUMNS.items():
        names = ", ".join(columns)
        for row_id, seq, *values in connection.execute(f"SELECT id, seq, {names} FROM {table}"):
            rows.append((seq, table, row_id, values))
    prev = GENESIS_HASH
    for seq, table, row_id, values in sorted(rows, key=lambda row: row[0]):
        digest = row_hash(table, seq, prev, values)
        connection.execute(
            f"UPDATE {table} SET prev_hash = ?, row_hash = ? WHERE id = ?", (prev, digest, row_id)
        )
        prev = digest
    connection.execute("UPDATE chain_head SET hash = ? WHERE id = 1", (prev,))


def person_embedding(seed: int) -> np.ndarray:
    """A dlib-like embedding (norm about 1.4) of one made-up person."""
    vector = np.random.default_rng(seed).normal(size=128)
    return (vector / np.linalg.norm(vector) * 1.4).astype(np.float32)
