"""The ``command`` action's containment: the environment a door program gets (an allow-list,
never the database's or the audit key's secrets), every process it starts killed with it
(even one that made itself a session or a daemon of its own), and its output bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from endpoints import wait_for
from test_actions import GRANTED, NEVER, command, running

#: Variables a door program may inherit from the console without being named in ``env``,
#: and ``PWD``, the working folder, which the cgroup's ``/bin/sh`` shim sets as any shell does.
ALLOWED = {"PATH", "HOME", "LANG", "TZ", "TMPDIR", "PWD"}


def opened(mechanism: str):
    """``opener(spec)`` → a runner containing its runs by ``mechanism``: ``default`` (what
    this host allows), ``scan`` (no cgroup, as where the console may not create one) or
    ``cgroup`` (skipped where the console may not create one)."""
    if mechanism == "default":
        return lambda spec: spec.open()
    from gatekeeper.door.command import CommandRunner
    from gatekeeper.door.contain import Containment, containment

    if mechanism == "scan":
        return lambda spec: CommandRunner(spec, Containment(None, "the test's choice"))
    found = containment()
    if found.cgroups is None:
        pytest.skip(f"cgroup v2 not usable here: {found.note}")
    return lambda spec: CommandRunner(spec, found)


MECHANISMS = ["default", "scan", "cgroup"]


# --- the environment ------------------------------------------------------------------------


def test_a_command_never_gets_the_databases_or_the_audit_keys_secrets(recorder, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "db-pass-word")  # as the README recommends for PostgreSQL
    monkeypatch.setenv("GATEKEEPER_AUDIT_KEY", "the-site-key")
    monkeypatch.setenv("GATEKEEPER_DB", "postgresql://gk:url-pass-word@db/gatekeeper")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cloud-secret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_TIME", "C.UTF-8")
    monkeypatch.setenv("TZ", "Europe/Paris")
    assert command(recorder.argv).open().send(GRANTED, NEVER).ok
    (run,) = recorder.runs()
    seen = json.dumps(run["all"])
    for secret in ("db-pass-word", "the-site-key", "url-pass-word", "cloud-secret"):
        assert secret not in seen
    inherited = {k for k in run["all"] if not k.startswith("GATEKEEPER_")}
    assert {k for k in inherited if not k.startswith("LC_")} <= ALLOWED
    assert (run["all"]["LANG"], run["all"]["LC_TIME"], run["all"]["TZ"]) == (
        "C.UTF-8",
        "C.UTF-8",
        "Europe/Paris",
    )
    assert run["all"]["PATH"] == os.environ["PATH"]


def test_a_command_gets_the_variables_its_config_names(recorder, monkeypatch):
    monkeypatch.setenv("RELAY_PORT", "/dev/ttyUSB1")
    monkeypatch.setenv("RELAY_OTHER", "not named")
    spec = command(recorder.argv, env=("RELAY_PORT", "RELAY_UNSET"))
    assert spec.open().send(GRANTED, NEVER).ok
    (run,) = recorder.runs()
    assert run["all"]["RELAY_PORT"] == "/dev/ttyUSB1"
    assert "RELAY_OTHER" not in run["all"] and "RELAY_UNSET" not in run["all"]
    assert "passes RELAY_PORT, RELAY_UNSET" in spec.describe()


# --- every process it starts ----------------------------------------------------------------


def daemon_script(tmp_path, *, then: str, clear_environment: bool = False) -> tuple[str, object]:
    """A relay script that leaves a daemon behind (``setsid -f``: a session of its own, its
    standard streams closed), waits until the daemon has written its pid, then runs
    ``then``; the script's path and the daemon's pid file."""
    pid_file = tmp_path / "daemon.pid"
    env = "env -i " if clear_environment else ""
    script = tmp_path / "relay.sh"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            setsid -f {env}/bin/sh -c 'echo $$ > {pid_file}; exec sleep 300' \\
                </dev/null >/dev/null 2>&1
            while [ ! -s {pid_file} ]; do sleep 0.01; done
            {then}
            """
        )
    )
    script.chmod(0o755)
    return str(script), pid_file


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_daemon_started_by_a_hung_command_is_killed_at_the_timeout(tmp_path, mechanism):
    script, pid_file = daemon_script(tmp_path, then="sleep 300")
    result = opened(mechanism)(command([script], timeout_s=2.0)).send(GRANTED, NEVER)
    pid = int(pid_file.read_text())
    wait_for(lambda: not running(pid))
    assert (result.ok, result.reason) == (
        False,
        "timed out after 2 s (it and every process it started killed)",
    )


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_daemon_left_by_a_command_that_succeeded_is_killed_when_it_ends(tmp_path, mechanism):
    script, pid_file = daemon_script(tmp_path, then="exit 0")
    result = opened(mechanism)(command([script], timeout_s=5.0)).send(GRANTED, NEVER)
    assert (result.ok, result.reason) == (True, None)
    pid = int(pid_file.read_text())
    wait_for(lambda: not running(pid))


def test_a_cgroup_holds_even_a_daemon_that_cleared_its_environment(tmp_path):
    script, pid_file = daemon_script(tmp_path, then="exit 0", clear_environment=True)
    assert opened("cgroup")(command([script], timeout_s=5.0)).send(GRANTED, NEVER).ok
    pid = int(pid_file.read_text())
    wait_for(lambda: not running(pid))


def test_a_background_child_may_finish_its_work_within_the_timeout(tmp_path):
    """A relay script that switches the relay off from a background child after exiting
    (``(sleep; off) &``): the child runs to its end, it is not killed when the script exits."""
    done = tmp_path / "relay-off"
    script = tmp_path / "pulse.sh"
    script.write_text(f"#!/bin/sh\n(sleep 0.3; echo off > {done}) &\nexit 0\n")
    script.chmod(0o755)
    assert command([str(script)], timeout_s=10.0).open().send(GRANTED, NEVER).ok
    assert done.read_text() == "off\n"


# --- its output -----------------------------------------------------------------------------

#: Runs a command that writes 400 MB to its standard error, then prints the reason recorded
#: and the peak resident memory of this process, in MiB.
FLOOD = textwrap.dedent(
    """
    import json, sys, threading
    from datetime import UTC, datetime
    from gatekeeper.door.command import CommandSpec
    from gatekeeper.door.events import DoorEvent
    script = sys.argv[1]
    spec = CommandSpec(name="r", on=("granted",), cameras=None, timeout_s=60.0, argv=(script,))
    event = DoorEvent("granted", "door", datetime.now(UTC), name="lin")
    result = spec.open().send(event, threading.Event())
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a child of a big test
    # process would report its parent's peak.
    with open("/proc/self/status") as status:
        peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
    print(json.dumps({"reason": result.reason, "peak_mib": peak}))
    """
)


def test_a_flood_on_standard_error_is_not_held_in_memory(tmp_path):
    script = tmp_path / "flood.sh"
    script.write_text(
        "#!/bin/sh\nhead -c 400000000 /dev/zero >&2\necho >&2\n"
        "echo 'relay board jammed' >&2\nexit 1\n"
    )
    script.chmod(0o755)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", FLOOD, str(script)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    ).stdout
    figures = json.loads(out)
    assert figures["reason"] == "exit status 1: relay board jammed"
    assert figures["peak_mib"] < 150, f"400 MB of stderr held: peak {figures['peak_mib']:.0f} MiB"
