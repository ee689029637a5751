"""Several real processes on one database: writers, readers, enrol/remove, no lock errors.

Mirrors the console's worker (recording attempts) running beside CLI commands in other
processes (``export``, ``log``, ``enroll``, ``remove``): within the busy timeout nobody sees
"database is locked", no write is lost, and the audit chain still verifies — on a SQLite file
and on a PostgreSQL database, which processes on several hosts would share the same way.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import numpy as np

from gatekeeper.config import Settings
from gatekeeper.site import Site
from gatekeeper.store import AttemptFilter, open_store

PRELUDE = """
import io, sys
from pathlib import Path
import numpy as np
from gatekeeper.store import AttemptFilter, export_csv, open_store
store = open_store(sys.argv[1], images_dir=Path(sys.argv[2]))
"""

WRITER = """
for i in range(250):
    store.record_attempt(camera_id=sys.argv[3], name=None, person_id=None, distance=0.7,
                         threshold=0.55, decision="unknown", model_id="dlib_resnet_v1", box=None)
"""

READER = r"""
for i in range(15):
    out = io.StringIO()
    rows = export_csv(store, AttemptFilter(), out)
    assert out.getvalue().count("\r\n") == rows + 1  # header + one line per attempt
    page = store.query_attempts(AttemptFilter(), limit=50)
    keys = [(a.time, a.id) for a in page]  # an attempt's time is taken before its commit
    assert len(page) <= 50 and keys == sorted(keys, reverse=True)
"""

WORKER = """
import os
count = 0
while not os.path.exists(os.environ["STOP_FILE"]):
    store.record_attempt(camera_id="door", name=None, person_id=None, distance=0.7,
                         threshold=0.55, decision="unknown", model_id="dlib_resnet_v1", box=None)
    count += 1
print(count)
"""

ENROLLER = """
rng = np.random.default_rng(int(sys.argv[3]))
for i in range(20):
    name = f"visitor-{sys.argv[3]}-{i}"
    store.add_encoding(name, model_id="dlib_resnet_v1",
                       embedding=rng.normal(size=128).astype(np.float32),
                       image_sha256=f"{i:064x}", photo=b"jpeg bytes", photo_ext=".jpg")
    if i % 2:
        store.remove_person(name)
"""


def _spawn(code, db, images, arg):
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PRELUDE) + textwrap.dedent(code), db, images, arg],
        stderr=subprocess.PIPE,
        text=True,
    )


def _recording_worker(db, images, stop):
    """A process recording attempts in a tight loop until ``stop`` exists; prints how many."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PRELUDE) + textwrap.dedent(WORKER), db, images],
        env={**os.environ, "STOP_FILE": str(stop)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_writers_readers_and_enrolment_in_parallel_processes(tmp_path, database):
    db, images = database.url, str(tmp_path / "images")
    open_store(db, images_dir=tmp_path / "images").close()
    children = [
        _spawn(WRITER, db, images, "door-a"),
        _spawn(WRITER, db, images, "door-b"),
        _spawn(READER, db, images, "-"),
        _spawn(ENROLLER, db, images, "1"),
        _spawn(ENROLLER, db, images, "2"),
    ]
    for child in children:
        _, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        assert "locked" not in err

    store = open_store(db, images_dir=tmp_path / "images")
    assert store.count_attempts(AttemptFilter(camera="door-a")) == 250
    assert store.count_attempts(AttemptFilter(camera="door-b")) == 250
    people = {p.name for p in store.list_people()}
    assert people == {f"visitor-{k}-{i}" for k in (1, 2) for i in range(0, 20, 2)}
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(people)
    report = store.verify_chain()
    store.close()
    assert report.ok, report.summary()


def test_a_writer_gets_its_turn_beside_one_committing_in_a_tight_loop(tmp_path, database):
    """A process recording attempts as fast as it can frees the write lock only for moments
    between its transactions; another process's writes still get their turn well within a
    one-second busy timeout, every time (SQLite's own busy handler, trying ten times a second,
    missed those moments for seconds)."""
    db, images = database.url, str(tmp_path / "images")
    open_store(db, images_dir=tmp_path / "images").close()
    stop = tmp_path / "stop"
    worker = _recording_worker(db, images, stop)
    try:
        with open_store(db, images_dir=tmp_path / "images") as store:
            while store.count_attempts(AttemptFilter(camera="door")) < 200:
                assert worker.poll() is None, worker.communicate()[1]
        for i in range(30):  # as CLI commands do: open, write one event, close
            with open_store(db, images_dir=tmp_path / "images", busy_timeout_s=1.0) as store:
                store.log_admin_event("export", f"turn {i}")
        assert worker.poll() is None, "the worker stopped before the other writer was done"
    finally:
        stop.touch()
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    with open_store(db, images_dir=tmp_path / "images") as store:
        assert store.count_attempts(AttemptFilter(camera="door")) == int(out)
        report = store.verify_chain()
    assert report.ok, report.summary()


def test_gallery_swaps_atomically_and_sees_other_processes(tmp_path, database):
    """A matcher thread never sees a half-updated gallery while people come and go, and a
    person enrolled by another process is matched without a restart."""
    settings = Settings(home=tmp_path, db=database.url)
    gatekeeper = Site.open(settings)
    rng = np.random.default_rng(3)
    alice = rng.normal(size=128).astype(np.float32)
    gatekeeper.store.add_encoding(
        "alice", model_id=gatekeeper.model_id, embedding=alice, image_sha256="a" * 64
    )
    problems: list[str] = []
    stop = threading.Event()

    def matcher():
        while not stop.is_set():
            gallery, active = gatekeeper.recognition.gallery()
            ((match, decision),) = gatekeeper.recognition.match_embeddings(alice[None])
            if match.name != "alice" or decision != "granted" or not active:
                problems.append(f"{match.name} {decision}")

    thread = threading.Thread(target=matcher)
    thread.start()
    try:
        for i in range(30):
            name = f"guest{i}"
            vector = rng.normal(size=128).astype(np.float32)
            gatekeeper.store.add_encoding(
                name, model_id=gatekeeper.model_id, embedding=vector, image_sha256=f"{i:064x}"
            )
            gatekeeper.store.remove_person(name)
    finally:
        stop.set()
        thread.join()
    assert problems == []

    bob = rng.normal(size=128).astype(np.float32)
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(
        f"""
        store.add_encoding("bob", model_id="dlib_resnet_v1",
                           embedding=np.array({bob.tolist()}, dtype=np.float32),
                           image_sha256="b" * 64)
        """
    )
    subprocess.run(
        [sys.executable, "-c", code, settings.database, str(settings.images_dir)], check=True
    )
    ((match, decision),) = gatekeeper.recognition.match_embeddings(bob[None])
    assert (match.name, decision) == ("bob", "granted")
    gatekeeper.close()


def test_cli_commands_beside_a_recording_worker(tmp_path, weights_dir, shared_data, database):
    """The console's worker records attempts while an operator runs ``enroll``, ``log``,
    ``export`` and ``remove`` in other processes: every command succeeds, nothing is lost."""
    home = tmp_path / "site"
    shutil.copytree(weights_dir, home / "weights")
    db, images = database.url, str(home / "images")
    open_store(db, images_dir=home / "images").close()
    stop = tmp_path / "stop"
    worker = _recording_worker(db, images, stop)

    def gatekeeper(*args):
        return subprocess.run(
            [sys.executable, "-m", "gatekeeper", "--home", str(home), "--db", db, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=240,
        )

    photo = shared_data / "faces" / "train" / "obama" / "obama.jpg"
    commands = [
        ("enroll", "Barack", photo),
        ("log", "--limit", "20", "--json"),
        ("export", tmp_path / "log.csv"),
        ("people", "--json"),
        ("remove", "Barack", "--yes"),
        ("export", "-"),
    ]
    results = [gatekeeper(*command) for command in commands]
    stop.touch()
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    recorded = int(out)
    for command, result in zip(commands, results, strict=True):
        assert result.returncode == 0, (command, result.stderr)
        assert "locked" not in result.stderr
    assert json.loads(results[3].stdout)[0]["name"] == "Barack"
    with open(tmp_path / "log.csv", encoding="utf-8", newline="") as f:
        assert len(list(csv.reader(f))) >= 2  # header and the worker's rows so far

    store = open_store(db, images_dir=home / "images")
    assert recorded > 100  # the worker kept writing while the commands ran
    assert store.count_attempts(AttemptFilter(camera="door")) == recorded
    assert store.list_people() == [] and not (home / "images" / "Barack").exists()
    report = store.verify_chain()
    store.close()
    assert report.ok, report.summary()
