"""The audit anchor: the signed chain head kept outside the database, so that a rollback shows.

With an audit key nobody without it can forge a chain, but someone who can replace the database
can put back an older copy, or delete the newest rows and restore an older signed head: both
are valid signed chains. Keeping the head elsewhere as it moves closes that:
``gatekeeper audit verify --anchor FILE`` compares the database with the heads kept in FILE
(``gatekeeper.store.audit``: rolled back, diverged). The config's optional ``[audit_anchor]``
table publishes the head (the ``[[actions]]`` names are the site's own)::

    [audit_anchor]
    file = "/var/lib/gatekeeper-anchor/heads.jsonl"   # absolute, outside the data folder
    command = ["/usr/local/bin/keep-head"]            # run like a command action
    actions = ["guard"]                               # site actions (webhook, mqtt) by name
    every_attempts = 100      # publish after this many attempts (default 100, 1–1,000,000)
    every_min = 10            # ... and every this many minutes, when the head moved at any
                              # door (default 10, 0.1–1,440); every admin event publishes at once
    timeout_s = 5             # the command's time limit (default 5 s)

At least one of ``file``, ``command``, ``actions`` is needed. What is published is one *head
record*: the compact JSON object ``{"seq":…,"hash":"…","time":"…","signature":"…"}``
(:meth:`gatekeeper.store.audit.Head.record`, the time that of the newest row), which is also
what ``gatekeeper audit head --json`` prints:

- ``file``: the record and ``"published"`` (when, UTC) as one line appended to the file, opened
  append-only and never through a symbolic link, created 0600, flushed to the disk (``fsync``,
  and the folder's entry when it was created) before it counts as kept. Several processes may
  append to one file: each line is one ``write``.
- ``command`` and ``actions``: a door payload through the door's own action kinds (their
  configuration and ``send``, so deadlines, environment and signing are the door's): an
  alert-shaped event with ``camera`` ``site``, ``rule`` :data:`ANCHOR_RULE` and the record as
  its ``message``. A receiver keeps ``message`` lines; such a line, or the whole payload, is
  one line of an anchor file.

Publishing runs on a thread of its own (:class:`AnchorPublisher`), fed by the store's commit
listener, so a slow endpoint never delays a write: it reads the head the database has at that
moment, so every process's anchor holds the site-wide head, other doors' rows included. With
the key a head whose signature does not match is never published. A failure is logged, and the
next trigger publishes again; nothing about the anchor is written to the audit log (that would
move the head it publishes). When its process stops, a head that moved since it was last
published is published once more.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gatekeeper.door.actions import TIMEOUT_RANGE_S, ActionSpec, Runner
from gatekeeper.door.events import DoorEvent
from gatekeeper.door.registry import parse_actions
from gatekeeper.door.table import Table
from gatekeeper.errors import GatekeeperError, UsageError
from gatekeeper.store.audit import Head, KeptHead

if TYPE_CHECKING:
    from gatekeeper.config import Settings

log = logging.getLogger(__name__)

#: The ``rule`` of the door payload that carries a head record.
ANCHOR_RULE = "audit_anchor"
#: The camera id of that payload (as for alerts about the database).
ANCHOR_CAMERA = "site"
#: Defaults and ranges of the ``[audit_anchor]`` keys (``timeout_s``: the door's range).
DEFAULT_EVERY_ATTEMPTS = 100
EVERY_ATTEMPTS_RANGE = (1, 1_000_000)
DEFAULT_EVERY_MIN = 10.0
EVERY_MIN_RANGE = (0.1, 1440.0)
DEFAULT_COMMAND_TIMEOUT_S = 5.0
#: How long a stopping process waits for its last publication, seconds (as the door waits
#: for its actions).
CLOSE_TIMEOUT_S = 3.0
#: Seconds between two tries of an action that failed just after it was opened (an MQTT
#: client still connecting), within the action's ``timeout_s``.
RETRY_STEP_S = 0.25
#: A SHA-256 or HMAC-SHA256 in lowercase hex.
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AnchorSpec:
    """The ``[audit_anchor]`` table (see the module docstring); ``command`` is a door
    ``command`` action spec built from the table's ``command`` and ``timeout_s``."""

    file: Path | None = None
    command: ActionSpec | None = None
    actions: tuple[str, ...] = ()
    every_attempts: int = DEFAULT_EVERY_ATTEMPTS
    every_min: float = DEFAULT_EVERY_MIN

    def describe(self) -> str:
        """Where the head goes and when, for ``doctor`` (no secrets)."""
        where = [f"file {self.file}"] if self.file else []
        if self.command is not None:
            where.append(f"command {self.command.target()}")
        where += [f"action {name}" for name in self.actions]
        return (
            f"{', '.join(where)}; on every admin event, every {self.every_attempts} attempts "
            f"and every {self.every_min:g} min when the head moved"
        )

    def check(self, settings: Settings) -> None:
        """Refuse, in one line, a file inside the data folder or the database's folder (the
        anchor must not go wherever the database goes) and action names the config lacks."""
        if self.file is not None:
            resolved = self.file.resolve()
            for folder in _database_folders(settings):
                if resolved.is_relative_to(folder):
                    raise UsageError(
                        f"[audit_anchor]: file {self.file} is inside {folder}, where the "
                        "database is: keep the anchor where a copy of the database cannot "
                        "replace it (another disk, host or account)"
                    )
        names = {spec.name for spec in settings.actions}
        for name in self.actions:
            if name not in names:
                raise UsageError(f"[audit_anchor]: actions: no [[actions]] entry named {name!r}")

    def problems(self) -> list[str]:
        """What stands in the way that can be seen without publishing (``doctor``)."""
        found = []
        if self.file is not None:
            folder = self.file.parent
            if not folder.is_dir():
                found.append(f"{folder}: no such folder")
            elif not os.access(folder, os.W_OK | os.X_OK):
                found.append(f"{folder}: not writable")
            elif self.file.is_symlink() or (self.file.exists() and not self.file.is_file()):
                found.append(f"{self.file}: not a regular file")
        if self.command is not None and (problem := self.command.problem()):
            found.append(problem)
        return found


def _database_folders(settings: Settings) -> list[Path]:
    """The data folder and, for a SQLite database elsewhere, that file's folder."""
    from gatekeeper.store.backends import parse_database

    folders = [settings.data_dir.resolve()]
    path = getattr(parse_database(settings.database), "path", None)
    if path is not None:
        folders.append(Path(path).absolute().parent.resolve())
    return folders


def parse_anchor(key: str, value: Any) -> AnchorSpec:
    """The ``[audit_anchor]`` table as a spec; a one-line ``UsageError`` naming the key."""
    if isinstance(value, list):
        raise UsageError(f"{key} must be one table ([{key}]), not an array of tables")
    table = Table(key, 1, value)
    table.where = f"[{key}]"
    file = table.text("file")
    if file is not None and not Path(file).is_absolute():
        raise table.error(f"file must be an absolute path, got {file!r}")
    argv = table.texts("command", required=False)
    timeout_s = table.number(
        "timeout_s", DEFAULT_COMMAND_TIMEOUT_S, low=TIMEOUT_RANGE_S[0], high=TIMEOUT_RANGE_S[1]
    )
    actions = table.texts("actions", required=False) or ()
    spec = AnchorSpec(
        file=None if file is None else Path(file),
        command=None if argv is None else _command_spec(argv, timeout_s),
        actions=actions,
        every_attempts=table.whole(
            "every_attempts",
            DEFAULT_EVERY_ATTEMPTS,
            low=EVERY_ATTEMPTS_RANGE[0],
            high=EVERY_ATTEMPTS_RANGE[1],
        ),
        every_min=table.number(
            "every_min", DEFAULT_EVERY_MIN, low=EVERY_MIN_RANGE[0], high=EVERY_MIN_RANGE[1]
        ),
    )
    table.done()
    if spec.file is None and spec.command is None and not spec.actions:
        raise table.error("needs at least one of file, command, actions")
    return spec


def _command_spec(argv: tuple[str, ...], timeout_s: float) -> ActionSpec:
    """The anchor's command as a door ``command`` action, built through the door's own config
    reader (its documented keys)."""
    entry = {
        "kind": "command",
        "name": ANCHOR_RULE,
        "on": ["alert"],
        "argv": list(argv),
        "timeout_s": timeout_s,
    }
    (spec,) = parse_actions("audit_anchor.command", [entry])
    return spec


# Keeping a head: the file, and the door's actions.


def head_line(head: Head, published: datetime) -> bytes:
    """One anchor-file line: the head record and when it was published, compact JSON."""
    record = head.record() | {"published": published.isoformat(timespec="microseconds")}
    return (json.dumps(record, separators=(",", ":")) + "\n").encode("ascii")


def append_line(path: Path, line: bytes) -> None:
    """Append ``line`` to ``path`` durably: opened append-only, never through a symbolic link
    and never anything but a regular file (a FIFO is refused without waiting for a reader),
    created 0600; one ``write``, then ``fsync`` (and the folder's, when the file was new).
    Raises ``OSError``."""
    created = not os.path.lexists(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def head_event(head: Head, published: datetime) -> DoorEvent:
    """The door payload carrying ``head``: an alert-shaped event of :data:`ANCHOR_RULE` whose
    ``message`` is the head record."""
    return DoorEvent(
        decision="alert",
        camera=ANCHOR_CAMERA,
        time=published,
        rule=ANCHOR_RULE,
        message=json.dumps(head.record(), separators=(",", ":")),
    )


class HeadSource(Protocol):
    """What the publisher reads the head through: the store (``gatekeeper.store.Store``)."""

    def chain_head(self) -> Head: ...

    def head_problem(self, head: Head) -> str | None: ...

    def close(self) -> None: ...


@dataclass
class _Action:
    """A door action the anchor sends through, its runner opened on the publisher's thread."""

    spec: ActionSpec
    runner: Runner | None = None
    opened: float = 0.0


@dataclass
class _Due:
    """What the store's commits asked for since the last publication."""

    moved: bool = False
    attempts: int = 0
    now: bool = False
    stopping: bool = False


class AnchorPublisher:
    """Publishes the chain head of ``source`` as ``spec`` says, on a thread of its own: at
    once after a commit that chained an admin event or brought the attempts since the last
    publication to ``every_attempts``, every ``every_min`` minutes (when the head moved, here
    or at another door), and when closed if this process moved it since. ``actions`` are the
    config's door actions (those named by ``spec`` are used). Call :meth:`start`, feed
    :meth:`committed` (the store's commit listener) and :meth:`close`. ``clock`` is monotonic
    seconds, ``now`` the UTC time."""

    def __init__(
        self,
        spec: AnchorSpec,
        source: HeadSource,
        actions: Sequence[ActionSpec] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.spec = spec
        self._source = source
        by_name = {action.name: action for action in actions}
        chosen = [spec.command] if spec.command is not None else []
        chosen += [by_name[name] for name in spec.actions]
        self._actions = [_Action(action) for action in chosen]
        self._clock = clock
        self._now = now
        self._due = _Due()
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._last: tuple[int, str] | None = None
        self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)
        #: How many heads were published everywhere, and how many tries failed somewhere.
        self.published = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def committed(self, attempts: int, admin_events: int) -> None:
        """The store committed rows (its commit listener): returns at once."""
        with self._condition:
            due = self._due
            due.moved = True
            due.attempts += attempts
            if admin_events or due.attempts >= self.spec.every_attempts:
                due.now = True
                self._condition.notify()

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Publish a head that moved since its last publication, then stop (waiting at most
        ``timeout`` seconds, then giving up with a warning)."""
        with self._condition:
            self._due.stopping = True
            self._condition.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            log.warning("the audit anchor was not published within %g s; stopped waiting", timeout)

    def _run(self) -> None:
        try:
            for action in self._actions:
                self._open(action)
            while self._wait():
                self._publish()
        finally:
            for action in self._actions:
                if action.runner is not None:
                    with contextlib.suppress(Exception):
                        action.runner.close()
            self._source.close()

    def _wait(self) -> bool:
        """Wait until a publication is due (a commit asked for one, or ``every_min`` minutes
        passed: the head may have moved at another door); False once stopping with nothing
        left to publish."""
        deadline = self._clock() + self.spec.every_min * 60
        with self._condition:
            while True:
                due = self._due
                if due.now or (due.stopping and due.moved):
                    self._due = _Due(stopping=due.stopping)
                    return True
                if due.stopping:
                    return False
                left = deadline - self._clock()
                if left <= 0:
                    self._due = _Due()
                    return True
                self._condition.wait(left)

    def _open(self, action: _Action) -> None:
        try:
            action.runner = action.spec.open()
            action.opened = self._clock()
        except Exception as exc:
            log.warning("audit anchor: cannot open action %s: %s", action.spec.name, exc)

    def _publish(self) -> None:
        """Read the head and keep it everywhere the spec says; failures are logged."""
        try:
            head = self._source.chain_head()
        except GatekeeperError as exc:
            self._failed(f"cannot read the chain head: {exc}")
            return
        problem = self._source.head_problem(head)
        if problem is not None:
            self._failed(f"not publishing the chain head at seq {head.seq}: {problem}")
            return
        if self._last == (head.seq, head.hash):
            return
        published = self._now()
        ok = True
        if self.spec.file is not None:
            try:
                append_line(self.spec.file, head_line(head, published))
            except OSError as exc:
                ok = self._failed(f"cannot append to {self.spec.file}: {exc.strerror or exc}")
        for action in self._actions:
            ok = self._send(action, head_event(head, published)) and ok
        if ok:
            self.published += 1
            self._last = (head.seq, head.hash)

    def _send(self, action: _Action, event: DoorEvent) -> bool:
        """Send ``event`` through one action; a runner opened less than its ``timeout_s`` ago
        is tried again until then (an MQTT client may still be connecting)."""
        if action.runner is None:
            self._open(action)
            if action.runner is None:
                return self._failed(f"action {action.spec.name} is not open")
        while True:
            result = action.runner.send(event, self._stop)
            if result.ok:
                return True
            young = self._clock() - action.opened < action.spec.timeout_s
            if not young or self._stop.wait(RETRY_STEP_S):
                return self._failed(f"action {action.spec.name}: {result.reason}")

    def _failed(self, why: str) -> bool:
        self.failures += 1
        log.warning("audit anchor: %s", why)
        return False


def start_publisher(settings: Settings, store: Any) -> AnchorPublisher | None:
    """The anchor of ``settings`` publishing ``store``'s head, started and listening to its
    commits; None when the config has none. The publisher reads the head through a store of
    its own (its thread's connection), closed when it stops."""
    spec = settings.audit_anchor
    if spec is None:
        return None
    publisher = AnchorPublisher(spec, store, settings.actions)
    store.on_commit(publisher.committed)
    publisher.start()
    return publisher


# Reading kept heads back (``audit verify --anchor``).


def read_kept_heads(path: Path) -> list[KeptHead]:
    """The heads kept in an anchor file: one JSON object a line, each a head record (an
    anchor file's line, ``audit head --json``) or a door payload of :data:`ANCHOR_RULE`
    carrying one; blank lines are skipped. ``UsageError`` in one line for a file that is
    missing, not a regular file, empty of heads, or with a line that is none of these."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"--anchor {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"--anchor {path}: {exc.strerror or exc}") from None
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise UsageError(f"--anchor {path}: not a regular file")
        lines = file.read().split(b"\n")
    heads = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            heads.append(_kept_head(line, f"{path} line {number}"))
    if not heads:
        raise UsageError(f"--anchor {path}: no kept heads in it")
    return heads


def _kept_head(line: bytes, where: str) -> KeptHead:
    try:
        record = json.loads(line)
        if isinstance(record, dict) and record.get("rule") == ANCHOR_RULE:
            record = json.loads(record.get("message") or "")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(f"{where}: not a kept head (not JSON)") from None
    if not isinstance(record, dict):
        raise UsageError(f"{where}: not a kept head (not a JSON object)")
    seq, head_hash, signature = record.get("seq"), record.get("hash"), record.get("signature")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise UsageError(f"{where}: not a kept head (seq must be a whole number >= 0)")
    if not isinstance(head_hash, str) or not _HEX64.fullmatch(head_hash):
        raise UsageError(f"{where}: not a kept head (hash must be 64 lowercase hex digits)")
    if signature is not None and (
        not isinstance(signature, str) or not _HEX64.fullmatch(signature)
    ):
        raise UsageError(f"{where}: not a kept head (signature must be 64 hex digits or null)")
    return KeptHead(seq, head_hash, signature, where)


__all__ = [
    "ANCHOR_RULE",
    "AnchorPublisher",
    "AnchorSpec",
    "append_line",
    "head_event",
    "head_line",
    "parse_anchor",
    "read_kept_heads",
    "start_publisher",
]
