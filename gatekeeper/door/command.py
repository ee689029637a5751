"""The ``command`` action: run a program (an argv list, never through a shell), e.g. a script
that pulses a relay for an electric strike::

    [[actions]]
    kind = "command"
    on = ["granted"]
    argv = ["/usr/local/bin/pulse-relay", "--channel", "1"]
    env = ["RELAY_PORT"]      # optional: variables of the console's environment it also gets
    timeout_s = 5.0

**Its environment** is an allow-list, never the console's whole environment (which may hold
``PGPASSWORD``, the audit key, a cloud token): the variables of :data:`INHERITED` (and those
beginning ``LC_``) from the console's, those ``env`` names, the event as environment
variables (``GATEKEEPER_DECISION``, ``GATEKEEPER_NAME``, ``GATEKEEPER_DISTANCE``,
``GATEKEEPER_THRESHOLD``, ``GATEKEEPER_CAMERA``, ``GATEKEEPER_TIME``, ``GATEKEEPER_ATTEMPT_ID``,
``GATEKEEPER_REASON``, ``GATEKEEPER_RULE``, ``GATEKEEPER_MESSAGE``: :meth:`DoorEvent.environment`)
and ``GATEKEEPER_RUN``, the run's id. ``env`` may not name Gatekeeper's own variables
(``GATEKEEPER_…``: the audit key, the database URL) nor PostgreSQL's (``PG…``: the database
password). The JSON payload comes on its standard input.

**Its processes** are contained (:mod:`~gatekeeper.door.contain`): the run ends once the
program has exited and nothing it started still holds its standard error open, or at
``timeout_s`` seconds, and then every process it started that is still there is killed
(SIGKILL), even one that moved to a session of its own, so a hung relay script or a daemon it
left behind cannot pile up. A background child that keeps standard error open (``(sleep 3;
relay-off) &``) may finish its work within ``timeout_s``.

It succeeded when the program exits with status 0; otherwise the last line of its standard
error is the reason recorded. Only the last :data:`STDERR_TAIL` bytes of it are kept, however
much it writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import selectors
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from gatekeeper.door.actions import ActionSpec, Expiry, Result, one_line
from gatekeeper.door.contain import Containment, containment
from gatekeeper.door.events import DoorEvent
from gatekeeper.door.table import Table

#: Standard error kept from a command, in bytes (its end).
STDERR_TAIL = 4096
#: Variables a command inherits from the console's environment without being named: where
#: programs are, the account's home and temporary folder, the language and time zone of its
#: messages (with every ``LC_`` variable). None holds a secret; each is needed by ordinary
#: scripts (``~``, ``mktemp``, ``date``).
INHERITED = ("PATH", "HOME", "TMPDIR", "LANG", "TZ")
INHERITED_PREFIXES = ("LC_",)
#: Variables ``env`` may not name: Gatekeeper's own (the audit key, the database URL; the
#: event's variables are set by the action) and PostgreSQL's (the database's password).
REFUSED_PREFIXES = ("GATEKEEPER_", "PG")
#: What an environment variable's name may be.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Seconds to wait for a killed program to be reaped before giving up on it.
REAP_WAIT_S = 5.0


@dataclass(frozen=True)
class CommandSpec(ActionSpec):
    """``argv``: the program and its arguments (the program a path, or a name on ``PATH``);
    ``env``: the names of the console's variables it gets beyond :data:`INHERITED`."""

    kind = "command"

    argv: tuple[str, ...] = ()
    env: tuple[str, ...] = ()

    def target(self) -> str:
        return " ".join(self.argv)

    def notes(self) -> list[str]:
        passes = [f"passes {', '.join(self.env)}"] if self.env else []
        return [*passes, f"contained by {containment().note}"]

    def problem(self) -> str | None:
        program = self.argv[0]
        if shutil.which(program) is None:
            return f"{program}: not found, or not an executable file"
        return None

    def open(self) -> CommandRunner:
        return CommandRunner(self, containment())


def parse_command(table: Table, common: dict[str, Any]) -> CommandSpec:
    argv = table.texts("argv", required=True)
    env = table.texts("env", required=False) or ()
    for name in env:
        if not VARIABLE_NAME.fullmatch(name):
            raise table.error(f"env: {name!r} is not a variable name")
        if name.startswith(REFUSED_PREFIXES):
            raise table.error(
                f"env: {name} is never passed to a door program (no GATEKEEPER_ or PG variable: "
                "the audit key and the database's secrets stay in the console)"
            )
    return CommandSpec(**common, argv=argv, env=env)


def environment(spec: CommandSpec, event: DoorEvent) -> dict[str, str]:
    """What the program's environment holds from the console's: :data:`INHERITED`, ``LC_*``
    and the variables ``spec.env`` names (when set), then the event's variables."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if name in INHERITED or name in spec.env or name.startswith(INHERITED_PREFIXES)
    }
    return kept | event.environment()


class CommandRunner:
    """Runs ``spec``'s program for each event, its processes contained by ``contained``."""

    def __init__(self, spec: CommandSpec, contained: Containment) -> None:
        self.spec = spec
        self._containment = contained

    def send(self, event: DoorEvent, stop: threading.Event, expiry: Expiry | None = None) -> Result:
        timeout = self.spec.timeout_s
        env = environment(self.spec, event)
        program = self.spec.argv[0]
        if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
            return Result(False, f"cannot run {program}: not found, or not an executable file")
        run = self._containment.start()
        deadline = time.monotonic() + timeout
        try:
            process = subprocess.Popen(
                run.argv(self.spec.argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env | run.environment(),
                start_new_session=True,
            )
        except OSError as exc:
            run.close()
            return Result(False, f"cannot run {program}: {exc.strerror or exc}")
        try:
            exited, tail = _watch(process, event.payload(), deadline)
        finally:
            run.kill(process.pid)
            _reap(process)
            run.close()
        if not exited:
            return Result(
                False, f"timed out after {timeout:g} s (it and every process it started killed)"
            )
        if process.returncode == 0:
            return Result(True)
        lines = tail.decode("utf-8", "replace").strip().splitlines()
        status = (
            f"killed by signal {-process.returncode}"
            if process.returncode < 0
            else f"exit status {process.returncode}"
        )
        return Result(False, status + (f": {one_line(lines[-1])}" if lines else ""))

    def close(self) -> None:
        pass


def _watch(process: subprocess.Popen, payload: bytes, deadline: float) -> tuple[bool, bytes]:
    """Write ``payload`` to the program's standard input and keep the last
    :data:`STDERR_TAIL` bytes of its standard error, until it has exited and its standard
    error is closed (by it and everything it started) or until ``deadline`` (monotonic
    seconds). Whether it exited (it is not reaped: its pid stays its own), and the tail."""
    assert process.stdin is not None and process.stderr is not None
    exit_fd = os.pidfd_open(process.pid)
    tail = bytearray()
    pending = memoryview(payload)
    exited = closed = False
    with selectors.DefaultSelector() as selector:
        selector.register(exit_fd, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        selector.register(process.stdin, selectors.EVENT_WRITE)
        while not (exited and closed) and (remaining := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                if key.fileobj == exit_fd:
                    exited = True
                    selector.unregister(exit_fd)
                elif key.fileobj is process.stderr:
                    chunk = os.read(process.stderr.fileno(), 65536)
                    if not chunk:
                        closed = True
                        selector.unregister(process.stderr)
                    tail += chunk
                    del tail[:-STDERR_TAIL]
                else:
                    try:  # a writable pipe takes PIPE_BUF bytes without blocking
                        pending = pending[
                            os.write(process.stdin.fileno(), pending[: select.PIPE_BUF]) :
                        ]
                    except BrokenPipeError:  # the program does not read its input
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(process.stdin)
                        process.stdin.close()
    os.close(exit_fd)
    return exited, bytes(tail)


def _reap(process: subprocess.Popen) -> None:
    """Reap the (killed) program and close its pipes."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(REAP_WAIT_S)
    for pipe in (process.stdin, process.stderr):
        with contextlib.suppress(OSError):
            pipe.close()
