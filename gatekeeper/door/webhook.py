"""The ``webhook`` action: an HTTP POST of the JSON payload::

    [[actions]]
    kind = "webhook"
    on = ["granted", "unknown"]
    url = "https://door.example.net/gatekeeper"
    secret = "a long random string"   # optional
    timeout_s = 2.0                   # per try, per network operation (connect, each read)
    retries = 2                       # optional, 0–10: tries after the first
    backoff_s = 0.5                   # optional: wait before the first retry, doubled after each

The body is :meth:`DoorEvent.payload` (``Content-Type: application/json``). With a ``secret``,
the header ``X-Gatekeeper-Signature: sha256=<hex>`` carries the HMAC-SHA256 of the exact body
bytes under the secret, so the receiver can check it came from this site (compare in constant
time). A 2xx answer is success. Connection failures, timeouts, 408, 429 and 5xx answers are
retried (``retries`` times, waiting ``backoff_s``, then twice as long each time); any other
answer (a 4xx, a redirect: never followed, since following it would drop the body) fails at
once. Python's standard ``urllib.request`` sends it: one POST, nothing a library would add.
The URL and the secret never appear in a log line or a recorded outcome (a URL may hold a
token); ``doctor`` shows the scheme, host and port only.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from gatekeeper import __version__
from gatekeeper.door.actions import ActionSpec, Result, one_line
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
        return f"POST {parts.scheme}://{parts.hostname}:{_port(parts)}/…{signed}"

    def open(self) -> WebhookRunner:
        return WebhookRunner(self)


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None  # a 3xx is then an HTTPError: reported, never followed


class WebhookRunner:
    def __init__(self, spec: WebhookSpec) -> None:
        self.spec = spec
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, event: DoorEvent, stop: threading.Event) -> Result:
        body = event.payload()
        headers = {"Content-Type": "application/json", "User-Agent": f"gatekeeper/{__version__}"}
        if self.spec.secret:
            headers[SIGNATURE_HEADER] = signature(self.spec.secret, body)
        delay = self.spec.backoff_s
        tries = 1 + self.spec.retries
        for attempt in range(1, tries + 1):
            ok, reason, again = self._post(body, headers)
            if ok:
                return Result(True, attempts=attempt)
            if not again or attempt == tries:
                return Result(False, reason, attempts=attempt)
            if stop.wait(delay):
                return Result(False, f"{reason}; stopped before retrying", attempts=attempt)
            delay *= 2
        raise AssertionError("unreachable")

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[bool, str | None, bool]:
        """One try: (ok, why not, worth retrying)."""
        request = urllib.request.Request(self.spec.url, body, headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.spec.timeout_s) as answer:
                answer.read(MAX_ANSWER)
                status, text = answer.status, answer.reason
        except urllib.error.HTTPError as exc:
            exc.close()
            again = exc.code in RETRIED_STATUSES
            return False, f"HTTP {exc.code} {one_line(str(exc.reason))}", again
        except TimeoutError:
            return False, f"timed out after {self.spec.timeout_s:g} s", True
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                return False, f"timed out after {self.spec.timeout_s:g} s", True
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
            return False, one_line(f"cannot connect: {text}"), True
        except (OSError, http.client.HTTPException) as exc:
            return False, one_line(f"{type(exc).__name__}: {exc}"), True
        if 200 <= status < 300:
            return True, None, False
        return False, f"HTTP {status} {one_line(text or '')}".strip(), False

    def close(self) -> None:
        pass
