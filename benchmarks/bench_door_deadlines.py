"""Door actions under slow and unruly endpoints: when does a grant reach the lock, what does a
try cost, and what does a command leave behind?

Figures printed (no timed asserts), each from real endpoints on 127.0.0.1 and real programs:

1. **The drip case** (issue 19): a webhook action fires on ``unknown`` and ``granted``; its
   endpoint answers an ``unknown`` one byte every ``--drip-s`` seconds (each read well within
   ``timeout_s``), a grant at once. An unknown is fired, the grant ``--gap-s`` later: how long
   the unknown's try lasted and what it was recorded as, and when the grant reached the lock.
2. **A lock that drips everything**: the grant too. When its outcome is recorded, what it says,
   and how many tries the lock saw.
3. **A healthy lock**: ``--grants`` grants one after the other; fire → received at the
   endpoint, median and 95th percentile (what the per-try deadline costs).
4. **Commands that leave processes behind**: a relay script that starts a daemon
   (``setsid -f``, its streams closed), one whose daemon also clears its environment
   (``env -i``), and a fork of 20 background children, each under the containment this host
   allows and under the /proc scan alone; how many of their processes outlive the run, how
   long the run took, and what a run of ``true`` costs as an action against the same program
   run plainly in a session of its own (``subprocess.run``, in turn with it).
5. **A command that floods its standard error** (``--flood-mb`` MB): the peak resident memory
   of a process running it.

Runs on any version of the door (only the keys every version has are used), so the figures
before and after a change come from the same script.

    .venv/bin/python benchmarks/bench_door_deadlines.py [--drip-s 0.4] [--answer-bytes 280]
        [--sections 12345] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gatekeeper.door import ActionOutcome, Dispatcher, DoorEvent
from gatekeeper.door.command import CommandSpec
from gatekeeper.door.webhook import WebhookSpec

BOTH = ("granted", "unknown")


class Lock:
    """An HTTP endpoint on 127.0.0.1: for the decisions in ``slow`` it drips an ``answer_bytes``
    answer (200) one byte every ``drip_s`` seconds; otherwise it answers 200 at once. Records
    when each request arrived (monotonic seconds) with its decision."""

    def __init__(self, drip_s: float, answer_bytes: int, slow: tuple[str, ...]) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: "
        tail = b"\r\n\r\nok"
        answer = head + b"." * max(0, answer_bytes - len(head) - len(tail)) + tail
        self.answer_bytes = len(answer)
        self.arrived: list[tuple[float, str]] = []
        closed = self.closed = threading.Event()
        arrived = self.arrived

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                decision = json.loads(body)["decision"]
                arrived.append((time.monotonic(), decision))
                self.close_connection = True
                try:
                    if decision not in slow:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        return
                    for byte in answer:
                        self.wfile.write(bytes([byte]))
                        if closed.wait(drip_s):
                            return
                except OSError:  # the client gave up
                    return

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/door"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self._server.shutdown()
        self._server.server_close()


def event(decision: str, attempt_id: int) -> DoorEvent:
    return DoorEvent(decision, "bench", datetime.now(UTC), name="lin", attempt_id=attempt_id)


def webhook(url: str, **options) -> WebhookSpec:
    values = {"name": "lock", "on": BOTH, "cameras": None, "timeout_s": 2.0, "retries": 2}
    return WebhookSpec(url=url, **(values | options))


class Outcomes:
    """Outcomes as they come, with the monotonic time each was recorded."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, ActionOutcome]] = []

    def __call__(self, outcome: ActionOutcome) -> None:
        self.seen.append((time.monotonic(), outcome))

    def of(self, attempt_id: int) -> tuple[float, ActionOutcome] | None:
        return next(((t, o) for t, o in self.seen if o.event.attempt_id == attempt_id), None)

    def wait(self, attempt_id: int, timeout: float) -> tuple[float, ActionOutcome] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.of(attempt_id) is None:
            time.sleep(0.01)
        return self.of(attempt_id)


def describe(outcome: ActionOutcome | None) -> str:
    if outcome is None:
        return "no outcome yet"
    return "ok" if outcome.ok else f"failed ({outcome.reason}; {outcome.attempts} tries)"


def drip_case(args: argparse.Namespace) -> None:
    lock = Lock(args.drip_s, args.answer_bytes, slow=("unknown",))
    outcomes = Outcomes()
    dispatcher = Dispatcher([webhook(lock.url)], recorder=None, on_outcome=outcomes)
    dispatcher.start()
    fired = time.monotonic()
    dispatcher.fire(event("unknown", 1))
    time.sleep(args.gap_s)
    granted_at = time.monotonic()
    dispatcher.fire(event("granted", 2))
    limit = args.answer_bytes * args.drip_s * 3 + 30
    grant = outcomes.wait(2, limit)
    unknown = outcomes.wait(1, limit)
    reached = next((t for t, d in lock.arrived if d == "granted"), None)
    dispatcher.close(1.0)
    lock.close()
    print(
        f"1. drip case ({args.drip_s:g} s a byte, {lock.answer_bytes}-byte answer, timeout_s 2, "
        f"grant fired {args.gap_s:g} s after the unknown):"
    )
    if unknown is not None:
        print(f"   the unknown's outcome after {unknown[0] - fired:.1f} s: {describe(unknown[1])}")
    if reached is not None:
        print(f"   the grant reached the lock {reached - granted_at:.3f} s after it was fired")
    else:
        print("   the grant never reached the lock")
    if grant is not None:
        print(f"   the grant's outcome after {grant[0] - granted_at:.3f} s: {describe(grant[1])}")


def dripping_lock(args: argparse.Namespace) -> None:
    lock = Lock(args.drip_s, args.answer_bytes, slow=BOTH)
    outcomes = Outcomes()
    dispatcher = Dispatcher(
        [webhook(lock.url, on=("granted",), backoff_s=0.5)], recorder=None, on_outcome=outcomes
    )
    dispatcher.start()
    fired = time.monotonic()
    dispatcher.fire(event("granted", 1))
    grant = outcomes.wait(1, args.answer_bytes * args.drip_s * 3 + 30)
    dispatcher.close(1.0)
    lock.close()
    print("2. a lock that drips every answer, the grant too (timeout_s 2, retries 2, backoff 0.5):")
    if grant is not None:
        print(f"   the grant's outcome after {grant[0] - fired:.1f} s: {describe(grant[1])}")
    print(f"   tries that reached the lock: {len(lock.arrived)}")


def healthy_lock(args: argparse.Namespace) -> None:
    lock = Lock(args.drip_s, args.answer_bytes, slow=())
    outcomes = Outcomes()
    dispatcher = Dispatcher([webhook(lock.url)], recorder=None, on_outcome=outcomes)
    dispatcher.start()
    latencies = []
    for attempt_id in range(1, args.grants + 1):
        fired = time.monotonic()
        dispatcher.fire(event("granted", attempt_id))
        outcomes.wait(attempt_id, 10)
        latencies.append((lock.arrived[-1][0] - fired) * 1000)
    dispatcher.close(1.0)
    lock.close()
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"3. a healthy lock, {args.grants} grants in turn: fire → received "
        f"median {statistics.median(latencies):.2f} ms, 95th percentile {p95:.2f} ms"
    )


#: Relay scripts that leave processes behind; each writes the pids it started to $1.
LEAVERS = {
    "a daemon (setsid -f, streams closed)": """
        setsid -f sh -c 'echo $$ >> "$0"; exec sleep 300' "$1" </dev/null >/dev/null 2>&1
        """,
    "a daemon that clears its environment (setsid -f env -i)": """
        setsid -f env -i sh -c 'echo $$ >> "$0"; exec sleep 300' "$1" </dev/null >/dev/null 2>&1
        """,
    "20 background children": """
        i=0; while [ $i -lt 20 ]; do sleep 300 & echo $! >> "$1"; i=$((i+1)); done
        """,
}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def mechanisms() -> dict[str, Callable[[CommandSpec], object]]:
    """How a command's runs can be contained here: what ``open()`` chooses, and (in versions
    that have it) the /proc scan alone, as where the console may not create cgroups."""
    found: dict[str, Callable[[CommandSpec], object]] = {"as opened": lambda spec: spec.open()}
    try:
        from gatekeeper.door.command import CommandRunner
        from gatekeeper.door.contain import Containment, containment
    except ImportError:
        return found
    found[f"as opened: {containment().note}"] = found.pop("as opened")
    found["the scan alone"] = lambda spec: CommandRunner(spec, Containment(None, "scan"))
    return found


def leavers(args: argparse.Namespace) -> None:
    print("4. commands that leave processes behind (timeout_s 3; each script then exits 0):")
    with tempfile.TemporaryDirectory() as folder:
        for how, opener in mechanisms().items():
            print(f"   contained {how}:")
            for number, (label, body) in enumerate(LEAVERS.items()):
                script = Path(folder) / f"leaver-{number}.sh"
                pids = Path(folder) / f"pids-{number}"
                pids.unlink(missing_ok=True)
                script.write_text(
                    "#!/bin/sh\n"
                    + textwrap.dedent(body)
                    + 'while [ ! -s "$1" ]; do sleep 0.01; done\nsleep 0.2\nexit 0\n'
                )
                script.chmod(0o755)
                spec = CommandSpec(
                    name="relay",
                    on=("granted",),
                    cameras=None,
                    timeout_s=3.0,
                    argv=(str(script), str(pids)),
                )
                started = time.monotonic()
                result = opener(spec).send(event("granted", 1), threading.Event())
                took = time.monotonic() - started
                time.sleep(0.5)
                started_pids = [int(p) for p in pids.read_text().split()]
                left = [p for p in started_pids if alive(p)]
                for pid in left:  # the benchmark cleans up after a version that leaves them
                    os.kill(pid, 9)
                print(
                    f"     {label}: {len(left)} of {len(started_pids)} outlived the run "
                    f"({'ok' if result.ok else result.reason}; run {took:.2f} s)"
                )
            true = CommandSpec(
                name="t", on=("granted",), cameras=None, timeout_s=5.0, argv=("true",)
            )
            runner, payload = opener(true), event("granted", 1)
            runs: dict[str, list[float]] = {"plain": [], "action": []}
            for _ in range(args.runs):  # in turn, so the machine's load weighs on both alike
                started = time.perf_counter()
                subprocess.run(
                    ["true"],
                    input=payload.payload(),
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
                runs["plain"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                runner.send(payload, threading.Event())
                runs["action"].append((time.perf_counter() - started) * 1000)
            plain, action = (statistics.median(runs[k]) for k in ("plain", "action"))
            print(
                f"     `true`, {args.runs} runs in turn with a plain subprocess.run (in a session "
                f"of its own): median {action:.1f} ms a run as an action, {plain:.1f} ms plainly"
            )


#: Runs a command writing ``MB`` megabytes of NULs to stderr then one line; prints the peak
#: resident memory of this process (MiB) and the recorded reason.
FLOOD = textwrap.dedent(
    """
    import json, resource, sys, threading
    from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from gatekeeper.door.command import CommandSpec
    from gatekeeper.door.events import DoorEvent
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    argv = ("/bin/sh", "-c", "head -c %d /dev/zero >&2; echo >&2; echo jammed >&2; exit 1")
    spec = CommandSpec(name="r", on=("granted",), cameras=None, timeout_s=120.0, argv=argv)
    result = spec.open().send(DoorEvent("granted", "b", datetime.now(UTC)), threading.Event())
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before": before, "after": after, "reason": result.reason}))
    """
)


def flood(args: argparse.Namespace) -> None:
    code = FLOOD % (args.flood_mb * 1_000_000)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    figures = json.loads(out)
    print(
        f"5. a command writing {args.flood_mb} MB to its standard error: peak resident memory "
        f"{figures['before']:.0f} → {figures['after']:.0f} MiB; recorded: {figures['reason']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drip-s", type=float, default=0.4, help="seconds between two bytes")
    parser.add_argument("--answer-bytes", type=int, default=280, help="the dripped answer's size")
    parser.add_argument("--gap-s", type=float, default=1.0, help="unknown → grant, seconds")
    parser.add_argument("--grants", type=int, default=200)
    parser.add_argument("--flood-mb", type=int, default=800)
    parser.add_argument("--runs", type=int, default=50, help="runs of `true` per containment")
    parser.add_argument(
        "--sections", default="12345", help="which of the five to run (default all: 12345)"
    )
    args = parser.parse_args()
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")
    sections = [drip_case, dripping_lock, healthy_lock, leavers, flood]
    for number, section in enumerate(sections, start=1):
        if str(number) in args.sections:
            section(args)
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
