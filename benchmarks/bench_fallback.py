"""Does the whole-image fallback's gate tell face crops from non-faces?

``import`` may take a whole small, square image as the face when MTCNN (and its padded retries)
finds none; it does so only when :meth:`FaceEngine.looks_like_a_face_crop` says the image still
looks like a face (MTCNN on an upscaled, padded copy at a lower cut, see
``gatekeeper/vision/engine.py``). This prints how that gate and the detector do on:

- face crops: every face MTCNN finds in the shared ``faces/`` photos and the tutorial's 12
  seed crops (at most 3 per photo), its box shrunk by 0, 10, 20 and 25 % and kept as it is or
  resized to 96, 48 and 32 pixels (crops over 160 px left out, as the fallback leaves them);
- non-faces: 10×10 grey, and 24, 48, 96 and 150 px grey, black, white, noise, text, gradient
  and blurred-blob squares, and three background patches of a photo.

    python benchmarks/bench_fallback.py [--data ../shared/data] [--weights weights]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from gatekeeper.vision.engine import WHOLE_IMAGE_MAX_SIDE, FaceEngine
from gatekeeper.vision.image import load_image


def face_crops(engine: FaceEngine, data: Path) -> dict[str, np.ndarray]:
    photos = sorted(p for p in (data / "faces").rglob("*") if p.suffix in (".jpg", ".png"))
    seeds = data / "seed-images"
    photos += sorted(p for p in seeds.iterdir() if not p.stem.startswith("camera_"))
    crops = {}
    for photo in photos:
        rgb = load_image(photo)
        for k, face in enumerate(engine.detector.detect(rgb)[:3]):
            x, y, w, h = face.box
            for shrink in (0.0, 0.1, 0.2, 0.25):
                dx, dy = round(w * shrink / 2), round(h * shrink / 2)
                crop = rgb[max(0, y + dy) : y + h - dy, max(0, x + dx) : x + w - dx]
                if min(crop.shape[:2]) < 8:
                    continue
                for size in (None, 96, 48, 32):
                    sized = crop
                    if size is not None:
                        sized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
                    if max(sized.shape[:2]) <= WHOLE_IMAGE_MAX_SIDE:
                        crops[f"{photo.name}#{k} -{shrink:.0%} {size or 'as is'}"] = sized
    return {name: np.ascontiguousarray(crop) for name, crop in crops.items()}


def non_faces(data: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    images = {"grey 10": np.full((10, 10, 3), 128, np.uint8)}
    for s in (24, 48, 96, 150):
        images[f"grey {s}"] = np.full((s, s, 3), 128, np.uint8)
        images[f"black {s}"] = np.zeros((s, s, 3), np.uint8)
        images[f"white {s}"] = np.full((s, s, 3), 255, np.uint8)
        images[f"noise {s}"] = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
        text = np.full((s, s, 3), 255, np.uint8)
        thickness = max(1, s // 40)
        cv2.putText(text, "Hello", (2, s // 2), cv2.FONT_HERSHEY_SIMPLEX, s / 100, 0, thickness)
        images[f"text {s}"] = text
        images[f"gradient {s}"] = np.dstack(
            [np.tile(np.linspace(0, 255, s, dtype=np.uint8), (s, 1))] * 3
        )
        blobs = cv2.GaussianBlur(rng.integers(0, 256, (s, s, 3), dtype=np.uint8), (0, 0), s / 10)
        images[f"blobs {s}"] = cv2.normalize(blobs, None, 0, 255, cv2.NORM_MINMAX)
    rgb = load_image(data / "faces" / "probe" / "kit_with_rose.jpg")
    h, w = rgb.shape[:2]
    for i, (y, x) in enumerate([(h - 130, 10), (h - 130, w - 140), (h - 200, w // 2)]):
        images[f"background {i}"] = np.ascontiguousarray(rgb[y : y + 120, x : x + 120])
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--weights", type=Path, default=Path("weights"))
    args = parser.parse_args()
    engine = FaceEngine(args.weights, fetch_weights=False)
    crops = face_crops(engine, args.data)
    missed = [name for name, crop in crops.items() if not engine.detect(crop)]
    passed = [name for name, crop in crops.items() if engine.looks_like_a_face_crop(crop)]
    print(f"face crops: {len(crops)}; missed by the detector and its padded retries: {len(missed)}")
    print(f"  the gate finds a face in {len(passed)}; not in: {sorted(set(crops) - set(passed))}")
    print(f"  of the missed ones, in {len(set(missed) & set(passed))} of {len(missed)}")
    others = non_faces(args.data)
    fooled = sorted(name for name, image in others.items() if engine.looks_like_a_face_crop(image))
    print(f"non-faces: {len(others)}; the gate finds a face in {len(fooled)}: {fooled}")


if __name__ == "__main__":
    main()
