"""Which face crop suits FaceNet (or SFace) best? Separation of same- and different-person
distances.

For each crop definition below, every labelled shared photo of ``benchmarks/shared_pairs.csv``
(the ``faces/`` photos, the tutorial's 96×96 seed crops and its camera frames: 38 images, 703
pairs, 51 of them same-person) is detected with MTCNN (largest face, the engine's padded retry
for tight crops), cropped, encoded with FaceNet (L2-normalised) and every pair's L2 distance is
taken. Printed per crop, on all pairs and on the 20 full-size ``faces/`` photos alone (190
pairs): the largest same-person distance, the smallest different-person distance, the gap
between them (positive: a threshold separates the two perfectly), the equal-error rate and the
ROC AUC.

Crops (``margin`` is added on each side, as a fraction of the box's longer side):

- ``square m``: the square around the MTCNN box centre, side = longer box side × (1 + 2m);
  ``m = 0.10`` is how ``data/reference/facenet_keras_reference.npz`` was cut;
- ``level m``: the same square, rotated about its centre so that the eyes are level;
- ``david N``: davidsandberg's ``align_dataset_mtcnn`` / ``compare.py``: the MTCNN box (not
  squared) grown by N/2 pixels on each side, clipped to the image, resized to 160×160 bilinear.

With ``--encoder sface``, SFace's 112×112 crops instead:

- ``arcface z``: the least-squares similarity fit of the 5 MTCNN landmarks to ArcFace's
  template (``z = 1.00``: OpenCV's ``alignCrop``), the template scaled by ``z`` about the crop
  centre (``z < 1``: more margin);
- ``eyes z``: the same template, fitted on the two eyes only (no nose or mouth).

With ``--clip``, also the strangers check of ``shared/notes/clip-false-matches.md``: the 12
seed crops as the gallery; the distance of each camera frame to its own person, and of every
face of the video clip that passes the quality gate (all strangers to that gallery) to its
nearest template.

    python benchmarks/bench_facenet_crop.py [--data ../shared/data] [--weights weights] [--clip]
        [--encoder facenet|sface]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from gatekeeper.vision import sface
from gatekeeper.vision.align import extract_chip, similarity_transform
from gatekeeper.vision.detect import Face
from gatekeeper.vision.engine import FaceEngine
from gatekeeper.vision.facenet import INPUT_SIZE, FaceNetEncoder, facenet_crop
from gatekeeper.vision.image import load_image
from gatekeeper.vision.quality import quality_issue

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import CAMERA_FRAMES  # noqa: E402

Crop = Callable[[np.ndarray, Face], np.ndarray]


def david_crop(margin_px: int) -> Crop:
    """davidsandberg's crop: box ± margin/2 px, clipped to the image, resized to 160×160."""

    def crop(rgb: np.ndarray, face: Face) -> np.ndarray:
        x, y, w, h = face.box
        height, width = rgb.shape[:2]
        x0, y0 = max(x - margin_px // 2, 0), max(y - margin_px // 2, 0)
        x1, y1 = min(x + w + margin_px // 2, width), min(y + h + margin_px // 2, height)
        size = (INPUT_SIZE, INPUT_SIZE)
        return cv2.resize(rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR)

    return crop


def eyes_crop(zoom: float) -> Crop:
    """SFace's template, fitted on the two eye landmarks only."""

    def crop(rgb: np.ndarray, face: Face) -> np.ndarray:
        centre = (sface.INPUT_SIZE - 1) / 2
        template = (sface.TEMPLATE[:2] - centre) * zoom + centre
        matrix = similarity_transform(face.landmarks[:2], template)
        return extract_chip(rgb, matrix, size=sface.INPUT_SIZE)

    return crop


FACENET_CROPS: dict[str, Crop] = {
    **{
        f"square {m:.2f}": (lambda rgb, face, m=m: facenet_crop(rgb, face, m, False))
        for m in (0.0, 0.05, 0.1, 0.2, 0.3)
    },
    **{
        f"level {m:.2f}": (lambda rgb, face, m=m: facenet_crop(rgb, face, m, True))
        for m in (0.0, 0.05, 0.1, 0.2, 0.3)
    },
    "david 32": david_crop(32),
    "david 44": david_crop(44),
}
SFACE_CROPS: dict[str, Crop] = {
    **{
        f"arcface {z:.2f}": (lambda rgb, face, z=z: sface.sface_crop(rgb, face, z))
        for z in (0.8, 0.9, 1.0, 1.1)
    },
    **{f"eyes {z:.2f}": eyes_crop(z) for z in (0.9, 1.0)},
}
ENCODERS = {
    "facenet": (FaceNetEncoder, FACENET_CROPS),
    "sface": (sface.SFaceEncoder, SFACE_CROPS),
}


def separation(same: np.ndarray, different: np.ndarray) -> tuple[float, float, float, float]:
    """(max same, min different, equal-error rate, ROC AUC) of two distance samples."""
    thresholds = np.unique(np.concatenate([same, different]))
    far = (different[None, :] <= thresholds[:, None]).mean(axis=1)
    frr = (same[None, :] > thresholds[:, None]).mean(axis=1)
    eer = float(np.min(np.maximum(far, frr)))
    wins = (different[None, :] > same[:, None]).mean() + 0.5 * (
        different[None, :] == same[:, None]
    ).mean()
    return float(same.max()), float(different.min()), eer, float(wins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--weights", type=Path, default=root / "weights")
    parser.add_argument("--clip", action="store_true", help="also the video strangers check")
    parser.add_argument("--encoder", choices=sorted(ENCODERS), default="facenet")
    args = parser.parse_args()

    encoder_type, crops = ENCODERS[args.encoder]
    encoder = encoder_type(args.weights)
    engine = FaceEngine(args.weights, encoder=encoder)
    with open(root / "benchmarks" / "shared_pairs.csv", newline="") as f:
        pairs = [(row["image1"], row["image2"], row["same"] == "yes") for row in csv.DictReader(f)]
    names = sorted({name for a, b, _ in pairs for name in (a, b)})
    photos = {}
    for name in names:
        rgb = load_image(args.data / name)
        faces = engine.detect(rgb)
        if faces:
            photos[name] = (rgb, faces[0])
    missing = [n for n in names if n not in photos]
    print(f"{len(photos)} of {len(names)} images with a face; no face in: {missing or 'none'}")
    pairs = [p for p in pairs if p[0] in photos and p[1] in photos]
    full_size = [p for p in pairs if p[0].startswith("faces/") and p[1].startswith("faces/")]

    columns = ("pairs", 5), ("max same", 9), ("min diff", 9), ("gap", 7), ("EER", 7), ("AUC", 7)
    print(f"{'crop':12}" + "".join(f" {name:>{width}}" for name, width in columns))
    index = {name: i for i, name in enumerate(photos)}
    for label, crop in crops.items():
        embeddings = encoder.encode(np.stack([crop(rgb, face) for rgb, face in photos.values()]))
        for subset in (pairs, full_size):
            first = embeddings[[index[a] for a, _, _ in subset]]
            second = embeddings[[index[b] for _, b, _ in subset]]
            d = np.linalg.norm(first - second, axis=1)
            same = np.array([s for _, _, s in subset])
            max_same, min_diff, eer, auc = separation(d[same], d[~same])
            print(
                f"{label:12} {len(subset):5d} {max_same:9.3f} {min_diff:9.3f} "
                f"{min_diff - max_same:+7.3f} {eer:7.2%} {auc:7.4f}"
            )
    if args.clip:
        clip_check(args.data, engine, encoder, crops)


def clip_check(data: Path, engine: FaceEngine, encoder, crops: dict[str, Crop]) -> None:
    """The strangers of the video clip against the 12 seed crops, per crop definition."""
    seeds = sorted(
        p for p in (data / "seed-images").glob("*.*") if not p.stem.startswith("camera_")
    )
    cameras = [data / "seed-images" / f"{stem}.jpg" for stem in CAMERA_FRAMES]
    still = {p: load_image(p) for p in seeds + cameras}
    still_faces = {p: engine.detect(rgb)[0] for p, rgb in still.items()}
    capture = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        faces = [f for f in engine.detect(rgb, pad_retry=False) if quality_issue(f) is None]
        frames += [(rgb, f) for f in faces]
    capture.release()
    print(f"\nclip strangers: {len(frames)} quality-gated faces, {len(seeds)} seed crops")
    print(f"{'crop':12} {'camera max':>10} {'right':>6} {'stranger min':>12} {'gap':>7}")
    names = [p.stem for p in seeds]
    own = np.array([names.index(CAMERA_FRAMES[p.stem]) for p in cameras])
    for label, crop in crops.items():
        gallery = encoder.encode(np.stack([crop(still[p], still_faces[p]) for p in seeds]))
        cams = encoder.encode(np.stack([crop(still[p], still_faces[p]) for p in cameras]))
        to_gallery = np.linalg.norm(cams[:, None] - gallery[None], axis=2)
        own_distance = to_gallery[np.arange(len(cameras)), own].max()
        right = int((to_gallery.argmin(axis=1) == own).sum())
        batches = [frames[i : i + 64] for i in range(0, len(frames), 64)]
        strangers = np.concatenate(
            [encoder.encode(np.stack([crop(rgb, f) for rgb, f in b])) for b in batches]
        )
        nearest = np.linalg.norm(strangers[:, None] - gallery[None], axis=2).min(axis=1)
        print(
            f"{label:12} {own_distance:10.3f} {right:>2d} of {len(cameras)} {nearest.min():12.3f} "
            f"{nearest.min() - own_distance:+7.3f}"
        )


if __name__ == "__main__":
    main()
