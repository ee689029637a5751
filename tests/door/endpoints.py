"""Real endpoints for the door actions, started by the tests: an HTTP server that records what
it receives (or refuses, or hangs), a mosquitto broker on 127.0.0.1 with a paho subscriber, and
a command that writes its environment and standard input to a file."""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import in_ci, wait_until

from gatekeeper.door.webhook import SIGNATURE_HEADER, signature


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


#: The answer a dripping endpoint sends, one byte at a time: 200 with a padded header.
DRIPPED_ANSWER = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"." * 160 + b"\r\nContent-Length: 2\r\n\r\nok"


class HttpEndpoint:
    """An HTTP server on 127.0.0.1 recording every POST. ``statuses`` are answered in turn
    (then 200); with ``hang`` set, each request is held unanswered until :meth:`release`
    (``held`` counts the requests being held); with ``drip_s``, the answer
    (:data:`DRIPPED_ANSWER`, 200) comes one byte every ``drip_s`` seconds, each read of the
    client well within any timeout (``dripping`` counts the answers being dripped). ``slow``
    limits the hang and the drip to requests whose payload's decision is in it (default
    every request)."""

    def __init__(
        self,
        *,
        hang: bool = False,
        statuses: list[int] | None = None,
        drip_s: float | None = None,
        slow: tuple[str, ...] | None = None,
    ) -> None:
        self.received: list[Received] = []
        self.statuses = list(statuses or [])
        self.hang = hang
        self.drip_s = drip_s
        self.slow = slow
        self.released = threading.Event()
        self.held = 0
        self.dripping = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                request = Received(self.path, dict(self.headers), body)
                endpoint.received.append(request)
                slow = endpoint.slow is None or request.json()["decision"] in endpoint.slow
                if endpoint.hang and slow:
                    endpoint.held += 1
                    endpoint.released.wait(60)
                    return
                if endpoint.drip_s is not None and slow:
                    self.drip()
                    return
                status = endpoint.statuses.pop(0) if endpoint.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def drip(self) -> None:
                endpoint.dripping += 1
                try:
                    for byte in DRIPPED_ANSWER:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        if endpoint.released.wait(endpoint.drip_s):
                            return
                except OSError:  # the client gave up and closed the connection
                    pass
                finally:
                    endpoint.dripping -= 1
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/door"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def signed_by(request: Received, secret: str) -> bool:
    """Whether the request carries the right signature of its exact body."""
    return request.headers.get(SIGNATURE_HEADER) == signature(secret, request.body)


MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


class Broker:
    """A mosquitto broker bound to 127.0.0.1 on ``port``, with its own config in ``folder``;
    with ``users`` ({name: password}) only they may connect."""

    def __init__(self, folder: Path, *, users: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.host = "127.0.0.1"
        # as root, mosquitto would become the "mosquitto" user, who cannot read the test's folder
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"user {getpass.getuser()}",
            "persistence false",
            "log_dest stderr",
        ]
        if users:
            passwords = folder / "passwords"
            for index, (user, password) in enumerate(users.items()):
                flags = ["-b", "-c"] if index == 0 else ["-b"]
                subprocess.run(
                    [
                        shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd",
                        *flags,
                        str(passwords),
                        user,
                        password,
                    ],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 (kept by the process)
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log)
        log.close()

        def listening() -> bool:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                return True
            return False

        assert wait_until(listening, 10), (self.folder / "mosquitto.log").read_text()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def require_mosquitto() -> str:
    """The mosquitto binary; skips the test saying why where it is missing — fails in CI."""
    if MOSQUITTO is None:
        message = "mosquitto is not installed (apt-get install mosquitto)"
        if in_ci():
            pytest.fail(f"{message} (CI=true: every test must run)", pytrace=False)
        pytest.skip(message)
    return MOSQUITTO


class Subscriber:
    """A paho client subscribed to ``topic`` (default every topic) on a broker, collecting
    ``(topic, payload, retain)`` of each message."""

    def __init__(self, broker: Broker, topic: str = "#", *, auth: tuple[str, str] | None = None):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if auth:
            client.username_pw_set(*auth)
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        client.connect(broker.host, broker.port)
        client.loop_start()
        assert subscribed.wait(10), "the subscriber could not subscribe"
        self._client = client

    def payloads(self) -> list[dict]:
        return [json.loads(payload) for _, payload, _ in self.messages]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


#: The command the tests run: it appends one JSON line per run to the file given as its
#: argument, holding its GATEKEEPER_* environment (``env``), its whole environment (``all``)
#: and its standard input.
RECORDER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    out = sys.argv[1]
    seen = {k: v for k, v in os.environ.items() if k.startswith("GATEKEEPER_")}
    line = {"env": seen, "all": dict(os.environ), "stdin": sys.stdin.read()}
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\\n")
    """
)


class RecordingCommand:
    """A real program writing its environment and standard input to ``runs`` (one JSON line a
    run); :attr:`argv` runs it."""

    def __init__(self, folder: Path) -> None:
        self.script = folder / "record_door.py"
        self.script.write_text(RECORDER_SCRIPT)
        self.out = folder / "runs.jsonl"
        self.argv = [sys.executable, str(self.script), str(self.out)]

    def runs(self) -> list[dict]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]


def admin_events(database: Path | str, kind: str) -> list[dict]:
    """The ``detail`` (JSON) of each admin event of ``kind``, oldest first, read straight from
    the database file, with its ``os_user`` column as ``_os_user``."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT detail, os_user FROM admin_event WHERE kind = ? ORDER BY seq", (kind,)
        ).fetchall()
    return [json.loads(detail) | {"_os_user": user} for detail, user in rows]


def wait_for(predicate, timeout: float = 10.0) -> None:
    """Assert that ``predicate()`` holds within ``timeout`` seconds (real endpoints answer
    asynchronously); not a timing assertion: the bound is only a deadlock guard."""
    assert wait_until(predicate, timeout), f"timed out waiting for {predicate}"
