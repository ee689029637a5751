"""Run the pipeline's face detector over the materialised validation photos and record, per photo,
what it finds: detections.csv (read back by build_manifest.py, which leaves out photos whose
labelled face is not the dominant one).

A photo's labelled face is the detected face nearest the image centre for LFW photos (LFW centres
each photo on its labelled face) and the largest face otherwise; in the face-filled camera crops
(ORL, Extended Yale B) a detection under 40 % of the image width is not taken for a face. The
labelled face is dominant when it is the largest face and every other face is under
``DOMINANT_RATIO`` of its area; a photo without a face is not. Detection is
``FaceEngine.detect`` with its padded retries, as ``gatekeeper evaluate`` runs it.

    python benchmarks/validation/check_faces.py --photos /work/validation/photos --weights weights

Photos already in ``--out`` with the same detector are not detected again (``--again`` redoes
them); rows of photos no longer in a manifest are kept, so that a dropped photo stays dropped.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFESTS = (HERE / "manifest.csv", HERE / "train_manifest.csv")
FIELDS = (
    "file",
    "detector",
    "width",
    "height",
    "faces",
    "face_width",
    "face_height",
    "score",
    "second_ratio",
    "labelled_is_largest",
    "dominant",
)
#: Another face at this fraction of the labelled face's area or more makes the photo ambiguous:
#: the largest-face rule of enrolment and identification could pick either.
DOMINANT_RATIO = 0.6
#: Sources whose photos are centred on the labelled face (LFW's 250x250 crops).
CENTRED_SOURCES = frozenset({"lfw", "lfw_kin", "lfw_lowres", "train"})
#: Sources whose photos are filled by the face (ORL, the cropped Extended Yale B): a "face" under
#: ``MIN_FACE_FRACTION`` of the image width there is a false detection (an eye, a nostril), so
#: the photo counts as one without a face.
FRAME_FILLING_SOURCES = frozenset({"orl", "yaleb"})
MIN_FACE_FRACTION = 0.4


def census(faces, width: int, height: int, source: str) -> dict:
    """The detections.csv fields (but file and detector) for ``faces`` (largest first) found in
    a ``width`` x ``height`` photo of ``source``."""
    if source in FRAME_FILLING_SOURCES:
        faces = [f for f in faces if f.box[2] >= MIN_FACE_FRACTION * width]
    if not faces:
        return dict(
            width=width,
            height=height,
            faces=0,
            face_width="",
            face_height="",
            score="",
            second_ratio="",
            labelled_is_largest="",
            dominant="no",
        )
    if source in CENTRED_SOURCES:
        cx, cy = width / 2, height / 2
        labelled = min(
            faces,
            key=lambda f: (f.box[0] + f.box[2] / 2 - cx) ** 2 + (f.box[1] + f.box[3] / 2 - cy) ** 2,
        )
    else:
        labelled = faces[0]
    others = [f.area for f in faces if f is not labelled]
    ratio = max(others) / labelled.area if others else 0.0
    largest = labelled is faces[0] or labelled.area >= faces[0].area
    return dict(
        width=width,
        height=height,
        faces=len(faces),
        face_width=labelled.box[2],
        face_height=labelled.box[3],
        score=f"{labelled.score:.3f}",
        second_ratio=f"{ratio:.2f}",
        labelled_is_largest="yes" if largest else "no",
        dominant="yes" if largest and ratio < DOMINANT_RATIO else "no",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=HERE / "photos")
    parser.add_argument("--weights", type=Path, default=Path("weights"))
    parser.add_argument("--out", type=Path, default=HERE / "detections.csv")
    parser.add_argument("--again", action="store_true", help="detect every photo again")
    args = parser.parse_args(argv)

    from gatekeeper.vision.engine import FaceEngine
    from gatekeeper.vision.image import load_image

    rows = []
    for manifest in MANIFESTS:
        with manifest.open(newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    missing = [r["file"] for r in rows if not (args.photos / r["file"]).is_file()]
    if missing:
        print(
            f"check_faces.py: {len(missing)} photo(s) missing under {args.photos}, e.g. "
            f"{missing[0]}; run fetch.py first",
            file=sys.stderr,
        )
        return 1
    detector = "mtcnn"
    known: dict[str, dict] = {}
    if args.out.exists() and not args.again:
        with args.out.open(newline="", encoding="utf-8") as fh:
            known = {r["file"]: r for r in csv.DictReader(fh) if r["detector"] == detector}
    engine = FaceEngine(args.weights, fetch_facenet=False)
    engine.compile()
    results: dict[str, dict] = {}
    todo = [r for r in rows if r["file"] not in known]
    start = time.monotonic()
    for number, row in enumerate(todo, start=1):
        rgb = load_image(args.photos / row["file"])
        faces = engine.detect(rgb)
        found = census(faces, rgb.shape[1], rgb.shape[0], row["source"])
        results[row["file"]] = dict(file=row["file"], detector=detector, **found)
        if number % 500 == 0:
            print(f"{number}/{len(todo)} photos, {time.monotonic() - start:.0f} s", flush=True)
    merged = {**known, **results}  # rows of photos dropped from the manifests stay recorded
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, FIELDS, lineterminator="\n")
        out.writeheader()
        out.writerows(merged[f] for f in sorted(merged))
    bad = [f for f, r in merged.items() if r["dominant"] != "yes"]
    print(
        f"{len(merged)} photos ({len(todo)} detected now): {len(bad)} without a dominant "
        f"labelled face; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
