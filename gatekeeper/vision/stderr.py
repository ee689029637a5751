"""Silence native libraries that write straight to file descriptor 2.

TensorFlow (while importing) and libpng/libjpeg (on damaged files) print to fd 2 from C code,
bypassing Python's ``sys.stderr``. In a terminal UI those bytes land on the screen; on the
command line they add noise before Gatekeeper's own one-line error. :func:`quiet_stderr_fd`
points fd 2 at ``/dev/null`` for a block of code. Nested and concurrent uses are safe: the first
entry saves the real fd 2 and the last exit restores it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None


@contextlib.contextmanager
def quiet_stderr_fd() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (C-level writes included)."""
    global _depth, _saved_fd
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _saved_fd = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None:
                sys.stderr.flush()
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _saved_fd = None
