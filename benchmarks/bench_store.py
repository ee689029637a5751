"""Store benchmarks: durable chained inserts, CSV export and chain verification at scale.

Targets: >= 1,000 durable attempt inserts/s (one transaction each, WAL + synchronous=FULL, hash
chain); export of 1,000,000 attempts in <= 15 s with peak RSS < 200 MB; ``verify_chain`` over
1,000,000 rows in <= 10 s (measured with the default worker processes and in one process).
Export and verification each run in a fresh process so their peak RSS is their own.

    .venv/bin/python benchmarks/bench_store.py [--rows 1000000] [--inserts 2000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gatekeeper.store import AttemptFilter, NewAttempt, export_csv, open_store

CAMERAS = ("front-door", "back-door", "garage")
PEOPLE = ("José Núñez", "王小明", "Alice", "=SUM(1+1)")
BATCH = 50_000


def _synthetic(count: int, start: datetime) -> Iterator[NewAttempt]:
    """Plausible attempts, one every 0.5 s from ``start``: a third unknown, the rest granted."""
    for i in range(count):
        known = i % 3 != 0
        yield NewAttempt(
            camera_id=CAMERAS[i % len(CAMERAS)],
            decision="granted" if known else "unknown",
            threshold=0.6,
            model_id="dlib_resnet_v1",
            name=PEOPLE[i % len(PEOPLE)] if known else None,
            distance=0.3 + (i % 97) / 1000 if known else 0.8 + (i % 89) / 1000,
            box=(100 + i % 50, 80 + i % 40, 120, 120),
            time=start + timedelta(seconds=i / 2),
        )


def bulk_load(database: str, images: Path, rows: int) -> float:
    """Append ``rows`` chained attempts in batches of ``BATCH``; returns seconds taken."""
    began = time.perf_counter()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    generator = _synthetic(rows, start)
    with open_store(database, images_dir=images) as store:
        loaded = 0
        while loaded < rows:
            loaded += store.record_attempts(itertools.islice(generator, BATCH))
    return time.perf_counter() - began


def durable_inserts(database: str, images: Path, count: int) -> float:
    """Record ``count`` attempts one transaction each; returns inserts per second."""
    with open_store(database, images_dir=images) as store:
        began = time.perf_counter()
        for i in range(count):
            store.record_attempt(
                camera_id="front-door",
                name="Alice",
                person_id=None,
                distance=0.42,
                threshold=0.6,
                decision="granted",
                model_id="dlib_resnet_v1",
                box=(10, 20, 100, 100 + i % 7),
            )
        return count / (time.perf_counter() - began)


def fsync_rate(folder: Path, count: int = 500) -> float:
    """The disk's raw rate of 4 KiB write + fdatasync pairs per second: roughly the ceiling
    for durable one-transaction-per-row inserts (SQLite syncs the WAL once per commit, with
    fdatasync on Linux)."""
    path = folder / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        began = time.perf_counter()
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
        return count / (time.perf_counter() - began)
    finally:
        os.close(fd)
        path.unlink()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _export(database: str, images: Path, out: Path, queue: multiprocessing.Queue) -> None:
    with open_store(database, images_dir=images) as store:
        began = time.perf_counter()
        with open(out, "w", encoding="utf-8", newline="") as file:
            rows = export_csv(store, AttemptFilter(), file)
        queue.put((rows, time.perf_counter() - began, _peak_rss_mb()))


def _verify(database: str, images: Path, workers: int | None, queue: multiprocessing.Queue) -> None:
    with open_store(database, images_dir=images) as store:
        began = time.perf_counter()
        report = store.verify_chain(workers=workers)
        queue.put((report.summary(), time.perf_counter() - began, _peak_rss_mb()))


def _in_child(target: object, *args: object) -> tuple:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="attempts to bulk-load")
    parser.add_argument("--inserts", type=int, default=2000, help="durable single inserts")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        images = work / "images"
        ceiling = fsync_rate(work)
        rate = durable_inserts(str(work / "inserts.db"), images, args.inserts)
        print(
            f"durable chained inserts: {rate:,.0f}/s ({args.inserts} one-row transactions; "
            f"the disk does {ceiling:,.0f} raw syncs/s)"
        )

        database = str(work / "big.db")
        seconds = bulk_load(database, images, args.rows)
        size_mb = Path(database).stat().st_size / 2**20
        print(f"bulk load: {args.rows:,} attempts in {seconds:.1f} s ({size_mb:.0f} MB database)")

        rows, seconds, rss = _in_child(_export, database, images, work / "export.csv")
        print(f"export: {rows:,} rows in {seconds:.1f} s, peak RSS {rss:.0f} MB")

        for workers, label in ((None, "default workers"), (1, "one process")):
            summary, seconds, rss = _in_child(_verify, database, images, workers)
            print(f"verify_chain ({label}): {summary} in {seconds:.1f} s, peak RSS {rss:.0f} MB")
    print(f"load average {os.getloadavg()[0]:.1f} at end (other processes share the CPUs)")


if __name__ == "__main__":
    main()
