"""Both store backends side by side: what several entrances on one database cost.

Prints, for SQLite (a file) and PostgreSQL (a server):

- durable chained inserts per second (one attempt per transaction, as a door records them)
  with 1 and with 4 writer processes at once (target on PostgreSQL: >= 1,000/s in total with
  4 writers);
- the time to load a gallery of 100,000 templates (what a console does at start and after
  every enrolment anywhere);
- ``gatekeeper db copy`` of a site with 1,000,000 attempts from SQLite to PostgreSQL: time and
  the copying process's peak memory, beside a copy of 100,000 to show memory stays flat;
- ``audit verify`` of those 1,000,000 rows on PostgreSQL (target <= 10 s).

PostgreSQL: ``--postgres URL`` names a server whose role may create databases (each
measurement gets a fresh database, dropped afterwards); without it a throwaway cluster is
started as the tests do (``tests/postgres.py``).

    .venv/bin/python benchmarks/bench_backends.py [--postgres URL] [--attempts 1000000]
        [--templates 100000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from bench_store import bulk_load
from peewee import chunked

from gatekeeper.store import open_store
from gatekeeper.store.models import FaceEncoding, Person, utc_now

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator:
    """The server to measure on: ``url``'s, or a throwaway cluster for the run (the tests'
    ``postgres_server``, which also reads ``GATEKEEPER_TEST_POSTGRES_URL``)."""
    import postgres

    if url is not None:
        yield postgres.Server(url, url)
        return
    with postgres.postgres_server() as server:
        if isinstance(server, str):
            raise SystemExit(f"bench_backends: {server}")
        yield server


def _writer(url: str, images: str, seconds: float, start, counts) -> None:
    """One door's worth of writing: ``record_attempt`` in a loop for ``seconds``."""
    with open_store(url, images_dir=Path(images)) as store:
        start.wait()
        done, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            store.record_attempt(
                camera_id=f"door-{multiprocessing.current_process().name}",
                name=None,
                person_id=None,
                distance=0.8,
                threshold=0.6,
                decision="unknown",
                model_id="dlib_resnet_v1",
                box=(10, 20, 100, 100),
            )
            done += 1
        counts.put(done)


def inserts_per_second(url: str, images: Path, writers: int, seconds: float) -> float:
    """Total durable chained inserts per second with ``writers`` processes on ``url``."""
    open_store(url, images_dir=images).close()
    context = multiprocessing.get_context("spawn")
    start, counts = context.Event(), context.Queue()
    processes = [
        context.Process(target=_writer, args=(url, str(images), seconds, start, counts))
        for _ in range(writers)
    ]
    for process in processes:
        process.start()
    time.sleep(2.0)  # every writer connected and waiting
    start.set()
    total = sum(counts.get(timeout=seconds + 120) for _ in processes)
    for process in processes:
        process.join()
    with open_store(url, images_dir=images, read_only=True) as store:
        assert store.verify_chain().ok, "the writers broke the chain"
    return total / seconds


def gallery_load_s(url: str, images: Path, templates: int) -> float:
    """Seconds ``Store.gallery`` takes for ``templates`` templates (10 per person; best of 3).
    The rows are written straight through the models: the load, not enrolment, is measured."""
    rng = np.random.default_rng(7)
    with open_store(url, images_dir=images) as store:
        db, now = store.db, utc_now()
        with db.atomic():
            people = [
                {"name": f"person {i:06d}", "display_name": f"person {i:06d}", "created": now}
                for i in range(templates // 10)
            ]
            for batch in chunked(people, 1000):
                Person.insert_many(batch).bind(db).execute()
            ids = [p.id for p in Person.select(Person.id).order_by(Person.id).bind(db)]
            rows = (
                {
                    "person": ids[i // 10],
                    "model_id": "dlib_resnet_v1",
                    "embedding": rng.normal(size=128).astype("<f4").tobytes(),
                    "image_sha256": f"{i:064x}",
                    "created": now,
                }
                for i in range(templates)
            )
            for batch in chunked(rows, 1000):
                FaceEncoding.insert_many(batch).bind(db).execute()
            store.dialect.after_bulk_copy(db, [Person, FaceEncoding])  # statistics, as after a copy
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            loaded = store.gallery("dlib_resnet_v1")
            best = min(best, time.perf_counter() - began)
        assert loaded.embeddings.shape == (templates, 128)
    return best


#: Runs ``gatekeeper ARGV`` and prints the process's peak RSS in kB (``VmHWM``: counted from
#: its own start, not including the parent's pages it shared between fork and exec).
_MEASURED = """
import sys
from gatekeeper.cli import main
status = main(sys.argv[1:])
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(peak.split()[1], file=sys.stderr)
sys.exit(status)
"""


def _command(*argv: str) -> tuple[float, float]:
    """Run ``gatekeeper ARGV`` in a child process: (seconds, that process's peak RSS in MB)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *argv],
        stdout=subprocess.DEVNULL,
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"gatekeeper {' '.join(argv)} failed: {done.stderr}")
    return seconds, int(done.stderr.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--templates", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch, postgres_server(args.postgres) as server:
        folder = Path(scratch)
        images = folder / "images"
        fresh = iter(range(1, 1000))

        def sqlite_url() -> str:
            return str(folder / f"site-{next(fresh)}.db")

        backends = {"SQLite": sqlite_url, "PostgreSQL": server.create_database}
        print(f"durable chained inserts ({args.seconds:g} s each; one attempt per transaction)")
        for label, make in backends.items():
            for writers in (1, 4):
                rate = inserts_per_second(make(), images, writers, args.seconds)
                print(
                    f"  {label:<10} {writers} writer{'s' if writers > 1 else ' '}  {rate:8,.0f}/s"
                )

        print(f"gallery load, {args.templates:,} templates")
        for label, make in backends.items():
            seconds = gallery_load_s(make(), images, args.templates)
            print(f"  {label:<10} {seconds * 1000:8.0f} ms")

        print("db copy SQLite -> PostgreSQL (time, copying process's peak RSS)")
        for rows in (args.attempts // 10, args.attempts):
            source = sqlite_url()
            bulk_load(source, images, rows)
            target = server.create_database()
            seconds, peak = _command("--home", scratch, "db", "copy", source, target)
            print(f"  {rows:>9,} attempts  {seconds:6.1f} s  {peak:6.0f} MB")
        with open_store(target, images_dir=images, read_only=True) as store:
            began = time.perf_counter()
            report = store.verify_chain()
            seconds = time.perf_counter() - began
        assert report.ok, report.summary()
        print(f"audit verify on PostgreSQL, {report.rows_checked:,} rows: {seconds:.1f} s")


if __name__ == "__main__":
    main()
