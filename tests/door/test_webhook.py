"""The ``webhook`` action against endpoints that misbehave slowly: a try ends at its total
deadline however the server drips its answer, a retry that would start after the event's
maximum age is not made, and credentials in the URL are sent as HTTP basic auth, never
shown."""

from __future__ import annotations

import base64
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from endpoints import wait_for
from test_actions import GRANTED, NEVER, webhook


def test_a_try_ends_at_its_deadline_however_slowly_the_server_drips_its_answer(http):
    """Every byte comes well within 0.5 s, the whole answer in about 10 s: bounding each read
    alone would wait for all of it and report success."""
    endpoint = http(drip_s=0.05)
    result = webhook(endpoint.url, retries=0, timeout_s=0.5).open().send(GRANTED, NEVER)
    assert (result.ok, result.reason, result.attempts) == (False, "timed out after 0.5 s", 1)
    wait_for(lambda: endpoint.dripping == 0)  # the connection was closed: the drip stops


def test_no_retry_starts_once_the_event_is_older_than_its_max_age(http):
    """The first try times out at 1 s; the retry would start 0.5 s later, past the grant's
    1.2-s maximum age: it is not made, and the result says why."""
    from gatekeeper.door.actions import Expiry

    endpoint = http(drip_s=0.05)
    spec = webhook(endpoint.url, retries=2, timeout_s=1.0, backoff_s=0.5, max_ages={"granted": 1.2})
    result = spec.open().send(GRANTED, NEVER, Expiry.of(spec, GRANTED))
    assert (result.ok, result.attempts) == (False, 1)
    assert result.reason == "expired after 1 try (max_age_s 1.2 for granted): timed out after 1 s"
    assert len(endpoint.received) == 1


def with_credentials(url: str, userinfo: str) -> str:
    return url.replace("http://", f"http://{userinfo}@", 1)


def test_credentials_in_the_url_are_sent_as_basic_auth(http):
    endpoint = http()
    spec = webhook(with_credentials(endpoint.url, "gk:t0k%40en"))
    result = spec.open().send(GRANTED, NEVER)
    assert (result.ok, result.reason) == (True, None)
    (request,) = endpoint.received
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"gk:t0k@en").decode()
    assert request.path == "/door"
    assert "basic auth as gk" in spec.describe()
    assert "t0k" not in spec.describe() and "t0k" not in repr(spec)


def test_a_failure_never_shows_the_urls_credentials(refused_url):
    result = (
        webhook(with_credentials(refused_url, "gk:t0ken"), retries=0).open().send(GRANTED, NEVER)
    )
    assert (result.ok, result.reason) == (False, "cannot connect: Connection refused")


def test_a_webhook_without_credentials_sends_no_authorization(http):
    endpoint = http()
    assert webhook(endpoint.url).open().send(GRANTED, NEVER).ok
    assert "Authorization" not in endpoint.received[0].headers


@pytest.fixture
def https(tmp_path):
    """An https endpoint on ``localhost`` with a self-signed certificate (made with openssl):
    its URL, its certificate file and the ``Authorization`` headers it received."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
    )
    received: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}/door", cert, received
    server.shutdown()
    server.server_close()


def test_an_https_lock_gets_the_payload_and_an_untrusted_certificate_is_refused(https, monkeypatch):
    url, cert, received = https
    spec = webhook(url.replace("https://", "https://gk:t0ken@"), retries=0)
    refused = spec.open().send(GRANTED, NEVER)
    assert not refused.ok and refused.reason.startswith("cannot connect: [SSL: CERTIFICATE_VERIFY")
    assert received == [], "nothing is sent to a server whose certificate is not trusted"
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # as a site trusting its lock's certificate
    result = spec.open().send(GRANTED, NEVER)
    assert (result.ok, result.reason) == (True, None)
    assert received == ["Basic " + base64.b64encode(b"gk:t0ken").decode()]
