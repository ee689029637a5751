"""1:N matching speed: median milliseconds per single query against 10k / 100k / 1M templates.

Random float32 128-d embeddings (scaled like dlib's, norms ≈ 1.4), 5 templates per person.
Targets: ≤ 1 ms at 10k, ≤ 5 ms at 100k, ≤ 50 ms at 1M templates. Run from the project root::

    .venv/bin/python benchmarks/bench_matching.py [--repeats 50] [--sizes 10000 100000 1000000]

The 1M gallery needs about 1 GB of memory while it is built (512 MB once built). A single query
is one memory-bound matrix-vector product; on a machine whose cores are busy with other work,
OpenBLAS's multithreaded product can stall for a scheduling quantum (medians near 8 ms even at
10k templates) — compare with ``OPENBLAS_NUM_THREADS=1``, which is slower on an idle machine but
steady on a loaded one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from gatekeeper.recognition import EMBEDDING_DIM, Gallery

MODEL_ID = "bench"
TEMPLATES_PER_PERSON = 5
TARGET_MS = {10_000: 1.0, 100_000: 5.0, 1_000_000: 50.0}
#: Per-coordinate standard deviation giving norms ≈ 1.4 in 128-d, like dlib embeddings.
SCALE = 1.4 / np.sqrt(EMBEDDING_DIM)


def bench(size: int, repeats: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Build a gallery of ``size`` templates; return (build s, median ms, p90 ms) per query."""
    person_ids = np.repeat(np.arange(size // TEMPLATES_PER_PERSON), TEMPLATES_PER_PERSON)
    embeddings = rng.standard_normal((size, EMBEDDING_DIM), dtype=np.float32) * SCALE
    names = [f"person{i}" for i in person_ids]
    start = time.perf_counter()
    gallery = Gallery(names, embeddings, model_id=MODEL_ID, person_ids=person_ids.tolist())
    build_s = time.perf_counter() - start
    del embeddings
    queries = rng.standard_normal((repeats + 3, EMBEDDING_DIM), dtype=np.float32) * SCALE
    for query in queries[:3]:  # warm-up: page in the gallery, load BLAS kernels
        gallery.match(query, model_id=MODEL_ID)
    timings_ms = []
    for query in queries[3:]:
        start = time.perf_counter()
        gallery.match(query, model_id=MODEL_ID)
        timings_ms.append((time.perf_counter() - start) * 1000)
    p90 = statistics.quantiles(timings_ms, n=10)[-1]
    return build_s, statistics.median(timings_ms), p90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed queries per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(TARGET_MS))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"numpy {np.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
        f"{args.repeats} single queries per size"
    )
    print(f"{'templates':>10} {'build s':>8} {'median ms':>10} {'p90 ms':>8} {'target ms':>10}")
    for size in args.sizes:
        build_s, median_ms, p90_ms = bench(size, args.repeats, rng)
        target = TARGET_MS.get(size)
        verdict = "" if target is None else ("ok" if median_ms <= target else "SLOW")
        print(
            f"{size:>10,} {build_s:>8.2f} {median_ms:>10.2f} {p90_ms:>8.2f} "
            f"{target if target is not None else '-':>10} {verdict}"
        )


if __name__ == "__main__":
    main()
