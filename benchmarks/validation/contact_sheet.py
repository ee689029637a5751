"""Contact sheets for checking the validation labels by eye: one row per identity, its photos tiled
at ``--tile`` pixels with the file's number under each, written as PNG pages.

    python benchmarks/validation/contact_sheet.py --photos /work/validation/photos \\
        --source orl --out /tmp/sheets            # every ORL identity
    python benchmarks/validation/contact_sheet.py --source lfw --sample 60 --out /tmp/sheets

``--sample N`` takes N identities at random (seeded) for a spot check; ``--rows`` sets the
identities per page.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
MANIFESTS = (HERE / "manifest.csv", HERE / "train_manifest.csv")
LABEL_HEIGHT = 14
NAME_WIDTH = 170


def tile(path: Path, side: int, label: str) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    cell = np.full((side + LABEL_HEIGHT, side, 3), 255, np.uint8)
    if image is not None:
        scale = side / max(image.shape[:2])
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        cell[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = small
    cv2.putText(cell, label[-14:], (2, side + 11), cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 0, 0), 1)
    return cell


def row_image(name: str, files: list[str], photos: Path, side: int, columns: int) -> np.ndarray:
    cells = [tile(photos / f, side, Path(f).stem.rsplit("_", 1)[-1]) for f in files[:columns]]
    blank = np.full((side + LABEL_HEIGHT, side, 3), 255, np.uint8)
    cells += [blank] * (columns - len(cells))
    head = np.full((side + LABEL_HEIGHT, NAME_WIDTH, 3), 255, np.uint8)
    for line, text in enumerate((name[:22], name[22:44])):
        cv2.putText(head, text, (2, 16 + 14 * line), cv2.FONT_HERSHEY_PLAIN, 0.9, (0, 0, 0), 1)
    return np.hstack([head, *cells])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=HERE / "photos")
    parser.add_argument("--source", required=True, help="a manifest source, e.g. lfw, orl, train")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG pages")
    parser.add_argument("--sample", type=int, default=0, help="identities drawn at random")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rows", type=int, default=12, help="identities per page")
    parser.add_argument("--columns", type=int, default=10, help="photos per identity shown")
    parser.add_argument("--tile", type=int, default=110)
    args = parser.parse_args(argv)

    by_identity: dict[str, list[str]] = defaultdict(list)
    for manifest in MANIFESTS:
        with manifest.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["source"] == args.source:
                    by_identity[row["identity"]].append(row["file"])
    names = sorted(by_identity)
    if not names:
        print(f"contact_sheet.py: no photos of source {args.source!r}", file=sys.stderr)
        return 1
    if args.sample:
        names = sorted(random.Random(args.seed).sample(names, min(args.sample, len(names))))
    args.out.mkdir(parents=True, exist_ok=True)
    pages = 0
    for start in range(0, len(names), args.rows):
        rows = [
            row_image(n, by_identity[n], args.photos, args.tile, args.columns)
            for n in names[start : start + args.rows]
        ]
        pages += 1
        cv2.imwrite(str(args.out / f"{args.source}_{pages:02d}.png"), np.vstack(rows))
    print(f"{len(names)} identities on {pages} page(s) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
