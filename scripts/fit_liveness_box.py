"""Fit the MTCNN → original-detector box map of the liveness crop, and measure what it changes.

Development-time tool; the result is the constant ``BOX_FIT`` in ``gatekeeper/vision/
liveness.py``. MiniFASNet was trained on crops of the boxes of its repository's own detector
(a RetinaFace Caffe model run through ``cv2.dnn``, ``src/anti_spoof_predict.py``), 2.7× and 4×
around the box centre; Gatekeeper's MTCNN frames a face differently. The detector files are not
shipped, and OpenCV 5 (the project's) has no Caffe importer, so the script runs in two steps:
``detect`` under an OpenCV 4 with the folder holding ``deploy.prototxt`` and
``Widerface-RetinaFace.caffemodel`` (``resources/detection_model/`` of
minivision-ai/Silent-Face-Anti-Spoofing) writes the original boxes as JSON; ``fit`` reads them.

1. For every image of the liveness set (``liveness/labels.csv``) and of the shared photos
   (``faces/``), the original detector's box (its most confident detection, computed exactly as
   ``Detection.get_bbox``) is paired with MTCNN's face of largest overlap (IoU ≥ 0.3).
2. Per pair: the centre offset in units of the MTCNN box (dx, dy) and the size ratios (sw, sh);
   the fit is their median (robust to the odd bad detection), printed with the quartiles and
   the IoU with the original box before and after mapping.
3. On the liveness set, each box definition's live score (both models, the original's score)
   against the score on the original box: median and largest |Δ score|, and APCER/BPCER at the
   original's arg-max rule (score > 0.5 is not exactly arg-max; both are printed) and at the
   best threshold.
4. ``--write CSV``: the original pipeline's score of every liveness image (its detector, both
   models through Gatekeeper's Keras port, which matches the PyTorch logits to 1e-5), for the
   agreement test ``tests/vision/test_liveness.py``.

    PYTHONPATH=OPENCV4_DIR python scripts/fit_liveness_box.py detect DETECTOR_DIR > boxes.json
    python scripts/fit_liveness_box.py fit boxes.json [--data ../shared/data] [--write CSV]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np


def original_detector(folder: Path):
    net = cv2.dnn.readNetFromCaffe(
        str(folder / "deploy.prototxt"), str(folder / "Widerface-RetinaFace.caffemodel")
    )

    def detect(bgr: np.ndarray) -> tuple[int, int, int, int]:
        """``Detection.get_bbox`` of the original, line for line."""
        height, width = bgr.shape[:2]
        aspect = width / height
        img = bgr
        if width * height >= 192 * 192:
            size = (int(192 * math.sqrt(aspect)), int(192 / math.sqrt(aspect)))
            img = cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)
        net.setInput(cv2.dnn.blobFromImage(img, 1, mean=(104, 117, 123)), "data")
        out = net.forward("detection_out").squeeze()
        best = out[np.argmax(out[:, 2])]
        left, top = best[3] * width, best[4] * height
        right, bottom = best[5] * width, best[6] * height
        return int(left), int(top), int(right - left + 1), int(bottom - top + 1)

    return detect


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def images(data: Path) -> list[tuple[str, Path, str | None]]:
    """(name, path, label) of the liveness frames and the shared ``faces/`` photos."""
    found = []
    with open(data / "liveness" / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            found.append((row["file"], data / "liveness" / row["file"], row["label"]))
    for path in sorted((data / "faces").rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            found.append((str(path.relative_to(data)), path, None))
    return found


def rates(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    """(APCER, BPCER) in %: spoofs with score ≥ threshold, live faces below it."""
    spoof, live = labels == "spoof", labels == "live"
    return (
        100 * float(np.mean(scores[spoof] >= threshold)),
        100 * float(np.mean(scores[live] < threshold)),
    )


def detect(detector: Path, data: Path) -> None:
    """Print the original detector's box of every image as JSON: ``{name: [x, y, w, h]}``."""
    find = original_detector(detector)
    boxes = {}
    for name, path, _ in images(data):
        bgr = cv2.imread(str(path))
        boxes[name] = list(find(bgr))
    print(json.dumps(boxes, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("detect", "fit"))
    parser.add_argument("source", type=Path, help="detect: the detector folder; fit: boxes.json")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    if args.step == "detect":
        detect(args.source, args.data)
    else:
        fit(json.loads(args.source.read_text()), args.data, args.write)


def fit(boxes: dict[str, list[int]], data: Path, write: Path | None) -> None:
    """Pair the boxes with MTCNN's, fit the map, and print what each box definition scores."""
    from gatekeeper.vision import liveness
    from gatekeeper.vision.detect import FaceDetector
    from gatekeeper.vision.image import load_image

    mtcnn = FaceDetector()
    scorer = liveness.LivenessScorer()

    def score_box(rgb, box) -> float:
        crops = [liveness.crop(rgb, box, v.scale)[None] for v in liveness.VARIANTS]
        return float(liveness.live_score(scorer.logits(crops))[0])

    pairs, unpaired, originals = [], [], []
    for name, path, label in images(data):
        rgb = load_image(path)
        theirs = tuple(boxes[name])
        if label is not None:
            originals.append((name, label, theirs, score_box(rgb, theirs)))
        faces = mtcnn.detect(rgb)
        best = max(faces, key=lambda f: iou(f.box, theirs), default=None)
        if best is None or iou(best.box, theirs) < 0.3:
            unpaired.append(name)
            continue
        pairs.append((name, label, rgb, theirs, best))

    x, y, w, h = (np.array([p[4].box[i] for p in pairs], float) for i in range(4))
    ox, oy, ow, oh = (np.array([p[3][i] for p in pairs], float) for i in range(4))
    measures = {
        "dx": (ox + ow / 2 - x - w / 2) / w,
        "dy": (oy + oh / 2 - y - h / 2) / h,
        "sw": ow / w,
        "sh": oh / h,
    }
    print(f"{len(pairs)} faces paired; no pair (original box not on an MTCNN face): {unpaired}")
    print("param  median     q1     q3")
    for key, values in measures.items():
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        print(f"{key:5s} {med:+7.3f} {q1:+7.3f} {q3:+7.3f}")
    fit = liveness.BoxFit(*(round(float(np.median(v)), 3) for v in measures.values()))
    print(f"fit: {fit}")
    before = [iou(p[4].box, p[3]) for p in pairs]
    after = [iou(liveness.original_box(p[4].box, fit), p[3]) for p in pairs]
    print(
        f"IoU with the original box: MTCNN median {np.median(before):.3f} min {min(before):.3f}; "
        f"mapped median {np.median(after):.3f} min {min(after):.3f}"
    )

    labelled = [p for p in pairs if p[1] is not None]
    labels = np.array([p[1] for p in labelled])
    reference = np.array([score_box(p[2], p[3]) for p in labelled])
    definitions = {
        "original box": None,
        "MTCNN box": liveness.BoxFit(0, 0, 1, 1),
        "fitted": fit,
        "fitted, size ×0.9": liveness.BoxFit(fit.dx, fit.dy, fit.sw * 0.9, fit.sh * 0.9),
        "fitted, size ×1.1": liveness.BoxFit(fit.dx, fit.dy, fit.sw * 1.1, fit.sh * 1.1),
        "fitted, dy −0.05": liveness.BoxFit(fit.dx, fit.dy - 0.05, fit.sw, fit.sh),
        "fitted, dy +0.05": liveness.BoxFit(fit.dx, fit.dy + 0.05, fit.sw, fit.sh),
    }
    print(f"\nliveness set: {len(labelled)} of {sum(p[2] is not None for p in images(data))}")
    print("box                 |Δ| med   |Δ| max  APCER>0.5 BPCER>0.5  best thr  APCER  BPCER")
    for label, box_fit in definitions.items():
        if box_fit is None:
            scores = reference
        else:
            scores = np.array(
                [score_box(p[2], liveness.original_box(p[4].box, box_fit)) for p in labelled]
            )
        delta = np.abs(scores - reference)
        apcer, bpcer = rates(scores, labels, 0.5)
        best = min(
            np.unique(scores),
            key=lambda t: (max(rates(scores, labels, t)), sum(rates(scores, labels, t))),
        )
        ba, bb = rates(scores, labels, best)
        print(
            f"{label:18s} {np.median(delta):8.3f} {delta.max():8.3f} {apcer:9.1f} {bpcer:9.1f}"
            f" {best:9.3f} {ba:6.1f} {bb:6.1f}"
        )
    if write:
        with open(write, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["file", "label", "original_box", "original_score"])
            for name, label, box, score in originals:
                out.writerow([name, label, " ".join(map(str, box)), f"{score:.4f}"])
        print(f"wrote {write}")


if __name__ == "__main__":
    main()
