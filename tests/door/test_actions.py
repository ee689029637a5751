"""Each action kind against a real endpoint: a command that records its environment and
input, a local HTTP server (signature, retries, refusal, a hang), and the payload itself."""

from __future__ import annotations

import hmac
import json
import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from endpoints import signed_by
from helpers import wait_until

from gatekeeper.door.command import CommandSpec
from gatekeeper.door.events import PAYLOAD_FIELDS, DoorEvent
from gatekeeper.door.webhook import SIGNATURE_HEADER, WebhookSpec

WHEN = datetime(2026, 12, 1, 11, 8, 45, 123456, tzinfo=timezone(timedelta(hours=1)))
GRANTED = DoorEvent(
    "granted", "front-door", WHEN, name="José Núñez", distance=0.41, threshold=0.6, attempt_id=17
)
NEVER = threading.Event()


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (killed, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command(argv, **options) -> CommandSpec:
    values = {"name": "relay", "on": ("granted",), "cameras": None, "timeout_s": 5.0}
    return CommandSpec(**(values | options), argv=tuple(argv))


def webhook(url, **options) -> WebhookSpec:
    values = {"name": "hook", "on": ("granted",), "cameras": None, "timeout_s": 2.0}
    return WebhookSpec(**(values | {"backoff_s": 0.01} | options), url=url)


# --- the payload ----------------------------------------------------------------------------


def test_the_payload_holds_every_field_with_the_time_in_utc():
    body = json.loads(GRANTED.payload())
    assert list(body) == list(PAYLOAD_FIELDS)
    assert body == {
        "decision": "granted",
        "name": "José Núñez",
        "distance": 0.41,
        "threshold": 0.6,
        "camera": "front-door",
        "time": "2026-12-01T10:08:45.123456+00:00",
        "attempt_id": 17,
        "reason": None,
        "rule": None,
        "message": None,
    }
    assert "José".encode() in GRANTED.payload(), "UTF-8, not \\u escapes"


def test_an_event_needs_a_known_decision_and_an_aware_time():
    with pytest.raises(ValueError, match="no time zone"):
        DoorEvent("granted", "door", datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="unknown door decision 'opened'"):
        DoorEvent("opened", "door", WHEN)


# --- command --------------------------------------------------------------------------------


def test_a_command_gets_the_event_in_its_environment_and_on_stdin(recorder, monkeypatch):
    monkeypatch.setenv("GATEKEEPER_AUDIT_KEY", "the-site-key")
    spec = command(recorder.argv)
    result = spec.open().send(GRANTED, NEVER)
    assert (result.ok, result.reason, result.attempts) == (True, None, 1)
    (run,) = recorder.runs()
    assert json.loads(run["stdin"]) == json.loads(GRANTED.payload())
    assert run["env"].pop("GATEKEEPER_RUN").startswith(f"{os.getpid()}-")
    assert run["env"] == {
        "GATEKEEPER_DECISION": "granted",
        "GATEKEEPER_NAME": "José Núñez",
        "GATEKEEPER_DISTANCE": "0.41",
        "GATEKEEPER_THRESHOLD": "0.6",
        "GATEKEEPER_CAMERA": "front-door",
        "GATEKEEPER_TIME": "2026-12-01T10:08:45.123456+00:00",
        "GATEKEEPER_ATTEMPT_ID": "17",
        "GATEKEEPER_REASON": "",
        "GATEKEEPER_RULE": "",
        "GATEKEEPER_MESSAGE": "",
    }, "the audit key (and every other GATEKEEPER_ variable of the console) stays in it"
    assert spec.problem() is None


def test_a_failing_command_reports_its_exit_status_and_last_error_line(tmp_path):
    script = tmp_path / "relay.sh"
    script.write_text(
        "#!/bin/sh\necho 'opening relay 1' >&2\necho 'relay board not found' >&2\nexit 3\n"
    )
    script.chmod(0o755)
    result = command([str(script)]).open().send(GRANTED, NEVER)
    assert (result.ok, result.reason) == (False, "exit status 3: relay board not found")


def test_a_missing_program_fails_without_raising(tmp_path):
    missing = tmp_path / "no-such-relay"
    spec = command([str(missing)])
    result = spec.open().send(GRANTED, NEVER)
    assert not result.ok and result.reason.startswith(f"cannot run {missing}: ")
    assert spec.problem() == f"{missing}: not found, or not an executable file"


def test_a_hung_command_is_killed_with_every_child_it_started(tmp_path):
    pids = tmp_path / "pids"
    script = tmp_path / "hang.sh"
    # the script starts a child that would outlive it, then hangs itself
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pids}\necho $$ >> {pids}\nsleep 300\n")
    script.chmod(0o755)
    result = command([str(script)], timeout_s=1.0).open().send(GRANTED, NEVER)
    assert (result.ok, result.reason) == (
        False,
        "timed out after 1 s (it and every process it started killed)",
    )
    # SIGKILL is delivered asynchronously: the processes die as soon as they are scheduled
    assert wait_until(lambda: not any(running(int(pid)) for pid in pids.read_text().split()), 10)


def test_a_command_that_leaves_a_child_holding_stderr_succeeds_and_the_child_is_killed(tmp_path):
    pid_file = tmp_path / "pid"
    script = tmp_path / "pulse.sh"
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nexit 0\n")
    script.chmod(0o755)
    result = command([str(script)], timeout_s=1.0).open().send(GRANTED, NEVER)
    assert result.ok
    assert wait_until(lambda: not running(int(pid_file.read_text())), 10)


# --- webhook --------------------------------------------------------------------------------


def test_a_webhook_posts_the_exact_payload_signed(http):
    endpoint = http()
    result = webhook(endpoint.url, secret="s3cret").open().send(GRANTED, NEVER)
    assert (result.ok, result.attempts) == (True, 1)
    (request,) = endpoint.received
    assert request.body == GRANTED.payload()
    assert request.headers["Content-Type"] == "application/json"
    assert signed_by(request, "s3cret")
    assert not signed_by(request, "another secret")
    # the receiver's check as the README gives it
    secret = "s3cret"
    expected = "sha256=" + hmac.new(secret.encode(), request.body, "sha256").hexdigest()
    assert hmac.compare_digest(expected, request.headers[SIGNATURE_HEADER])


def test_an_unsigned_webhook_sends_no_signature(http):
    endpoint = http()
    assert webhook(endpoint.url).open().send(GRANTED, NEVER).ok
    assert SIGNATURE_HEADER not in endpoint.received[0].headers


def test_a_failing_server_is_retried_and_a_later_success_counts(http):
    endpoint = http(statuses=[503, 500])
    result = webhook(endpoint.url, retries=2).open().send(GRANTED, NEVER)
    assert (result.ok, result.attempts) == (True, 3)
    assert len(endpoint.received) == 3
    assert len({r.body for r in endpoint.received}) == 1, "the same body each time"


def test_retries_are_bounded(http):
    endpoint = http(statuses=[500] * 10)
    result = webhook(endpoint.url, retries=2).open().send(GRANTED, NEVER)
    assert (result.ok, result.reason, result.attempts) == (
        False,
        "HTTP 500 Internal Server Error",
        3,
    )
    assert len(endpoint.received) == 3


@pytest.mark.parametrize("status", [400, 404, 302])
def test_a_refusal_or_a_redirect_is_not_retried(http, status):
    endpoint = http(statuses=[status])
    result = webhook(endpoint.url, retries=3).open().send(GRANTED, NEVER)
    assert not result.ok and result.reason.startswith(f"HTTP {status}")
    assert (result.attempts, len(endpoint.received)) == (1, 1)


def test_a_server_that_is_down_fails_after_every_retry(refused_url):
    result = webhook(refused_url, retries=2).open().send(GRANTED, NEVER)
    assert (result.ok, result.attempts) == (False, 3)
    assert result.reason == "cannot connect: Connection refused"
    assert refused_url not in result.reason


def test_a_server_that_hangs_times_out(http):
    endpoint = http(hang=True)
    result = webhook(endpoint.url, retries=0, timeout_s=0.5).open().send(GRANTED, NEVER)
    assert (result.ok, result.reason, result.attempts) == (False, "timed out after 0.5 s", 1)


def test_stopping_ends_the_retries(refused_url):
    stop = threading.Event()
    stop.set()
    result = webhook(refused_url, retries=5, backoff_s=30).open().send(GRANTED, stop)
    assert (result.ok, result.attempts) == (False, 1)
    assert result.reason.endswith("; stopped before retrying")


def test_the_event_time_is_utc_whatever_zone_it_was_given_in():
    assert GRANTED.time == datetime(2026, 12, 1, 10, 8, 45, 123456, tzinfo=UTC)
