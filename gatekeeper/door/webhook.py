"""The ``webhook`` action: an HTTP POST of the JSON payload::

    [[actions]]
    kind = "webhook"
    on = ["granted", "unknown"]
    url = "https://door.example.net/gatekeeper"
    secret = "a long random string"   # optional
    timeout_s = 2.0                   # per try, in all: resolving, connecting, sending, the answer
    retries = 2                       # optional, 0–10: tries after the first
    backoff_s = 0.5                   # optional: wait before the first retry, doubled after each

The body is :meth:`DoorEvent.payload` (``Content-Type: application/json``). With a ``secret``,
the header ``X-Gatekeeper-Signature: sha256=<hex>`` carries the HMAC-SHA256 of the exact body
bytes under the secret, so the receiver can check it came from this site (compare in constant
time). A 2xx answer is success. Connection failures, timeouts, 408, 429 and 5xx answers are
retried (``retries`` times, waiting ``backoff_s``, then twice as long each time, but never
past the event's maximum age); any other answer (a 4xx, a redirect: never followed, since
following it would drop the body) fails at once.

A try ends ``timeout_s`` seconds after it started whatever the server does: the host name is
resolved on a thread of its own, waited for at most until then, and a watchdog shuts the
connection at that moment, so a server that answers one byte at a time cannot stretch one try
beyond it (bounding each network operation alone would not). Python's standard
``http.client`` sends it, straight to the host (never through a proxy named in the
environment): one POST, nothing a library would add.

Credentials in the URL (``https://user:token@host/…``, percent-encoded) are sent as HTTP basic
auth (``Authorization: Basic``), never as part of the host. Over ``https://`` they are
encrypted with the request; over ``http://`` anyone on the network can read them, as they can
read a token in the path. The URL, its credentials and the secret never appear in a log line
or a recorded outcome; ``doctor`` shows the scheme, host, port and the basic-auth user only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from gatekeeper import __version__
from gatekeeper.door.actions import ActionSpec, Expiry, Result, one_line
from gatekeeper.door.events import DoorEvent
from gatekeeper.door.table import Table

#: The signature header and its scheme prefix.
SIGNATURE_HEADER = "X-Gatekeeper-Signature"
SIGNATURE_PREFIX = "sha256="
#: Answers worth another try: the server is busy or failing, not refusing the request.
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Largest answer body read (and dropped), bytes.
MAX_ANSWER = 64 * 1024


def signature(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``sha256=`` and the hex HMAC-SHA256 under ``secret``."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookSpec(ActionSpec):
    kind = "webhook"

    url: str = field(default="", repr=False)  # may hold a token
    secret: str | None = field(default=None, repr=False)  # never printed
    retries: int = 2
    backoff_s: float = 0.5

    def target(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        signed = ", signed" if self.secret else ""
        user = (
            ""
            if parts.username is None
            else f", basic auth as {urllib.parse.unquote(parts.username)}"
        )
        return f"POST {parts.scheme}://{parts.hostname}:{_port(parts)}/…{signed}{user}"

    def warning(self) -> str | None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.username is not None and parts.scheme == "http" and not _loopback(parts):
            return "the URL's credentials go unencrypted over http://"
        return None

    def open(self) -> WebhookRunner:
        return WebhookRunner(self)


def _loopback(parts: urllib.parse.SplitResult) -> bool:
    """Whether the URL's host is this machine (``localhost`` or a loopback address)."""
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return False


def _port(parts: urllib.parse.SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def parse_webhook(table: Table, common: dict[str, Any]) -> WebhookSpec:
    url = table.text("url", required=True)
    parts = urllib.parse.urlsplit(url)
    try:
        _port(parts)
    except ValueError:
        raise table.error(f"url has a bad port: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise table.error("url must be an http:// or https:// URL with a host")
    return WebhookSpec(
        **common,
        url=url,
        secret=table.text("secret"),
        retries=table.whole("retries", 2, low=0, high=10),
        backoff_s=table.number("backoff_s", 0.5, low=0.0, high=60.0),
    )


class WebhookRunner:
    def __init__(self, spec: WebhookSpec) -> None:
        self.spec = spec
        parts = urllib.parse.urlsplit(spec.url)
        self._host = parts.hostname or ""
        self._port = _port(parts)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._authorization = _basic_auth(parts)

    def send(self, event: DoorEvent, stop: threading.Event, expiry: Expiry | None = None) -> Result:
        body = event.payload()
        headers = {"Content-Type": "application/json", "User-Agent": f"gatekeeper/{__version__}"}
        if self.spec.secret:
            headers[SIGNATURE_HEADER] = signature(self.spec.secret, body)
        if self._authorization:
            headers["Authorization"] = self._authorization
        delay = self.spec.backoff_s
        tries = 1 + self.spec.retries
        for attempt in range(1, tries + 1):
            ok, reason, again = self._post(body, headers)
            if ok:
                return Result(True, attempts=attempt)
            if not again or attempt == tries:
                return Result(False, reason, attempts=attempt)
            if expiry is not None and expiry.remaining() <= delay:
                return Result(False, expiry.after(attempt, reason), attempts=attempt)
            if stop.wait(delay):
                return Result(False, f"{reason}; stopped before retrying", attempts=attempt)
            delay *= 2
        raise AssertionError("unreachable")

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[bool, str | None, bool]:
        """One try, ending by ``timeout_s``: (ok, why not, worth retrying)."""
        timed_out = f"timed out after {self.spec.timeout_s:g} s"
        connection = _Connection(
            self._host, self._port, time.monotonic() + self.spec.timeout_s, self._tls
        )
        try:
            try:
                connection.connect()
            except OSError as exc:
                if connection.late(exc):
                    return False, timed_out, True
                return False, one_line(f"cannot connect: {exc.strerror or exc}"), True
            try:
                connection.request("POST", self._path, body, headers)
                with connection.getresponse() as answer:
                    answer.read(MAX_ANSWER)
                    status, text = answer.status, answer.reason
            except (OSError, http.client.HTTPException) as exc:
                if connection.late(exc):
                    return False, timed_out, True
                return False, one_line(f"{type(exc).__name__}: {exc}"), True
            if connection.cut.is_set():  # the end of a shut socket reads as a (short) answer
                return False, timed_out, True
        finally:
            connection.close()
        if 200 <= status < 300:
            return True, None, False
        again = status in RETRIED_STATUSES
        return False, f"HTTP {status} {one_line(text or '')}".strip(), again

    def close(self) -> None:
        pass


def _basic_auth(parts: urllib.parse.SplitResult) -> str | None:
    """The ``Authorization`` header for the URL's credentials (percent-decoded), if any."""
    if parts.username is None:
        return None
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class _Connection(http.client.HTTPConnection):
    """A connection to ``host``:``port`` whose every step ends by ``deadline`` (monotonic
    seconds): :meth:`connect` resolves and connects within it, then a watchdog shuts the
    socket at that moment, ending whatever read or write is under way, and sets ``cut``.
    ``tls``: a context for https."""

    def __init__(self, host: str, port: int, deadline: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self._deadline = deadline
        self._tls = tls
        self._watchdog: threading.Timer | None = None
        self.cut = threading.Event()

    def connect(self) -> None:
        error: OSError = OSError("no address")
        for family, kind, proto, _, address in _resolve(self.host, self.port, self._remaining()):
            raw = socket.socket(family, kind, proto)
            try:
                raw.settimeout(self._remaining())
                raw.connect(address)
            except OSError as exc:
                raw.close()
                error = exc
                continue
            self._watchdog = threading.Timer(self._remaining(), self._shut, (raw,))
            self._watchdog.name, self._watchdog.daemon = "door-watchdog", True
            self._watchdog.start()
            try:
                self.sock = (
                    self._tls.wrap_socket(raw, server_hostname=self.host) if self._tls else raw
                )
            except OSError:
                raw.close()
                raise
            return
        raise error

    def late(self, error: Exception) -> bool:
        """Whether ``error`` came from the deadline (a timeout, or the watchdog's shutdown)."""
        return isinstance(error, TimeoutError) or self.cut.is_set()

    def _shut(self, raw: socket.socket) -> None:
        """The watchdog: end every read and write on ``raw`` at once."""
        self.cut.set()
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)

    def _remaining(self) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("past the deadline")
        return remaining

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        super().close()


def _resolve(host: str, port: int, timeout: float) -> list[tuple]:
    """``getaddrinfo`` for a TCP connection, waited for at most ``timeout`` seconds (it cannot
    be interrupted: a slow resolver is left to finish on its own thread; an IP address needs
    no resolver)."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list = []

    def look_up() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    resolver = threading.Thread(target=look_up, name="door-resolve", daemon=True)
    resolver.start()
    resolver.join(timeout)
    if not found:
        raise TimeoutError(f"resolving {host} took more than {timeout:g} s")
    if isinstance(found[0], OSError):
        raise found[0]
    return found[0]
