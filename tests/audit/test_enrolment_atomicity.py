"""One enrolment command is one transaction: a full disk or a SIGKILL part-way through stores
all of it or nothing — no encoding, kept photo or temporary file of a half-done one — and the
audit chain verifies.

The kills are placed, not timed: the enrolling process pauses at a chosen call of the store
(the fsync of its second photo, before the commit; its first rename, after it) and is killed
there.
"""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ENCODERS, fill, small_filesystem

from gatekeeper.config import Settings
from gatekeeper.errors import StoreError
from gatekeeper.site import Site
from gatekeeper.store import open_store


@pytest.fixture
def rose(shared_data: Path) -> list[Path]:
    """Two photos of Rose Leslie."""
    return sorted((shared_data / "faces" / "train" / "rose_leslie").iterdir())


def _home(root: Path, weights_dir: Path) -> Path:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "weights").symlink_to(weights_dir, target_is_directory=True)
    return home


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_enrolment_on_a_full_disk_stores_nothing(engine, weights_dir, tmp_path, rose, database):
    settings = Settings(home=_home(tmp_path, weights_dir), db=database.url)
    first, second = (photo.stat().st_size for photo in rose)
    assert second > first
    with (
        small_filesystem(settings.images_dir, 1024) as images,
        Site.open(settings, engine=engine) as site,
    ):
        fill(images, leave=first + (second - first) // 2)  # room for the first photo only
        with pytest.raises(StoreError, match="No space left on device"):
            site.people.enrol("rose", rose)
        assert site.store.get_person("rose") is None
        report = site.store.verify_chain()
        assert report.ok, report.summary()
        assert _files(images) == ["filler"]


ENROLLER = textwrap.dedent(
    """
    import os, sys, types
    from gatekeeper import cli
    from gatekeeper.store import encodings

    calls = {"fsync": 0, "replace": 0}
    stop = (sys.argv[1], int(sys.argv[2]))

    def pausing(name):
        def call(*args):
            calls[name] += 1
            if (name, calls[name]) == stop:
                print("paused", flush=True)
                sys.stdin.read()
            return getattr(os, name)(*args)

        return call

    encodings.os = types.SimpleNamespace(
        **{**vars(os), "fsync": pausing("fsync"), "replace": pausing("replace")}
    )
    sys.exit(cli.main(sys.argv[3:]))
    """
)


@pytest.mark.parametrize(
    ("stop", "on_disk", "kept"),
    [
        (("fsync", 2), [".{0}.tmp", ".{1}.tmp"], 0),  # both photos written, not committed
        (("replace", 1), [".{0}.tmp", ".{1}.tmp"], 2),  # committed, no photo renamed yet
    ],
    ids=["before the commit", "after the commit"],
)
def test_enrolment_killed_part_way_is_all_or_nothing(
    weights_dir, tmp_path, rose, stop, on_disk, kept, database
):
    home = _home(tmp_path, weights_dir)
    argv = [*map(str, stop), "--home", str(home), "--db", database.url, "enroll", "rose"]
    argv += map(str, rose)
    child = subprocess.Popen(
        [sys.executable, "-c", ENROLLER, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        paused = child.stdout.readline()
        assert paused == "paused\n", child.communicate()[1]
        photos = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}{p.suffix}" for p in rose]
        folder = home / "images" / "rose"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            name.format(*photos) for name in on_disk
        )
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == -signal.SIGKILL

    with open_store(database.url, images_dir=home / "images") as store:
        person = store.get_person("rose")
        counts = (0, 0) if person is None else (person.photos, person.encodings)
        assert counts == (kept, len(ENCODERS) * kept), "one encoding per photo and encoder"
        assert all(photo.path.is_file() for photo in store.list_photos())
        report = store.verify_chain()
        assert report.ok, report.summary()
        assert store.integrity_problems() == []
    assert _files(home / "images") == sorted(f"rose/{name}" for name in photos[:kept])
