"""Write pairs.csv from manifest.csv: pairs inside each source, for ``gatekeeper evaluate``.

Per source (the first folder of every path is its source, so the file stays in evaluate's
three-column format): every same-person pair (every unordered pair of two photos of one identity,
in manifest order), and as many different-person pairs drawn uniformly, without replacement,
from the pairs of photos of two different identities of that source, with
``random.Random(SEED)``. In the look-alike source (``lfw_kin``) the different-person pairs are
instead every pair of photos of two relatives listed in lookalike_pairs.csv. Pairs never cross
sources: a source's figures are its own.

Hard impostors (each probe against its nearest stranger under an encoder) depend on the encoder
and are built by the evaluation from the manifest, not here.

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
LOOKALIKE_SOURCE = "lfw_kin"


def read_manifest(path: Path) -> dict[str, dict[str, list[str]]]:
    """Files by source and identity, in manifest order."""
    sources: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            sources[row["source"]][row["identity"]].append(row["file"])
    return sources


def random_impostors(people: dict[str, list[str]], count: int, rng: random.Random):
    files = [(name, f) for name, group in people.items() for f in group]
    possible = len(files) * (len(files) - 1) // 2 - sum(
        len(g) * (len(g) - 1) // 2 for g in people.values()
    )
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < min(count, possible):
        i, j = sorted(rng.sample(range(len(files)), 2))
        if files[i][0] != files[j][0]:
            chosen.add((i, j))
    return [(files[i][1], files[j][1]) for i, j in sorted(chosen)]


def lookalike_impostors(people: dict[str, list[str]], path: Path):
    with path.open(newline="", encoding="utf-8") as fh:
        relatives = [(row["identity1"], row["identity2"]) for row in csv.DictReader(fh)]
    return [
        (a, b)
        for first, second in relatives
        for a, b in itertools.product(people.get(first, []), people.get(second, []))
    ]


def main() -> None:
    sources = read_manifest(HERE / "manifest.csv")
    rng = random.Random(SEED)
    same: list[tuple[str, str]] = []
    different: list[tuple[str, str]] = []
    for source in sorted(sources):
        people = sources[source]
        genuine = [p for group in people.values() for p in itertools.combinations(group, 2)]
        if source == LOOKALIKE_SOURCE:
            impostors = lookalike_impostors(people, HERE / "lookalike_pairs.csv")
        else:
            impostors = random_impostors(people, len(genuine), rng)
        same += genuine
        different += impostors
        print(f"{source}: {len(genuine)} same-person, {len(impostors)} different-person pairs")
    with (HERE / "pairs.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["image1", "image2", "same"])
        out.writerows((a, b, "yes") for a, b in same)
        out.writerows((a, b, "no") for a, b in different)
    print(f"{len(same)} same-person and {len(different)} different-person pairs in all")


if __name__ == "__main__":
    main()
