"""Standard output guarded against write errors, notes on stderr, progress, confirmation."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from gatekeeper.errors import GatekeeperError

PROG = "gatekeeper"


def note(message: str) -> None:
    """A line of information on stderr (stdout stays for results)."""
    print(message, file=sys.stderr)


class OutputError(GatekeeperError):
    """Standard output cannot be written (a full disk, ``/dev/full``, an I/O error)."""


class GuardedOutput:
    """Standard output (its text stream, or its ``buffer``) whose write errors become an
    :class:`OutputError` with one line naming the cause; a closed pipe stays a
    ``BrokenPipeError``, on which :func:`gatekeeper.cli.main` ends quietly. Closing it leaves
    standard output open (a text wrapper put around the ``buffer`` may be dropped without
    detaching it)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        with self._errors():
            return self._stream.write(data)

    def flush(self) -> None:
        with self._errors():
            self._stream.flush()

    def close(self) -> None:
        self.flush()

    @property
    def buffer(self) -> GuardedOutput:
        return GuardedOutput(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    @staticmethod
    @contextlib.contextmanager
    def _errors() -> Any:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None


def silence_stdout() -> None:
    """Point file descriptor 1 at ``/dev/null`` (when it is one), so that what is still
    buffered for a closed pipe or a full device is dropped at exit instead of failing again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class ProgressBar:
    """``progress(done, total, label)`` drawn as one rewritten line on stderr, only when stderr
    is a terminal (never in pipes, logs or tests)."""

    WIDTH = 30

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled or total <= 0:
            return
        filled = self.WIDTH * done // total
        columns = shutil.get_terminal_size().columns
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} {Path(label).name}"
        self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def confirm(question: str) -> bool:
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")
