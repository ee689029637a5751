"""Containing what a ``command`` action starts: every process of one run — the program, its
children, a daemon it left behind in a session of its own — is found and killed when the run
ends, so nothing a relay script starts outlives its ``timeout_s``.

Two ways, both used where they can be:

- **cgroup v2**, where the console may create cgroups (root, or a systemd unit with
  ``Delegate=yes``; kernel ≥ 5.14 for ``cgroup.kill``): each run gets a cgroup of its own
  under ``gatekeeper-door/`` beside the console's, entered before the program starts (a
  ``/bin/sh`` shim writes its own pid to ``cgroup.procs``, then ``exec``\\ s the program), so no
  process of the run can leave it; ``cgroup.kill`` kills them all at once. :func:`containment`
  probes this once per process.
- **A scan of /proc**, always: every process in the program's session or process group, or
  whose environment holds the run's :data:`RUN_VARIABLE` (inherited by everything the program
  starts, whatever session it moves to), is killed, round after round until a round finds no
  new one. A process that both left the session and cleared its environment (``setsid``
  with ``env -i``) escapes the scan; only a cgroup holds it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: The variable every process of a run inherits: the run's id (``<console pid>-<n>-<random>``).
RUN_VARIABLE = "GATEKEEPER_RUN"
#: The folder of the runs' cgroups, beside the console's own cgroup.
CGROUP_FOLDER = "gatekeeper-door"
#: The shim that enters the cgroup (``$0``: its ``cgroup.procs``) and becomes the program. A
#: failed write is not fatal: the scan still finds what the program starts.
SHIM = '{ echo $$ >"$0"; } 2>/dev/null; exec "$@"'
SHELL = "/bin/sh"
#: Most rounds of the scan (each kills what the previous missed: children forked meanwhile).
SCAN_ROUNDS = 20
#: Seconds to wait for a killed run's cgroup to empty before leaving it behind.
EMPTY_WAIT_S = 5.0

_runs = itertools.count(1)


@dataclass(frozen=True)
class Containment:
    """How runs are contained here: ``cgroups`` the folder of their cgroups (``None``: the
    scan alone) and ``note``, what ``doctor`` says about it."""

    cgroups: Path | None
    note: str

    def start(self) -> Run:
        """A new run (its cgroup created, when there are cgroups)."""
        return Run(self.cgroups)


class Run:
    """One run of a command: its id, its cgroup (or ``None``), the argv that enters it."""

    def __init__(self, cgroups: Path | None) -> None:
        self.id = f"{os.getpid()}-{next(_runs)}-{secrets.token_hex(4)}"
        self.cgroup: Path | None = None
        if cgroups is not None:
            path = cgroups / self.id
            with contextlib.suppress(OSError):  # e.g. the folder removed meanwhile: the scan
                path.mkdir()
                self.cgroup = path

    def argv(self, argv: tuple[str, ...]) -> list[str]:
        """``argv`` as started: through the shim that enters the cgroup, when there is one."""
        if self.cgroup is None:
            return list(argv)
        return [SHELL, "-c", SHIM, str(self.cgroup / "cgroup.procs"), *argv]

    def environment(self) -> dict[str, str]:
        return {RUN_VARIABLE: self.id}

    def kill(self, leader: int) -> int:
        """Kill every process of the run; ``leader`` is the program's pid, not yet reaped (so
        it cannot have been reused). How many processes the scan found."""
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                (self.cgroup / "cgroup.kill").write_text("1")
        marker = f"{RUN_VARIABLE}={self.id}".encode()
        killed: set[int] = set()
        for _ in range(SCAN_ROUNDS):
            found = set(_members(leader, marker)) - killed
            if not found:
                break
            for pid in found:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed |= found
        return len(killed)

    def close(self) -> None:
        """Remove the run's cgroup once its processes are gone (call after reaping the
        program)."""
        if self.cgroup is None:
            return
        deadline = time.monotonic() + EMPTY_WAIT_S
        while time.monotonic() < deadline:
            try:
                self.cgroup.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # busy: a killed process is still exiting
                time.sleep(0.005)


def _members(leader: int, marker: bytes) -> list[int]:
    """Living processes in ``leader``'s session or process group, or whose environment holds
    ``marker`` (those this user may read). Only processes started since ``leader`` are looked
    at: none older can be of its run."""
    try:
        born = int(_stat(leader)[STARTTIME])
    except (OSError, IndexError):  # cannot happen while it is unreaped; then look at all
        born = 0
    own = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == own:
            continue
        try:
            fields = _stat(int(name))
            if fields[STATE] in (b"Z", b"X") or int(fields[STARTTIME]) < born:
                continue
            ours = leader in (int(fields[GROUP]), int(fields[SESSION]))
            if ours or marker in _read(f"/proc/{name}/environ").split(b"\0"):
                found.append(int(name))
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
    return found


#: Fields of ``/proc/<pid>/stat`` after the command name: state, process group, session, and
#: when the process started (clock ticks since boot).
STATE, GROUP, SESSION, STARTTIME = 0, 2, 3, 19


def _stat(pid: int) -> list[bytes]:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces)."""
    return _read(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@functools.cache
def containment() -> Containment:
    """How this process contains its commands' runs: cgroup v2 where a run's cgroup can be
    created, entered and killed here (tried once, with a real process), else the scan."""
    try:
        cgroups = _cgroup_folder()
    except OSError as exc:
        return Containment(None, f"session and /proc scan (no cgroup v2: {exc.strerror or exc})")
    run = Run(cgroups)
    try:
        if run.cgroup is None:
            return Containment(None, f"session and /proc scan (cannot create cgroups in {cgroups})")
        if not (run.cgroup / "cgroup.kill").exists():
            return Containment(None, "session and /proc scan (the kernel has no cgroup.kill)")
        probe = subprocess.run(
            run.argv(("cat", "/proc/self/cgroup")), capture_output=True, text=True, timeout=10
        )
        if f"/{run.id}\n" not in probe.stdout:
            return Containment(None, f"session and /proc scan (cannot enter cgroups in {cgroups})")
    finally:
        run.close()
    return Containment(cgroups, f"cgroup v2 ({cgroups}) and /proc scan")


def _cgroup_folder() -> Path:
    """``gatekeeper-door/`` in this process's cgroup v2 (created); ``OSError`` if none."""
    mount = root = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
            root, mount = fields[0].split()[3:5]
            break
    cgroups = Path("/proc/self/cgroup").read_text().splitlines()
    own = next((line[3:] for line in cgroups if line.startswith("0::")), None)
    if mount is None or root is None or own is None:
        raise FileNotFoundError(2, "no cgroup2 file system mounted")
    relative = os.path.relpath(own, root)  # the cgroup seen from the mount's root
    if relative.startswith(".."):
        raise FileNotFoundError(2, "this process's cgroup is outside the mounted cgroup2")
    folder = Path(mount, relative if relative != "." else "", CGROUP_FOLDER)
    folder.mkdir(exist_ok=True)
    return folder
