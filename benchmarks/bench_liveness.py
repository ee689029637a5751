"""Liveness speed: ms per face for the passive check (both MiniFASNets), crops included.

On the MTCNN faces of the shared liveness frames (``liveness/``, 640×480 and larger camera
frames), prints the median over ``--repeat`` runs of:

- the two crops alone (:func:`~gatekeeper.vision.liveness.liveness_crops`: mapped box, 2.7× and
  4× regions, resized to 80×80);
- :meth:`LivenessScorer.score` for one face (what the console pays on a deciding frame: both
  models at batch 1, crops and softmax included), and per face for 4 faces at once;
- the first call (graph tracing, paid once at the console's warm-up) and the load time.

    python benchmarks/bench_liveness.py [--data ../shared/data] [--repeat 50]

Target (issue 9): at most 15 ms per face on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

from gatekeeper.vision.detect import FaceDetector
from gatekeeper.vision.image import load_image
from gatekeeper.vision.liveness import LivenessScorer, liveness_crops


def timed(call, repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    detector = FaceDetector()
    faces = []
    with open(args.data / "liveness" / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            rgb = load_image(args.data / "liveness" / row["file"])
            found = detector.detect(rgb)
            if found:
                faces.append((rgb, found[0]))
    start = time.perf_counter()
    scorer = LivenessScorer()
    loaded = time.perf_counter() - start
    rgb, face = faces[0]
    start = time.perf_counter()
    scorer.score(rgb, [face])
    first = time.perf_counter() - start

    def each(call) -> float:
        return statistics.median(timed(lambda r=r, f=f: call(r, f), args.repeat) for r, f in faces)

    crop_ms = 1000 * each(lambda r, f: liveness_crops(r, f))
    one_ms = 1000 * each(lambda r, f: scorer.score(r, [f]))
    four_ms = 1000 * each(lambda r, f: scorer.score(r, [f] * 4)) / 4
    print(f"{len(faces)} faces of the liveness frames, median of {args.repeat} runs each")
    print(f"load (both models, sha256 + .pth read) {loaded:.2f} s; first call {first:.2f} s")
    print(f"crops (both)                  {crop_ms:6.2f} ms/face")
    print(f"score, 1 face  (crops + both)  {one_ms:6.2f} ms/face   target <= 15 ms")
    print(f"score, 4 faces (crops + both)  {four_ms:6.2f} ms/face")


if __name__ == "__main__":
    main()
