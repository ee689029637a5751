"""Three doors and the command line on one PostgreSQL database, for about 30 seconds.

Two door workers replay the real clip (Lin enrolled), a third replays a folder of photos of
Obama, who is enrolled by the command line only once all three are running; the command line
removes Biden meanwhile. Then: the audit chain verifies with no gaps, every decision each worker
reported is in the log exactly once, nothing else is, and the lobby recognised Obama after the
command line enrolled him — without restarting.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from cli_helpers import make_home, run_process, subprocess_env
from helpers import wait_until

from gatekeeper.config import Settings
from gatekeeper.site import Site
from gatekeeper.store import AttemptFilter, open_store

WORKER = Path(__file__).resolve().parents[1] / "door_worker.py"
#: How long the doors run once all three are ready, in seconds.
RUN_S = 30.0
#: Doors: camera id, source (relative to the shared data), frames per second processed.
DOORS = (
    ("front-door", "video/short_hamilton_clip.mp4", 5.0),
    ("back-door", "video/short_hamilton_clip.mp4", 5.0),
    ("lobby", None, 2.0),
)


def _lobby_photos(shared_data: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in ("obama1.jpg", "obama3.jpg", "obama-720p.jpg"):
        shutil.copy(shared_data / "faces" / "probe" / name, folder / name)
    return folder


@pytest.mark.slow
def test_three_doors_and_the_cli_share_one_chain(
    tmp_path, shared_data, weights_dir, engine, pg_server
):
    db_url = pg_server.create_database()
    home = make_home(tmp_path, weights_dir)
    train = shared_data / "faces" / "train"
    cli = ("--home", home, "--db", db_url)
    with Site.open(Settings(home=home, db=db_url), engine=engine) as site:
        site.people.enrol("Lin", [shared_data / "faces" / "probe" / "lin-manuel-miranda.png"])
        site.people.enrol("Biden", sorted((train / "biden").iterdir()), force=True)
    lobby = _lobby_photos(shared_data, tmp_path / "lobby")

    workers = []
    for camera_id, source, fps in DOORS:
        spec = lobby if source is None else shared_data / source
        report, ready = tmp_path / f"{camera_id}.json", tmp_path / f"{camera_id}.ready"
        argv = [sys.executable, WORKER, "--home", home, "--db", db_url, "--camera-id", camera_id]
        argv += ["--source", spec, "--fps", str(fps), "--report", report, "--ready", ready]
        process = subprocess.Popen(
            [str(a) for a in argv], env=subprocess_env(), stdout=subprocess.PIPE, text=True
        )
        workers.append((camera_id, process, report, ready))
    try:
        assert wait_until(lambda: all(w[3].exists() for w in workers), 240), "doors not ready"
        started = time.monotonic()
        enrolling_from = datetime.now().astimezone()
        enrolled = run_process(*cli, "enroll", "Obama", *sorted((train / "obama").iterdir()))
        assert enrolled.code == 0, enrolled.err
        assert run_process(*cli, "remove", "Biden", "--yes").code == 0
        time.sleep(max(0.0, RUN_S - (time.monotonic() - started)))
    finally:
        for _, process, _, _ in workers:
            process.send_signal(signal.SIGTERM)
        for _, process, _, _ in workers:
            process.wait(timeout=60)
    reports = {camera: json.loads(report.read_text()) for camera, _, report, _ in workers}

    with open_store(db_url, images_dir=home / "images", read_only=True) as store:
        report = store.verify_chain()
        rows = list(store.iter_attempts(AttemptFilter()))
    assert report.ok, report.summary()

    by_id = {row.id: row for row in rows}
    for camera, door in reports.items():
        assert door["unrecorded"] == 0 and door["frames"] > 0
        ids = [d["attempt_id"] for d in door["decisions"]]
        assert None not in ids and len(set(ids)) == len(ids)
        for decision in door["decisions"]:
            row = by_id[decision["attempt_id"]]
            assert (row.camera_id, row.decision, row.person_name) == (
                camera,
                decision["decision"],
                decision["name"],
            )
    counted = Counter(row.camera_id for row in rows)
    assert counted == {camera: len(door["decisions"]) for camera, door in reports.items()}

    for camera in ("front-door", "back-door"):
        granted = {d["name"] for d in reports[camera]["decisions"] if d["decision"] == "granted"}
        assert granted == {"Lin"}, f"{camera} granted {granted}"
    obama = [
        d
        for d in reports["lobby"]["decisions"]
        if d["decision"] == "granted" and d["name"] == "Obama"
    ]
    assert obama, "the lobby never recognised the person enrolled while it ran"
    assert all(datetime.fromisoformat(d["time"]) >= enrolling_from for d in obama)
