"""What needs a real process: exit statuses end to end, clean stderr once TensorFlow is loaded,
no TensorFlow import for the log and admin commands, a database locked by another process, and
a full disk."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from cli_helpers import seed_database, subprocess_env
from helpers import fill, small_filesystem, sqlite_dump

#: Runs commands with ``cli.main`` and reports, as its last stdout line, their exit statuses and
#: whether TensorFlow or Keras got imported.
_HARNESS = """\
import json, sys
from gatekeeper.cli import main
commands = json.loads(sys.argv[1])
codes = [main(argv) for argv in commands]
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "mtcnn"})
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def test_admin_commands_never_import_tensorflow(bare_home, tmp_path):
    seed_database(bare_home)
    home = str(bare_home)
    commands = [
        ["--home", home, "log"],
        ["--home", home, "log", "--json", "--person", "Ada Lovelace"],
        ["--home", home, "export", str(tmp_path / "log.csv")],
        ["--home", home, "people", "--json"],
        ["--home", home, "threshold"],
        ["--home", home, "threshold", "0.5"],
        ["--home", home, "deactivate", "Ada Lovelace"],
        ["--home", home, "audit", "verify"],
        ["--home", home, "enroll", "", "photo.jpg"],
        ["--home", home, "identify", str(tmp_path / "missing.jpg")],
    ]
    completed = subprocess.run(
        [sys.executable, "-c", _HARNESS, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report == {"codes": [0, 0, 0, 0, 0, 0, 0, 0, 2, 1], "heavy": []}


def test_exit_statuses_and_clean_stderr_end_to_end(process, new_home, tmp_path, probe, train):
    home = new_home(tmp_path)
    usage = process("--help")
    assert (usage.code, usage.err) == (0, "")
    assert usage.out.startswith("usage: gatekeeper")

    enrolled = process("--home", home, "enroll", "王小明", train / "obama" / "obama.jpg")
    assert (enrolled.code, enrolled.err) == (0, "")
    assert enrolled.out.splitlines()[0] == (
        "enrolled 王小明: 1 photo, 3 encodings (1 dlib_resnet_v1, 1 facenet_keras_v1, "
        "1 sface_int8bq_v1)"
    )

    identified = process("--home", home, "identify", probe("obama1.jpg"), "--json")
    assert (identified.code, identified.err) == (0, "")
    assert [f["identity"] for f in json.loads(identified.out)] == ["王小明"]

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 400, 3), 200, np.uint8))
    before = sqlite_dump(home / "data" / "gatekeeper.db")
    no_face = process("--home", home, "identify", blank)
    assert no_face.code == 1
    assert no_face.err == f"gatekeeper: {blank}: no face found (nothing recorded)\n"
    assert no_face.out == ""
    assert sqlite_dump(home / "data" / "gatekeeper.db") == before

    bad_option = process("--home", home, "log", "--decision", "maybe")
    assert bad_option.code == 2 and len(bad_option.err.splitlines()) == 1

    no_tty = process("--home", home, "remove", "王小明")
    assert no_tty.code == 2
    assert no_tty.err.startswith("gatekeeper: not removing 王小明 without confirmation")


def test_console_script_is_installed():
    script = shutil.which("gatekeeper", path=str(Path(sys.executable).parent))
    assert script is not None, "the gatekeeper console script is not installed in the venv"
    completed = subprocess.run(
        [script, "log", "--help"], capture_output=True, text=True, timeout=30, env=subprocess_env()
    )
    assert completed.returncode == 0 and "--since WHEN" in completed.stdout


def test_database_locked_by_another_process_end_to_end(process, bare_home, site_database):
    seed_database(bare_home, site_database.url)
    with site_database.locked():
        locked = process(
            "--home", bare_home, "remove", "Ada Lovelace", "--yes", GATEKEEPER_BUSY_TIMEOUT="0.5"
        )
        reading = process("--home", bare_home, "people", "--json", GATEKEEPER_BUSY_TIMEOUT="0.5")
    assert locked.code == 1
    assert locked.err == (
        f"gatekeeper: database is locked by another process (waited 0.5 s): {site_database.shown}\n"
    )
    assert reading.code == 0, reading.err  # readers are not blocked by a writer
    assert [p["name"] for p in json.loads(reading.out)] == ["Ada Lovelace"]
    assert (bare_home / "images" / "Ada Lovelace").is_dir()


def test_identify_on_a_full_disk_names_the_cause(process, new_home, tmp_path, probe):
    home = new_home(tmp_path)
    with small_filesystem(tmp_path / "small", 1024) as small:
        database = small / "gatekeeper.db"
        assert process("--home", home, "--db", database, "threshold", "0.5").code == 0
        fill(small, leave=40 * 1024)
        result = process("--home", home, "--db", database, "identify", probe("obama1.jpg"))
        assert result.code == 1
        assert result.err.splitlines()[-1] == (
            f"gatekeeper: disk full: cannot write the database {database}"
        )
        (small / "filler").unlink()
        assert process("--home", home, "--db", database, "audit", "verify").code == 0


def test_output_to_a_full_device_is_one_line_and_exit_1(bare_home, site_database):
    """Standard output on ``/dev/full`` (every write fails with ENOSPC): ``log``, ``export -``
    and a one-line answer ended in ``internal error: OSError: [Errno 28]``. Each is now one line
    naming the cause, exit 1, and a failed export is not recorded as done."""
    seed_database(bare_home, site_database.url)
    with site_database.raw() as db:
        exports = db.execute("SELECT COUNT(*) FROM admin_event WHERE kind = 'export'").fetchone()
    for argv in (["log"], ["log", "--json"], ["export", "-"], ["people"], ["threshold"]):
        with open("/dev/full", "w") as full:
            completed = subprocess.run(
                [sys.executable, "-m", "gatekeeper", "--home", str(bare_home), *argv],
                stdout=full,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=120,
                env=subprocess_env(),
            )
        assert (completed.returncode, completed.stderr) == (
            1,
            "gatekeeper: cannot write to standard output: No space left on device\n",
        ), argv
    with site_database.raw() as db:
        assert (
            db.execute("SELECT COUNT(*) FROM admin_event WHERE kind = 'export'").fetchone()
            == exports
        )


def test_a_refused_write_is_one_line_on_the_command_line(bare_home, site_database):
    """README: errors are one line on stderr. A write refused by the chain's guard printed the
    store's log line and then the error; the log line is for the console's log, where nobody
    sees the exception. Both guards: a keyless write to a keyed site, and a change while the
    people differ from the chain's state record."""
    key = "the-site-key-of-the-test"
    keyed = subprocess_env(GATEKEEPER_AUDIT_KEY=key)
    base = [sys.executable, "-m", "gatekeeper", "--home", str(bare_home)]

    def gatekeeper(*argv: str, env=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*base, *argv],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            env=env or subprocess_env(),
        )

    assert gatekeeper("threshold", "0.55", env=keyed).returncode == 0
    keyless = gatekeeper("threshold", "0.5")
    assert (keyless.returncode, keyless.stderr) == (
        1,
        "gatekeeper: refusing to extend the audit log: the audit log is signed, and this process "
        "has no audit key; nothing was written (run 'gatekeeper audit verify')\n",
    )
    assert gatekeeper("schedule", "set", "staff", "Mon-Fri 07:00-19:00", env=keyed).returncode == 0
    with site_database.raw() as db:
        db.execute("UPDATE setting SET value = '0.7' WHERE key = 'threshold'")
    tampered = gatekeeper("threshold", "0.5", env=keyed)
    assert tampered.returncode == 1
    assert tampered.stderr.count("\n") == 1, tampered.stderr
    assert tampered.stderr.startswith("gatekeeper: the settings were changed outside Gatekeeper")
