"""PostgreSQL faults, on a throwaway server of this module's own (it is stopped and started):
the server restarted while a store writes, and a wrong password, a missing database, an
unreachable server, each a clear one-line error that never shows the password."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest, run_process, wait_until
from postgres import PASSWORD, Server, with_database

from gatekeeper.errors import StoreError
from gatekeeper.store import AttemptFilter, open_store


@pytest.fixture(scope="module")
def server(restartable_server: Server) -> Server:
    """The module's own server: its tests stop and start it."""
    return restartable_server


@pytest.fixture
def site(server: Server) -> Iterator[DatabaseUnderTest]:
    """A new database on the module's server (started again if a test left it stopped)."""
    url = server.create_database()
    yield DatabaseUnderTest("postgresql", url)
    if not server.running:
        server.start()
    server.drop_database(url)


def _attempt(i: int) -> dict:
    return {
        "camera_id": "front-door",
        "name": None,
        "person_id": None,
        "distance": 0.9,
        "threshold": 0.6,
        "decision": "unknown",
        "model_id": "dlib_resnet_v1",
        "box": (i, 0, 10, 10),
    }


def test_writes_fail_while_the_server_is_down_and_succeed_after(
    server: Server, site: DatabaseUnderTest, tmp_path: Path
) -> None:
    with open_store(site.url, images_dir=tmp_path / "images", audit_key="k") as store:
        for i in range(3):
            store.record_attempt(**_attempt(i))
        server.stop()
        for write in (lambda: store.record_attempt(**_attempt(3)), lambda: store.add_person("A")):
            with pytest.raises(StoreError) as caught:
                write()
            message = str(caught.value)
            assert message.startswith("database unavailable: "), message
            assert message.endswith(site.shown) and PASSWORD not in message
            assert "\n" not in message
        with pytest.raises(StoreError, match="^database unavailable: connection refused"):
            store.count_attempts(AttemptFilter())
        server.start()
        store.record_attempt(**_attempt(3))  # the same store, on a new connection
        store.add_person("A")
        assert store.count_attempts(AttemptFilter()) == 4
        report = store.verify_chain()
        assert report.ok and report.rows_checked == 7, report.summary()


#: A console's worker, reduced to its store side: attempt ``i`` (box x = i) is recorded, or
#: kept with the ones waiting and written, in order, at the next try (as ``live.py`` does).
WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from gatekeeper.errors import StoreError
    from gatekeeper.store import NewAttempt, open_store

    store = open_store(sys.argv[1], images_dir=Path(sys.argv[2]), busy_timeout_s=2)
    waiting, failures, i = [], set(), 0
    while not os.path.exists(sys.argv[3]) or waiting:
        if not os.path.exists(sys.argv[3]):
            waiting.append(NewAttempt(camera_id="door", decision="unknown", threshold=0.6,
                                      model_id="dlib_resnet_v1", box=(i, 0, 1, 1)))
            i += 1
        try:
            store.record_attempts(waiting)
            waiting = []
        except StoreError as exc:
            failures.add(str(exc).rsplit(": ", 1)[0])  # without the URL
            print("waiting", len(waiting), flush=True)
            time.sleep(0.05)
    for failure in sorted(failures):
        print("failed:", failure, flush=True)
    print("made", i, flush=True)
    """
)


def test_a_server_restart_loses_no_attempt(
    server: Server, site: DatabaseUnderTest, tmp_path: Path
) -> None:
    """Attempts made while the server restarts wait and are written, in order, once it is
    back: every one is in the log exactly once, and the chain verifies."""
    open_store(site.url, images_dir=tmp_path / "images").close()
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, site.url, str(tmp_path / "images"), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: _written(site) >= 20, timeout=60)
        server.stop()
        while int(writer.stdout.readline().split()[1]) < 5:  # attempts wait for the server
            continue
        server.start()
        before = _written(site)
        assert wait_until(lambda: _written(site) >= before + 20, timeout=60)
        stop.touch()
        out, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.communicate()
    assert writer.returncode == 0, err
    made = int(out.splitlines()[-1].split()[1])
    failures = [line for line in out.splitlines() if line.startswith("failed:")]
    assert failures and all("database unavailable" in line for line in failures), failures
    with site.raw() as connection:
        boxes = [row[0] for row in connection.execute("SELECT box_x FROM attempt ORDER BY seq")]
    assert boxes == list(range(made)), "every attempt once, in the order it was made"
    with open_store(site.url, images_dir=tmp_path / "images") as store:
        report = store.verify_chain()
    assert report.ok and report.rows_checked == made + 1, report.summary()


def _written(site: DatabaseUnderTest) -> int:
    """Attempts in the log now (0 while the server is down)."""
    try:
        with site.raw() as connection:
            return connection.execute("SELECT COUNT(*) FROM attempt").fetchone()[0]
    except Exception:
        return 0


def _refused(database: str, tmp_path: Path) -> str:
    """The one-line ``StoreError`` opening ``database`` gives (and the CLI's, checked equal)."""
    with pytest.raises(StoreError) as caught:
        open_store(database, images_dir=tmp_path / "images")
    message = str(caught.value)
    assert "\n" not in message
    result = run_process("--home", tmp_path / "home", "--db", database, "people", timeout=60)
    assert (result.code, result.out, result.err) == (1, "", f"gatekeeper: {message}\n")
    return message


def test_a_wrong_password_a_missing_database_and_no_server_are_one_clear_line(
    server: Server, site: DatabaseUnderTest, tmp_path: Path
) -> None:
    wrong = with_database(site.url, site.url.rsplit("/", 1)[1], password="not-the-password")
    message = _refused(wrong, tmp_path)
    assert message == (
        f"cannot log in to {DatabaseUnderTest('postgresql', wrong).shown}: password "
        "authentication failed for user gate (check the password in the URL, PGPASSWORD or "
        "~/.pgpass)"
    )
    assert "not-the-password" not in message

    missing = DatabaseUnderTest("postgresql", with_database(site.url, "no_such_site"))
    assert _refused(missing.url, tmp_path) == (
        f"no database no_such_site on the server of {missing.shown} (create it first: createdb, "
        "or CREATE DATABASE)"
    )

    nowhere = site.url.replace(f":{server.port}/", ":1/")
    assert _refused(nowhere, tmp_path).startswith(
        "database unavailable: connection refused (is the server running?): postgresql://gate:***@"
    )
    unknown = site.url.replace("127.0.0.1", "gatekeeper-db.invalid")
    assert _refused(unknown, tmp_path).startswith("database unavailable: unknown host: ")

    no_password = site.url.replace(f":{PASSWORD}@", "@")
    assert "the server wants a password for user gate and none was given" in _refused(
        no_password, tmp_path
    )
    assert not (tmp_path / "home").exists(), "nothing was created"


def test_the_password_may_come_from_pgpassword_or_a_password_file(
    site: DatabaseUnderTest, tmp_path: Path, monkeypatch
) -> None:
    bare = site.url.replace(f":{PASSWORD}@", "@")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with open_store(bare, images_dir=tmp_path / "images") as store:
        store.add_person("Alice")
    monkeypatch.delenv("PGPASSWORD")
    password_file = tmp_path / "pgpass"
    password_file.write_text(f"*:*:*:gate:{PASSWORD}\n")
    password_file.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(password_file))
    with open_store(bare, images_dir=tmp_path / "images", read_only=True) as store:
        assert [p.name for p in store.list_people()] == ["Alice"]
    result = run_process("--db", bare, "people", "--json", PGPASSFILE=str(password_file))
    assert result.code == 0 and '"Alice"' in result.out, result.err


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    server: Server, site: DatabaseUnderTest, tmp_path: Path
) -> None:
    """After a restart the store's idle connection is dead; the next call notices before
    sending anything and connects again, so a console's first write after the restart
    succeeds."""
    with open_store(site.url, images_dir=tmp_path / "images") as store:
        store.record_attempt(**_attempt(0))
        server.stop()  # returns once the server has said farewell to every client
        server.start()
        store.record_attempt(**_attempt(1))
        assert store.count_attempts(AttemptFilter()) == 2
