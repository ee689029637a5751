"""The ``command`` action: run a program (an argv list, never through a shell), e.g. a script
that pulses a relay for an electric strike::

    [[actions]]
    kind = "command"
    on = ["granted"]
    argv = ["/usr/local/bin/pulse-relay", "--channel", "1"]
    timeout_s = 5.0

The program gets the event as environment variables (``GATEKEEPER_DECISION``,
``GATEKEEPER_NAME``, ``GATEKEEPER_DISTANCE``, ``GATEKEEPER_THRESHOLD``, ``GATEKEEPER_CAMERA``,
``GATEKEEPER_TIME``, ``GATEKEEPER_ATTEMPT_ID``, ``GATEKEEPER_REASON``, ``GATEKEEPER_RULE``,
``GATEKEEPER_MESSAGE``: :meth:`DoorEvent.environment`) and as the JSON payload on its standard
input. It inherits the console's environment *without* any other ``GATEKEEPER_`` variable (the
audit key among them). It runs in a process group of its own: past ``timeout_s`` seconds the
whole group is killed (SIGKILL), so a hung relay script or a child it left behind cannot pile
up. It succeeded when it exits with status 0; otherwise the last line of its standard error is
the reason recorded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from typing import Any

from gatekeeper.door.actions import ActionSpec, Result, one_line
from gatekeeper.door.events import DoorEvent
from gatekeeper.door.table import Table

#: Standard error kept from a failed command, in bytes (its end).
STDERR_TAIL = 4096


@dataclass(frozen=True)
class CommandSpec(ActionSpec):
    """``argv``: the program and its arguments (the program a path, or a name on ``PATH``)."""

    kind = "command"

    argv: tuple[str, ...] = ()

    def target(self) -> str:
        return " ".join(self.argv)

    def problem(self) -> str | None:
        program = self.argv[0]
        if shutil.which(program) is None:
            return f"{program}: not found, or not an executable file"
        return None

    def open(self) -> CommandRunner:
        return CommandRunner(self)


def parse_command(table: Table, common: dict[str, Any]) -> CommandSpec:
    argv = table.texts("argv", required=True)
    return CommandSpec(**common, argv=argv)


def _environment(event: DoorEvent) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    return inherited | event.environment()


class CommandRunner:
    def __init__(self, spec: CommandSpec) -> None:
        self.spec = spec

    def send(self, event: DoorEvent, stop: threading.Event) -> Result:
        timeout = self.spec.timeout_s
        try:
            process = subprocess.Popen(
                self.spec.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=_environment(event),
                start_new_session=True,
            )
        except OSError as exc:
            return Result(False, f"cannot run {self.spec.argv[0]}: {exc.strerror or exc}")
        try:
            _, stderr = process.communicate(event.payload(), timeout=timeout)
        except subprocess.TimeoutExpired:
            finished = process.poll() is not None  # a child it left holds its stderr open
            _kill_group(process)
            if not finished:
                return Result(False, f"timed out after {timeout:g} s (process group killed)")
            stderr = b""
        if process.returncode == 0:
            return Result(True)
        lines = stderr[-STDERR_TAIL:].decode("utf-8", "replace").strip().splitlines()
        status = (
            f"killed by signal {-process.returncode}"
            if process.returncode < 0
            else f"exit status {process.returncode}"
        )
        return Result(False, status + (f": {one_line(lines[-1])}" if lines else ""))

    def close(self) -> None:
        pass


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the command's whole process group, reap the command and close its pipes."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for pipe in (process.stdin, process.stderr):
        with contextlib.suppress(OSError):
            pipe.close()
