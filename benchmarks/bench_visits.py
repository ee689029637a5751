"""A decision per visit, measured: on the shared clip through the live worker, and on visits
made of camera-session stills of the validation corpus; and what the shipped rule costs per
face and per visit.

1. **The clip** (``../shared/data/video/short_hamilton_clip.mp4``), every frame replayed from a
   folder in step with the worker, with the tutorial's folder, Lin and Alex enrolled, at a
   recognition interval of 0.5 s so that each of Lin's two visits (frames 0–19, a 38-pixel
   face; frames 82–210) can be granted on its own: which of Lin's visits are granted, who else
   is granted (nobody may be), the capture → decision latency and the time the worker spends
   per frame.
2. **Visits from stills**: the corpus's camera sources (ORL, Extended Yale B) hold several
   photos of each person taken in one session, as frames of a visit are. Each person is
   enrolled from one photo; their other photos, five at a time, make visits. A genuine visit
   is judged with its person enrolled, an impostor visit with its person removed from the
   gallery (its nearest stranger then decides). Per frame (each photo alone, granted when any
   photo is) against per visit (the quality-weighted mean of the five, as the live worker
   aggregates): FRR and FAR per visit.
3. **Cost** of the shipped rule's encoders on one face (align/crop + encode) and of the rule's
   matching over the gallery, per face; a visit costs its frames.

    .venv/bin/python benchmarks/bench_visits.py [--data ../shared/data] [--weights weights]
        [--cache /work/validation/measures.npz]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from bench_heldout import MODEL_IDS
from corpus import CACHE, MANIFEST, REPO, load_corpus, read_manifest
from timing import timed

from gatekeeper.config import Settings
from gatekeeper.decision import (
    DEFAULT_THRESHOLD,
    DLIB_MODEL,
    SHIPPED_TIERS,
    DecisionRule,
    Evidence,
)
from gatekeeper.live import FrameResult, LiveRecognizer
from gatekeeper.site import Site
from gatekeeper.vision.camera import CameraState, open_source
from gatekeeper.vision.engine import FaceEngine
from gatekeeper.vision.image import load_image
from gatekeeper.visits import frame_weight, weighted_unit_mean

#: Lin's visits in the clip, as frame ranges (inclusive).
LIN_VISITS = ((0, 19), (82, 210))
VISIT_FRAMES = 5
CAMERA_SOURCES = ("orl", "yaleb")


def clip(data: Path, engine: FaceEngine) -> None:
    frames = Path(tempfile.mkdtemp())
    video = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
    count = 0
    while True:
        ok, bgr = video.read()
        if not ok:
            break
        cv2.imwrite(str(frames / f"{count:04d}.png"), bgr)
        count += 1
    home = Path(tempfile.mkdtemp())
    settings = Settings(home=home, camera_id="bench", recognition_interval_s=0.5, mute=True)
    site = Site.open(settings, engine=engine)
    site.people.import_folder(data / "seed-images", exclude=["camera_*"])
    probe = data / "faces" / "probe"
    site.people.enrol("lin", [probe / "lin-manuel-miranda.png"])
    site.people.enrol("alex", [probe / "alex-lacamoire.png"])
    results: list[FrameResult] = []
    # Slow enough that the worker takes every frame: the figures are per processed frame.
    feed = open_source(str(frames), fps=4.0, loop=False)
    recognizer = LiveRecognizer(
        site, feed, on_event=lambda e: results.append(e) if isinstance(e, FrameResult) else None
    )
    recognizer.start()
    while feed.status().state is not CameraState.ENDED or (
        not results or results[-1].frame_id < count
    ):
        time.sleep(0.2)
    recognizer.stop()
    grants = [
        (r.frame_id - 1, d.decision.name)
        for r in results
        for d in r.decisions
        if d.decision.kind == "granted"
    ]
    lin = [any(name == "lin" and lo <= f <= hi for f, name in grants) for lo, hi in LIN_VISITS]
    others = sorted({name for _, name in grants if name != "lin"})
    latencies = sorted(r.stats.latency_s for r in results)
    work = [r.processing_s for r in results]
    print(f"clip: {len(results)} of {count} frames processed")
    each = ", ".join(f"frames {lo}-{hi}: {g}" for (lo, hi), g in zip(LIN_VISITS, lin, strict=True))
    print(f"  Lin's visits granted: {sum(lin)} of {len(lin)} ({each})")
    print(f"  anybody else granted: {others or 'nobody'}")
    print(
        f"  processing per frame: median {1000 * statistics.median(work):.0f} ms, "
        f"p95 {1000 * latencies[int(0.95 * (len(latencies) - 1))]:.0f} ms capture → decision"
    )


def stills(manifest: Path, cache: Path) -> None:
    corpus = load_corpus(
        read_manifest(manifest), np.load(cache, allow_pickle=True)["measures"].item()
    )
    rule, tier = DecisionRule(DEFAULT_THRESHOLD), SHIPPED_TIERS[0]
    models = {MODEL_IDS[k]: v for k, v in corpus.embeddings.items()}
    for source in CAMERA_SOURCES:
        idx = np.flatnonzero(corpus.source == source)
        people = sorted(set(corpus.identity[idx].tolist()))
        template = {p: idx[corpus.identity[idx] == p][0] for p in people}
        rng = np.random.default_rng(7)
        right: dict[tuple[str, bool], list[bool]] = {
            (mode, genuine): [] for mode in ("frame", "visit") for genuine in (True, False)
        }
        for person in people:
            photos = rng.permutation(idx[corpus.identity[idx] == person][1:])
            for start in range(0, len(photos) - VISIT_FRAMES + 1, VISIT_FRAMES):
                visit = list(photos[start : start + VISIT_FRAMES])
                for genuine in (True, False):
                    gallery = [p for p in people if genuine or p != person]

                    granted = [
                        _granted(rule, tier, models, corpus, frames, gallery, template)
                        for frames in ([[f] for f in visit] + [visit])
                    ]
                    # Genuine: granted as the person; impostor: granted at all.
                    hits = [who == person if genuine else who is not None for who in granted]
                    right[("frame", genuine)].append(any(hits[:-1]))
                    right[("visit", genuine)].append(hits[-1])
        for mode in ("frame", "visit"):
            genuine, impostor = right[(mode, True)], right[(mode, False)]
            print(
                f"{source}, {'each photo alone' if mode == 'frame' else 'per visit':<16}: "
                f"FRR {100 * (1 - np.mean(genuine)):.2f} % of {len(genuine)} visits, "
                f"FAR {100 * np.mean(impostor):.2f} % of {len(impostor)} impostor visits"
            )


def _granted(rule, tier, models, corpus, frames, gallery, template) -> str | None:
    """Who the shipped rule grants the aggregate of ``frames`` as, among ``gallery``'s people
    (one template each), or None."""
    weights = np.array([frame_weight(corpus.width[f]) for f in frames])
    probe = {
        m: weighted_unit_mean(e[frames], weights)
        * np.float32(np.linalg.norm(e[frames], axis=1).mean())
        for m, e in models.items()
    }
    best, best_score = None, np.inf
    for person in gallery:
        t = template[person]
        distances = {m: float(np.linalg.norm(probe[m] - e[t])) for m, e in models.items()}
        width = min(float(corpus.width[t]), float(np.mean(corpus.width[frames])))
        score = tier.score(Evidence(distances, width))
        if score < best_score:
            best, best_score = person, score
    return best if best_score <= rule.threshold else None


def cost(data: Path, engine: FaceEngine, repeat: int) -> None:
    rgb = load_image(data / "faces" / "probe" / "obama1.jpg")
    faces = [engine.detect(rgb)[0]]
    print("per face:")
    print(f"  detection (whole 640-px photo): {timed(lambda: engine.detect(rgb), repeat):.1f} ms")
    print(
        f"  dlib (align + encode): {timed(lambda: engine.embed_faces(rgb, faces), repeat):.1f} ms"
    )
    for model in SHIPPED_TIERS[0].models:
        if model != DLIB_MODEL:
            spent = timed(lambda model=model: engine.embed(model, rgb, faces), repeat)
            print(f"  {model} (crop + encode): {spent:.1f} ms")
    print(f"  a visit of {VISIT_FRAMES} frames: {VISIT_FRAMES} times the encoders above")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    engine = FaceEngine(args.weights)
    print(f"shipped rule: {' / '.join(t.name for t in SHIPPED_TIERS)}")
    if args.cache.exists():
        stills(args.manifest, args.cache)
    else:
        print(f"visits from stills: no corpus measures at {args.cache} (run bench_heldout.py)")
    cost(args.data, engine, args.repeat)
    clip(args.data, engine)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
