"""Every decision rule chosen on some sources and reported on the others (leave-one-source-out).

For each rule family (one encoder alone, both must agree, the rule shipped before, a learned
fusion with and without face quality) and each held-out source: the rule is fitted on the other
sources at a false-accept rate of 0.1 % on their hard impostors (each probe's nearest stranger
in a gallery of 25 people), then scored on the held-out source — FAR on hard and on random
impostors, FRR, accuracy, with 95 % Wilson intervals — and pooled over the held-out sources.
Prints the table and the rule it selects (``gatekeeper.heldout.select``), and with ``--write``
records the table and the selected rule fitted on every source in ``benchmarks/heldout.json``,
which ``gatekeeper/decision.py`` ships.

    .venv/bin/python benchmarks/bench_heldout.py [--photos /work/validation/photos]
        [--cache /work/validation/measures.npz] [--weights weights] [--write]

The photos come from ``benchmarks/validation/fetch.py``; nothing of the reserved sources is
used (benchmarks/validation/README.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from corpus import CACHE, MANIFEST, PHOTOS, REPO, load_corpus, measure_corpus, read_manifest

from gatekeeper import heldout
from gatekeeper.decision import (
    DEFAULT_THRESHOLD,
    DLIB_MODEL,
    FACENET_MODEL,
    SFACE_MODEL,
    THRESHOLD_RANGE,
)

OUTPUT = REPO / "benchmarks" / "heldout.json"
RULE = REPO / "gatekeeper" / "rule.json"
#: The corpus's encoder names and the model ids the product knows them by.
MODEL_IDS = {"dlib": DLIB_MODEL, "facenet": FACENET_MODEL, "sface": SFACE_MODEL}
#: Ratios of the FaceNet to the dlib threshold an agreement rule may take.
AGREEMENT_RATIOS = tuple(np.round(np.arange(1.2, 2.41, 0.05), 2))


def last_round_rule() -> heldout.RuleFamily:
    """The rule shipped before this evaluation existed, as it shipped (not refitted): dlib at
    most 0.60 and FaceNet at most 1.00, 0.90 where either face is below the enrolment bar."""

    def score(features: heldout.PairFeatures) -> np.ndarray:
        facenet_bound = np.where(features.low_quality, 0.90, 1.00)
        return np.maximum(
            features.distances["dlib"] / 0.60, features.distances["facenet"] / facenet_bound
        )

    return heldout.fixed(
        "last round's rule",
        "dlib <= 0.60 and FaceNet <= 1.00 (0.90 for a low-quality face), as shipped",
        score,
        1.0,
        {"threshold": 0.60, "facenet_threshold": 1.00},
    )


def families(encoders: list[str]) -> list[heldout.RuleFamily]:
    """The rules compared, simplest first (``select`` prefers the earlier when the data cannot
    tell them apart): each encoder alone, then the rules of two encoders, then all three."""
    found = []
    for name in encoders:
        alone = heldout.single_encoder(name)
        found += [alone, heldout.stricter_for_tiny_faces(alone)]
    if "facenet" in encoders:
        found += [last_round_rule(), heldout.both_agree("dlib", "facenet", AGREEMENT_RATIOS)]
    for size in range(2, len(encoders) + 1):
        for chosen in itertools.combinations(encoders, size):
            fusion = heldout.logistic_fusion(list(chosen), quality=False)
            found += [fusion, heldout.stricter_for_tiny_faces(fusion)]
    if {"dlib", "facenet"} <= set(encoders):
        found.append(heldout.logistic_fusion(["dlib", "facenet"]))
    return found


def shippable(table: heldout.HeldOut, compared, without: set[str]) -> str | None:
    """The held-out winner among the linear rules that use none of ``without``."""
    among = [
        f.name
        for f in compared
        if f.linear_encoders is not None and not set(f.linear_encoders) & without
    ]
    return heldout.select(table, among) if among else None


def fitted_tier(table, compared, name: str, features, pairs, target: float) -> dict:
    """Rule ``name`` fitted on every source, as a tier of ``rule.json``: its weights by model
    id, and the offset that puts its cut at the default threshold."""
    family = next(f for f in compared if f.name == name)
    fitted = family.fit(features, pairs.same, pairs.kind == "hard", target)
    weights, offset = fitted.linear
    pooled = table.pooled(name)
    return {
        "name": " + ".join(MODEL_IDS[e] for e, _ in weights),
        "family": name,
        "weights": [[MODEL_IDS[e], w] for e, w in weights],
        "offset": offset + DEFAULT_THRESHOLD - fitted.cut,
        "tiny_face_margin": fitted.tiny_face_margin,
        "heldout": pooled.as_dict(),
    }


def percent(rate: heldout.Rate) -> str:
    low, high = rate.interval
    return f"{100 * rate.value:5.2f} % [{100 * low:.2f}–{100 * high:.2f}]"


def print_table(table: heldout.HeldOut) -> None:
    print(f"held out, target FAR {100 * table.target_far:g} % on hard impostors (95 % CI)")
    header = f"  {'rule':<34} {'source':<11} {'FAR hard':>24} {'FAR random':>24} {'FRR':>24}"
    print(header + "  accuracy")
    for rule in table.rules:
        rows = [(s, table.folds[rule][s]) for s in table.sources]
        rows.append(("pooled", table.pooled(rule)))
        for source, scores in rows:
            accuracy = "n/a" if scores.accuracy is None else f"{100 * scores.accuracy:.2f} %"
            print(
                f"  {rule:<34} {source:<11} {percent(scores.far_hard):>24} "
                f"{percent(scores.far_random):>24} {percent(scores.frr):>24}  {accuracy}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--target", type=float, default=heldout.TARGET_FAR)
    parser.add_argument("--write", action="store_true", help=f"record the result in {OUTPUT}")
    args = parser.parse_args()

    rows = read_manifest(args.manifest)

    def progress(done: int, total: int) -> None:
        print(f"\rmeasuring {done}/{total}", end="", file=sys.stderr, flush=True)

    measures = measure_corpus(
        rows, args.photos, args.cache, weights=args.weights, progress=progress
    )
    corpus = load_corpus(rows, measures)
    missed = sum(m is None for m in measures.values())
    print(f"{len(corpus.identity)} photos with a face ({missed} without), sources:")
    pairs = heldout.build_pairs(corpus)
    for source in corpus.sources:
        here = pairs.source == source
        counts = {k: int(np.count_nonzero(here & (pairs.kind == k))) for k in heldout.KINDS}
        people = len(set(corpus.identity[corpus.source == source].tolist()))
        print(
            f"  {source:<11} {people:4d} people  "
            + "  ".join(f"{k} {v}" for k, v in counts.items())
        )
    features = heldout.pair_features(corpus, pairs)
    compared = families(list(corpus.embeddings))
    table = heldout.leave_one_source_out(features, pairs, compared, target_far=args.target)
    print_table(table)
    winner = heldout.select(table)
    print(f"selected: {winner}")
    tiers = []
    for without in ({}, {"sface"}, {"facenet"}, {"sface", "facenet"}):
        name = shippable(table, compared, set(without))
        if name is not None and name not in [t["family"] for t in tiers]:
            tiers.append(fitted_tier(table, compared, name, features, pairs, args.target))
    print("shipped tiers, best first: " + "; ".join(t["name"] for t in tiers))
    if args.write:
        primary = tiers[0]["family"]
        steps = np.round(np.arange(THRESHOLD_RANGE[0], THRESHOLD_RANGE[1] + 1e-9, 0.01), 2)
        rule = {
            "chosen_by": "benchmarks/bench_heldout.py (leave-one-source-out; see "
            "docs/DESIGN.md, 'The decision rule')",
            "target_far_hard": args.target,
            "selected": winner,
            "tiers": tiers,
            "single_thresholds": {
                MODEL_IDS[e]: heldout.single_encoder(e)
                .fit(features, pairs.same, pairs.kind == "hard", args.target)
                .cut
                for e in corpus.embeddings
            },
            "calibration": {
                "rule": primary,
                "points": heldout.calibration(table, primary, pairs, DEFAULT_THRESHOLD, steps),
            },
        }
        RULE.write_text(json.dumps(rule, indent=1) + "\n", encoding="utf-8")
        OUTPUT.write_text(json.dumps(table.as_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {RULE} and {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
