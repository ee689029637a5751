"""What the audit anchor (``gatekeeper/anchor.py``) costs: the durable attempt rate with and
without an anchor file kept every 100 attempts, one anchor-file append (write + fsync), and
``audit verify`` of a chain against many kept heads.

Figures printed (no timed asserts): attempts a second, one committed transaction each (SQLite,
``synchronous=FULL``), medians of ``--runs`` interleaved runs of each configuration, with the
load average; what one commit notification costs the committing thread; the median and 95th
percentile of an append; the verify times with no kept heads and with ``--kept`` of them.
``--dir`` is where the database and the anchor file go (default: a temporary folder; the
figures depend on its disk's fsync).

    .venv/bin/python benchmarks/bench_anchor.py [--dir /var/tmp] [--runs 3] [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gatekeeper.anchor import AnchorPublisher, AnchorSpec, append_line, head_line
from gatekeeper.store import NewAttempt, Store, open_store
from gatekeeper.store.audit import KeptHead

KEY = "bench-anchor-key-0123456789"
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _attempt(i: int) -> NewAttempt:
    return NewAttempt(
        camera_id="front-door",
        decision="unknown",
        threshold=0.6,
        model_id="dlib_resnet_v1",
        distance=0.8 + (i % 100) / 1000,
        box=(10, 20, 100, 110),
        time=START + timedelta(milliseconds=i),
    )


def attempt_rate(folder: Path, count: int, anchored: bool) -> float:
    """Attempts a second, each in its own transaction, into a new database in ``folder``."""
    database = folder / f"rate-{time.monotonic_ns()}.db"
    store = open_store(str(database), images_dir=folder / "images", audit_key=KEY)
    publisher = None
    if anchored:
        spec = AnchorSpec(file=folder / f"heads-{database.stem}.jsonl", every_attempts=100)
        publisher = AnchorPublisher(spec, store)
        store.on_commit(publisher.committed)
        publisher.start()
    began = time.perf_counter()
    for i in range(count):
        store.record_attempts([_attempt(i)])
    elapsed = time.perf_counter() - began
    if publisher is not None:
        publisher.close()
    store.close()
    return count / elapsed


def listener_cost(folder: Path, calls: int = 100_000) -> float:
    """Microseconds one commit notification costs the committing thread (the publisher's
    ``committed``, never due here)."""
    with open_store(str(folder / "listener.db"), images_dir=folder / "images") as store:
        spec = AnchorSpec(file=folder / "listener.jsonl", every_attempts=10**9)
        publisher = AnchorPublisher(spec, store)
        publisher.start()
        began = time.perf_counter()
        for _ in range(calls):
            publisher.committed(1, 0)
        elapsed = time.perf_counter() - began
        publisher.close()
    return elapsed / calls * 1e6


def append_times(folder: Path, count: int) -> list[float]:
    """Milliseconds of each of ``count`` anchor-file appends."""
    keep = folder / "append.jsonl"
    with open_store(str(folder / "append.db"), images_dir=folder / "images") as store:
        head = store.chain_head()
    times = []
    for _ in range(count):
        began = time.perf_counter()
        append_line(keep, head_line(head, datetime.now(UTC)))
        times.append((time.perf_counter() - began) * 1000)
    return times


def verify_times(folder: Path, rows: int, kept: int) -> tuple[float, float]:
    """Seconds to verify a chain of ``rows`` attempts alone, then against ``kept`` heads."""
    store: Store = open_store(
        str(folder / "verify.db"), images_dir=folder / "images", audit_key=KEY
    )
    heads = []
    step = max(1, rows // kept)
    for first in range(0, rows, step):
        store.record_attempts(_attempt(i) for i in range(first, min(rows, first + step)))
        head = store.chain_head()
        heads.append(KeptHead(head.seq, head.hash, head.signature, f"line {len(heads) + 1}"))
    began = time.perf_counter()
    assert store.verify_chain(workers=1).ok
    alone = time.perf_counter() - began
    began = time.perf_counter()
    assert store.verify_chain(workers=1, anchor=heads).ok
    anchored = time.perf_counter() - began
    store.close()
    return alone, anchored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where the databases and anchor files go")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--attempts", type=int, default=2000, help="attempts per rate run")
    parser.add_argument("--rows", type=int, default=100_000, help="chain length to verify")
    parser.add_argument("--kept", type=int, default=10_000, help="kept heads to verify against")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as name:
        folder = Path(name)
        rates: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.runs):
            for anchored in (False, True):
                rates[anchored].append(attempt_rate(folder, args.attempts, anchored))
        load = os.getloadavg()[0]
        print(f"folder {folder} (load average {load:.1f})")
        for anchored, label in ((False, "no anchor"), (True, "anchor file every 100")):
            figures = ", ".join(f"{rate:,.0f}" for rate in rates[anchored])
            print(
                f"durable attempts/s, {label}: median {statistics.median(rates[anchored]):,.0f}"
                f" ({figures})"
            )
        print(f"commit notification: {listener_cost(folder):.2f} µs on the committing thread")
        times = sorted(append_times(folder, 200))
        print(
            f"anchor-file append (write + fsync): median {statistics.median(times):.2f} ms, "
            f"p95 {times[int(len(times) * 0.95)]:.2f} ms"
        )
        alone, anchored = verify_times(folder, args.rows, args.kept)
        print(
            f"verify {args.rows:,} rows: {alone:.2f} s alone, {anchored:.2f} s against "
            f"{args.kept:,} kept heads"
        )


if __name__ == "__main__":
    main()
