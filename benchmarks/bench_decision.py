"""The decision rules on both labelled sets, and what each encoder and the combined rule cost.

Prints (no timed asserts):

- every rule of ``gatekeeper evaluate`` (the site's: dlib and FaceNet agree; dlib alone;
  FaceNet alone; the site's without FaceNet) on the shared photos (``benchmarks/shared_pairs.csv``)
  and on the validation set (``benchmarks/validation/pairs.csv``; materialise its photos with
  ``benchmarks/validation/fetch.py``): accuracy, FAR and FRR at the shipped settings, the span
  over which FAR <= 0.1 % and FRR <= 5 % hold, and face-detection recall on the set's images;
- the alternatives the README weighs (agreement without the quality term, a mean of z-scored
  distances) at the operating points it quotes, and the error rates at the ends of each
  encoder's sane threshold range;
- the clip's nearest stranger to the tutorial's crops (FaceNet distance among dlib's candidates);
- per-face cost of the dlib encoder (align + encode), of FaceNet (crop + encode) and of the
  combined rule as ``Gatekeeper.judge`` runs it for one face (match, FaceNet confirmation).

    .venv/bin/python benchmarks/bench_decision.py [--data ../shared/data]
        [--validation benchmarks/validation/photos] [--repeat 20]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import cv2
import numpy as np
from timing import timed

from gatekeeper.config import Settings
from gatekeeper.decision import Evidence
from gatekeeper.errors import NoFaceError
from gatekeeper.evaluate import TARGET_FAR, PairResult, evaluate_pairs, read_pairs
from gatekeeper.service import Gatekeeper
from gatekeeper.vision.engine import FaceEngine
from gatekeeper.vision.image import load_image
from gatekeeper.vision.quality import quality_issue

REPO = Path(__file__).resolve().parents[1]


def percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.2f} %"


def rules_on(site: Gatekeeper, name: str, pairs_file: Path, images: Path) -> list[PairResult]:
    """Print every rule's figures on one labelled set; returns the measured pairs."""
    pairs = read_pairs(pairs_file, images=images)
    found: dict[Path, bool] = {}

    def measure(path: Path):
        try:
            measured = site.measure(path)
        except NoFaceError:
            found[path] = False
            raise
        found[path] = True
        return measured

    result = evaluate_pairs(pairs, measure, site.threshold, rule=site.rule())
    kinds = _kinds(images, pairs_file)
    same = sum(p.same for p in pairs)
    print(
        f"{name}: {len(pairs)} pairs ({same} same, {len(pairs) - same} different); "
        f"faces found in {sum(found.values())} of {len(found)} images"
    )
    print(
        f"  {'rule':<17} {'accuracy':>9} {'FAR':>8} {'FRR':>8}  {'FRR @ FAR<=0.1%':>15}"
        "   FAR <= 0.1 % and FRR <= 5 %"
    )
    for rule in result.rules:
        span = "nowhere"
        if rule.passing is not None:
            span = f"{rule.passing[0]:.3f} to below {rule.passing[1]:.3f} ({rule.unit})"
        strict = min((frr for _, far, frr in rule.roc if far <= TARGET_FAR), default=None)
        print(
            f"  {rule.name:<17} {percent(rule.accuracy):>9} {percent(rule.far):>8} "
            f"{percent(rule.frr):>8}  {percent(strict):>15}   {span}"
        )
    if kinds:
        print("  the site's rule by kind of photo pair: false accepts, false rejects")
        rule = site.rule()
        tally: dict[str, list[int]] = {}
        for r in result.results:
            if r.distance is None:
                continue
            key = " - ".join(sorted((kinds[r.pair.first], kinds[r.pair.second])))
            counts = tally.setdefault(key, [0, 0, 0, 0])
            accepted = rule.accepts(Evidence(r.distance, r.facenet_distance, r.low_quality))
            counts[0 if r.pair.same else 2] += 1
            counts[1 if r.pair.same else 3] += accepted != r.pair.same
        for key, (same, rejected, different, accepted) in sorted(tally.items()):
            print(f"    {key:<20} FA {accepted} of {different}, FR {rejected} of {same}")
    return result.results


def rates(results: list[PairResult], accept) -> str:
    """``FAR x %, FRR y %`` of an ``accept(pair_result) -> bool`` rule on measured pairs."""
    measured = [r for r in results if r.distance is not None and r.facenet_distance is not None]
    same = [accept(r) for r in measured if r.pair.same]
    different = [accept(r) for r in measured if not r.pair.same]
    far = sum(different) / len(different) if different else None
    frr = (len(same) - sum(same)) / len(same) if same else None
    return f"FAR {percent(far)}, FRR {percent(frr)}"


def alternatives(sets: dict[str, list[PairResult]]) -> None:
    """The rules README weighs against the shipped one, at the operating points it quotes,
    and the error rates at the ends of each encoder's sane threshold range."""
    validation = sets.get("validation set")
    rules = {
        "agree, no quality term (dlib <= 0.576, FaceNet <= 0.96)": lambda r: (
            r.distance <= 0.576 and r.facenet_distance <= 0.96
        ),
    }
    if validation is not None:
        impostors = [r for r in validation if r.facenet_distance is not None and not r.pair.same]
        d = np.array([r.distance for r in impostors])
        f = np.array([r.facenet_distance for r in impostors])
        (dm, ds), (fm, fs) = (d.mean(), d.std()), (f.mean(), f.std())
        rules["mean of z-scores (validation impostors) <= -3.9"] = lambda r: (
            ((r.distance - dm) / ds + (r.facenet_distance - fm) / fs) / 2 <= -3.9
        )
    print("alternatives the README weighs against the shipped rule")
    for label, accept in rules.items():
        print(f"  {label}")
        for name, results in sets.items():
            print(f"    {name}: {rates(results, accept)}")
    print("the ends of the sane threshold ranges (gatekeeper/decision.py)")
    for name, results in sets.items():
        print(
            f"  {name}: dlib 0.30 {rates(results, lambda r: r.distance <= 0.30)}; "
            f"dlib 0.80 {rates(results, lambda r: r.distance <= 0.80)}; "
            f"FaceNet 0.50 {rates(results, lambda r: r.facenet_distance <= 0.50)}; "
            f"FaceNet 1.40 {rates(results, lambda r: r.facenet_distance <= 1.40)}"
        )


def clip_strangers(engine: FaceEngine, data: Path) -> None:
    """With the tutorial's 12 crops enrolled, every quality-gated face of the clip is a
    stranger: the smallest FaceNet distance among those dlib puts within its threshold is how
    close a stranger comes to passing the low-quality bound."""
    with tempfile.TemporaryDirectory() as folder:
        site = Gatekeeper(Settings(home=Path(folder)), engine=engine)
        site.import_folder(data / "seed-images", exclude=["camera_*"])
        video = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
        nearest: tuple[float, int, str, float, int] | None = None
        frame_id = 0
        while True:
            ok, bgr = video.read()
            if not ok:
                break
            frame_id += 1
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            faces = [f for f in engine.detect(rgb, pad_retry=False) if quality_issue(f) is None]
            with site.engine_in_use():
                verdicts = site.judge(rgb, engine.embed_faces(rgb, faces), liveness=False)
            for face, verdict in zip(faces, verdicts, strict=True):
                if verdict.facenet_distance is None:
                    continue
                found = (verdict.facenet_distance, frame_id, verdict.match.name or "")
                candidate = (*found, verdict.match.distance, face.box[2])
                if nearest is None or candidate < nearest:
                    nearest = candidate
        video.release()
        site.close()
    if nearest is None:
        print("clip strangers: none within dlib's threshold of a tutorial crop")
        return
    facenet_distance, frame, name, dlib_distance, width = nearest
    print(
        f"clip strangers vs the tutorial crops: nearest by FaceNet among dlib's candidates is "
        f"frame {frame}, a {width}-px face, {name!r} at dlib {dlib_distance:.3f}, "
        f"FaceNet {facenet_distance:.3f}"
    )


def _kinds(images: Path, pairs_file: Path) -> dict[Path, str]:
    """Photo → kind (web, camera, degraded) from a ``manifest.csv`` beside the pairs file."""
    manifest = pairs_file.parent / "manifest.csv"
    if not manifest.is_file():
        return {}
    with open(manifest, newline="", encoding="utf-8") as rows:
        return {images / row["file"]: row["kind"] for row in csv.DictReader(rows)}


def costs(site: Gatekeeper, data: Path, repeat: int) -> None:
    """Per-face cost of each encoder and of the combined rule on one real probe photo."""
    engine = site.engine
    rgb = load_image(data / "faces" / "probe" / "obama1.jpg")
    faces = engine.detect(rgb)[:1]
    site.enrol("obama", [data / "faces" / "train" / "obama" / "obama.jpg"])
    embedded = engine.embed_faces(rgb, faces)
    dlib_ms = timed(lambda: engine.embed_faces(rgb, faces), repeat)
    facenet_ms = timed(lambda: engine.facenet_embed(rgb, faces), repeat)
    judged_ms = timed(lambda: site.judge(rgb, embedded), repeat)
    provisional_ms = timed(lambda: site.judge(rgb, embedded, confirm=lambda m: False), repeat)
    (verdict,) = site.judge(rgb, embedded)
    print("per-face cost (one face of faces/probe/obama1.jpg, batch 1)")
    for label, ms in (
        ("dlib: align + encode", dlib_ms),
        ("FaceNet: crop + encode", facenet_ms),
        (f"rule, confirming (judge: FaceNet, liveness) -> {verdict.decision}", judged_ms),
        ("rule, provisional vote (dlib only)", provisional_ms),
    ):
        print(f"  {label:<58} {ms:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument(
        "--validation", type=Path, default=REPO / "benchmarks" / "validation" / "photos"
    )
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        site = Gatekeeper(Settings(home=Path(folder)), engine=FaceEngine(Path(folder) / "weights"))
        print(
            f"shipped rule: dlib <= {site.threshold:g} and FaceNet <= "
            f"{site.settings.facenet_threshold:g} (0.10 stricter for low-quality faces)"
        )
        sets = {
            "shared photos": rules_on(
                site, "shared photos", REPO / "benchmarks" / "shared_pairs.csv", args.data
            )
        }
        if args.validation.is_dir():
            sets["validation set"] = rules_on(
                site,
                "validation set",
                REPO / "benchmarks" / "validation" / "pairs.csv",
                args.validation,
            )
        else:
            print(f"validation set: no photos at {args.validation} (run validation/fetch.py)")
        alternatives(sets)
        clip_strangers(site.engine, args.data)
        costs(site, args.data, args.repeat)


if __name__ == "__main__":
    main()
