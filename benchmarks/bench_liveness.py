"""Liveness speed: ms per face for the passive check (both MiniFASNets), crops included.

On the MTCNN faces of the shared liveness frames (``liveness/``, 640×480 and larger camera
frames), prints the median over ``--repeat`` runs of:

- the two crops alone (:func:`~gatekeeper.vision.liveness.liveness_crops`: mapped box, 2.7× and
  4× regions, resized to 80×80);
- :meth:`LivenessScorer.score` for one face (what the console pays on a deciding frame: both
  models at batch 1, crops and softmax included), and per face for 4 faces at once;
- the first call (graph tracing, paid once at the console's warm-up) and the load time.

With ``--clip``, also what the check costs a real person: every frame of the shared video clip,
each quality-gated face within dlib's 0.60 of Lin's enrolment photo (``faces/probe/
lin-manuel-miranda.png``) scored, and the faces below the shipped threshold (the README's clip
BPCER).

    python benchmarks/bench_liveness.py [--data ../shared/data] [--repeat 50] [--clip]

Target (issue 9): at most 15 ms per face on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

from gatekeeper.config import Settings
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
    parser.add_argument("--clip", action="store_true", help="also Lin's faces in the clip")
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
    if args.clip:
        clip_bpcer(args.data, scorer)


def clip_bpcer(data: Path, scorer: LivenessScorer) -> None:
    """Print how many of Lin's recognised faces in the clip the shipped threshold rejects."""
    import tempfile

    import cv2
    import numpy as np

    from gatekeeper.vision.engine import FaceEngine
    from gatekeeper.vision.quality import quality_issue

    threshold = Settings().liveness_threshold
    with tempfile.TemporaryDirectory() as weights:
        engine = FaceEngine(weights, fetch_weights=False)
        lin = engine.single(data / "faces" / "probe" / "lin-manuel-miranda.png").embedding
        video = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
        frames, scores = 0, []
        while True:
            ok, bgr = video.read()
            if not ok:
                break
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            faces = [f for f in engine.detect(rgb, pad_retry=False) if quality_issue(f) is None]
            live = scorer.score(rgb, faces)
            for face, score in zip(engine.embed_faces(rgb, faces), live, strict=True):
                if np.linalg.norm(face.embedding - lin) <= 0.60:
                    scores.append((frames, float(score)))
            frames += 1
    rejected = [(frame, round(score, 3)) for frame, score in scores if score < threshold]
    print(
        f"clip: {frames} frames, {len(scores)} faces of Lin; below {threshold}: "
        f"{len(rejected)} ({100 * len(rejected) / len(scores):.1f} %) {rejected}"
    )


if __name__ == "__main__":
    main()
