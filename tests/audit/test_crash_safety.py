"""Durability: a writer killed with SIGKILL mid-stream loses no committed attempt.

A child process records attempts as fast as it can and prints each id only after
``record_attempt`` has returned (the commit is durable then). The test kills it with SIGKILL
once it has reported a random number of commits — the writer is mid-stream then, whatever the
machine's speed — several times on the same database, and checks that the backend's integrity
check passes (SQLite's; PostgreSQL's amcheck), the audit chain verifies, and every id the writer
reported is in the log. On PostgreSQL the killed client's open transaction is the server's to
roll back, and the head row it had locked is free again for the next writer.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap

from gatekeeper.store import open_store

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gatekeeper.store import open_store

    store = open_store(sys.argv[1], images_dir=Path(sys.argv[2]))
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        attempt_id = store.record_attempt(
            camera_id="door", name=None, person_id=None, distance=0.5 + (i % 7) / 100,
            threshold=0.55, decision="unknown", model_id="dlib_resnet_v1", box=(i % 640, 1, 2, 3),
        )
        sys.stdout.write(f"{attempt_id}\\n")
        sys.stdout.flush()
    """
)


def _run_and_kill(db, images, commits):
    """Run the writer until it has reported ``commits`` commits, kill it; the ids it reported."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(images)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "ready"
    lines = [child.stdout.readline() for _ in range(commits)]
    os.kill(child.pid, signal.SIGKILL)
    out, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert all(lines), "the writer stopped before it was killed"
    return {int(line) for line in "".join(lines).split() + out.split()}


def test_sigkill_never_loses_a_reported_commit(tmp_path, database):
    db, images = database.url, tmp_path / "images"
    open_store(db, images_dir=images).close()
    rng = random.Random(7)
    reported: set[int] = set()
    for _ in range(5):
        reported |= _run_and_kill(db, images, rng.randint(20, 400))

    with database.raw() as raw:
        stored = {row[0] for row in raw.execute("SELECT id FROM attempt").fetchall()}
    assert reported <= stored
    store = open_store(db, images_dir=images)
    assert store.integrity_problems() == []
    assert not store.integrity_check().startswith("none")
    report = store.verify_chain()
    store.close()
    assert report.ok, report.summary()
