"""Write pairs.csv from manifest.csv: every same-person pair, and as many different-person pairs
drawn with a fixed seed.

Same-person pairs: every unordered pair of two photos of one identity (in manifest order).
Different-person pairs: a uniform sample, without replacement, of the unordered pairs of photos of
two different identities, as many as there are same-person pairs, drawn with ``random.Random(SEED)``
(so the sample's kinds follow the set's: mostly web-web, some camera-camera and web-camera).

    python benchmarks/validation/make_pairs.py    # rewrites benchmarks/validation/pairs.csv
"""

from __future__ import annotations

import csv
import itertools
import random
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261201


def main() -> None:
    with (HERE / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    files = [r["file"] for r in rows]
    identity = {r["file"]: r["identity"] for r in rows}
    by_identity: dict[str, list[str]] = defaultdict(list)
    for f in files:
        by_identity[identity[f]].append(f)

    same = [pair for group in by_identity.values() for pair in itertools.combinations(group, 2)]
    rng = random.Random(SEED)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < len(same):
        i, j = sorted(rng.sample(range(len(files)), 2))
        if identity[files[i]] != identity[files[j]]:
            chosen.add((i, j))
    different = [(files[i], files[j]) for i, j in sorted(chosen)]

    with (HERE / "pairs.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["image1", "image2", "same"])
        out.writerows((a, b, "yes") for a, b in same)
        out.writerows((a, b, "no") for a, b in different)
    print(
        f"{len(same)} same-person and {len(different)} different-person pairs "
        f"over {len(files)} photos of {len(by_identity)} identities"
    )


if __name__ == "__main__":
    main()
