"""The decision rules on both labelled sets, and what each encoder and the combined rule cost.

Prints (no timed asserts):

- every rule of ``gatekeeper evaluate`` (the site's: dlib and FaceNet agree; dlib alone;
  FaceNet alone; the site's without FaceNet) on the shared photos (``benchmarks/shared_pairs.csv``)
  and on the validation set (``benchmarks/validation/pairs.csv``; materialise its photos with
  ``benchmarks/validation/fetch.py``): accuracy, FAR and FRR at the shipped settings, the span
  over which FAR <= 0.1 % and FRR <= 5 % hold, and face-detection recall on the set's images;
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

from timing import timed

from gatekeeper.config import Settings
from gatekeeper.decision import Evidence
from gatekeeper.errors import NoFaceError
from gatekeeper.evaluate import evaluate_pairs, read_pairs
from gatekeeper.service import Gatekeeper
from gatekeeper.vision.engine import FaceEngine
from gatekeeper.vision.image import load_image

REPO = Path(__file__).resolve().parents[1]


def percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.2f} %"


def rules_on(site: Gatekeeper, name: str, pairs_file: Path, images: Path) -> None:
    """Print every rule's figures on one labelled set."""
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
    print(f"  {'rule':<17} {'accuracy':>9} {'FAR':>8} {'FRR':>8}   FAR <= 0.1 % and FRR <= 5 %")
    for rule in result.rules:
        span = "nowhere"
        if rule.passing is not None:
            span = f"{rule.passing[0]:.3f} to below {rule.passing[1]:.3f} ({rule.unit})"
        print(
            f"  {rule.name:<17} {percent(rule.accuracy):>9} {percent(rule.far):>8} "
            f"{percent(rule.frr):>8}   {span}"
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
    facenet_ms = timed(lambda: engine.facenet_embed(rgb, [f for f in faces]), repeat)
    judged_ms = timed(lambda: site.judge(rgb, embedded), repeat)
    provisional_ms = timed(lambda: site.judge(rgb, embedded, confirm=lambda m: False), repeat)
    (verdict,) = site.judge(rgb, embedded)
    print("per-face cost (one face of faces/probe/obama1.jpg, batch 1)")
    print(f"  dlib: align + encode                 {dlib_ms:7.1f} ms")
    print(f"  FaceNet: crop + encode               {facenet_ms:7.1f} ms")
    print(f"  rule, FaceNet confirming (judge)     {judged_ms:7.1f} ms  -> {verdict.decision}")
    print(f"  rule, provisional vote (dlib only)   {provisional_ms:7.1f} ms")


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
        rules_on(site, "shared photos", REPO / "benchmarks" / "shared_pairs.csv", args.data)
        if args.validation.is_dir():
            rules_on(
                site,
                "validation set",
                REPO / "benchmarks" / "validation" / "pairs.csv",
                args.validation,
            )
        else:
            print(f"validation set: no photos at {args.validation} (run validation/fetch.py)")
        costs(site, args.data, args.repeat)


if __name__ == "__main__":
    main()
