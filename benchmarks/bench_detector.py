"""YuNet (the shipped detector) against MTCNN (the one it replaced), side by side.

Prints, for the shared photos (``faces/``, ``seed-images/``), the validation photos
(``benchmarks/validation/``, materialised by its ``fetch.py``), the liveness frames and every
5th frame of the shared clip:

- recall: images with a face, faces found by each, faces one finds that the other misses (a
  *clear* face is one that passes the live quality gate, ``vision/quality.py``), through the
  engine's ``detect`` (with its padded retries for still photos, as ``identify`` runs it);
- landmark agreement on the faces both find: distance per point in inter-ocular units;
- box framing: YuNet's raw box against MTCNN's on the faces both find (the medians are the
  ``BOX_MAP`` fit of ``vision/detect.py``; ``--fit`` prints them as code), and both scores;
- speed: median ms per clip frame (640×360), each detector at its default downscaling;
- the effect on recognition: each image's largest face embedded by both encoders after each
  detector (how far each embedding moves), and the site's rule on both labelled sets
  (``shared_pairs.csv``, ``validation/pairs.csv``): FAR, FRR and pairs whose verdict changes;
- the effect on liveness: APCER and BPCER on the liveness frames with each detector.

MTCNN needs ``mtcnn`` and TensorFlow (a benchmark-only install now: ``benchmarks/
mtcnn_detector.py``).

    .venv/bin/python benchmarks/bench_detector.py [--data ../shared/data]
        [--validation /work/validation/photos] [--weights weights] [--fit]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from mtcnn_detector import CHIP_TEMPLATE, MtcnnDetector

from gatekeeper.config import Settings
from gatekeeper.decision import Evidence
from gatekeeper.evaluate import evaluate_pairs, read_pairs
from gatekeeper.site import Site
from gatekeeper.vision.detect import BoxMap, FaceDetector
from gatekeeper.vision.engine import FaceEngine
from gatekeeper.vision.image import load_image
from gatekeeper.vision.quality import quality_issue

REPO = Path(__file__).resolve().parents[1]
IDENTITY = BoxMap(0.0, 0.0, 1.0, 1.0)
LIVENESS_THRESHOLD = 0.75


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def match(first, second) -> list[tuple[int, int]]:
    """Greedy pairs (i, j) of faces with IoU ≥ 0.3, best overlap first."""
    scored = sorted(
        ((iou(a.box, b.box), i, j) for i, a in enumerate(first) for j, b in enumerate(second)),
        reverse=True,
    )
    used_a, used_b, pairs = set(), set(), []
    for overlap, i, j in scored:
        if overlap >= 0.3 and i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


def image_sets(data: Path, validation: Path | None) -> dict[str, list[tuple[str, np.ndarray]]]:
    sets = {
        "shared photos": [
            (str(p.relative_to(data)), load_image(p))
            for folder in ("faces", "seed-images")
            for p in sorted((data / folder).rglob("*"))
            if p.is_file()
        ]
    }
    if validation is not None and validation.is_dir():
        sets["validation photos"] = [
            (str(p.relative_to(validation)), load_image(p))
            for p in sorted(validation.rglob("*"))
            if p.suffix.lower() in (".jpg", ".png")
        ]
    with open(data / "liveness" / "labels.csv", newline="") as f:
        sets["liveness frames"] = [
            (row["file"], load_image(data / "liveness" / row["file"])) for row in csv.DictReader(f)
        ]
    clip = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
    frames, index = [], 0
    while True:
        ok, bgr = clip.read()
        if not ok:
            break
        if index % 5 == 0:
            frames.append((f"clip frame {index}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        index += 1
    sets["clip frames (every 5th)"] = frames
    return sets


def recall(name, images, mtcnn: FaceEngine, yunet: FaceEngine, raw: FaceDetector, boxes):
    still = not name.startswith("clip")
    counts = {"images": len(images), "m_img": 0, "y_img": 0, "m": 0, "y": 0}
    lost, gained, landmark_err = [], [], []
    for label, rgb in images:
        a = mtcnn.detect(rgb, pad_retry=still)
        b = yunet.detect(rgb, pad_retry=still)
        counts["m"] += len(a)
        counts["y"] += len(b)
        counts["m_img"] += bool(a)
        counts["y_img"] += bool(b)
        pairs = match(a, b)
        for i, j in pairs:
            fa, fb = a[i], b[j]
            span = float(np.linalg.norm(fa.landmarks[1] - fa.landmarks[0])) or 1.0
            landmark_err.append(np.linalg.norm(fa.landmarks - fb.landmarks, axis=1) / span)
        for i in sorted(set(range(len(a))) - {i for i, _ in pairs}):
            lost.append((label, a[i].box[2], quality_issue(a[i]) is None, a[i].score))
        for j in sorted(set(range(len(b))) - {j for _, j in pairs}):
            gained.append((label, b[j].box[2], quality_issue(b[j]) is None, b[j].score))
        if name == "shared photos":
            found = raw.detect(rgb)
            for i, j in match(a, found):
                boxes.append((a[i], found[j]))
    print(f"\n{name}: {counts['images']} images")
    print(
        f"  with a face: MTCNN {counts['m_img']}, YuNet {counts['y_img']}; "
        f"faces: MTCNN {counts['m']}, YuNet {counts['y']}"
    )
    clear_lost = [x for x in lost if x[2]]
    print(
        f"  MTCNN's faces YuNet misses: {len(lost)} ({len(clear_lost)} clear); "
        f"YuNet's faces MTCNN misses: {len(gained)} ({sum(x[2] for x in gained)} clear)"
    )
    for label, width, clear, score in lost:
        kind = "clear" if clear else "not clear"
        print(f"    lost {label}: {width} px, {kind}, MTCNN {score:.2f}")
    if landmark_err:
        err = np.stack(landmark_err)
        names = ("left eye", "right eye", "nose", "mouth left", "mouth right")
        per = ", ".join(
            f"{n} {np.median(err[:, k]):.3f}/{np.percentile(err[:, k], 95):.3f}"
            for k, n in enumerate(names)
        )
        print(f"  landmarks, {len(err)} faces, inter-ocular units (median/p95): {per}")
    return clear_lost


def box_fit(boxes) -> BoxMap:
    dx, dy, sw, sh, scores_m, scores_y = [], [], [], [], [], []
    for m, y in boxes:
        mx, my, mw, mh = m.box
        yx, yy, yw, yh = y.box
        dx.append((mx + mw / 2 - (yx + yw / 2)) / yw)
        dy.append((my + mh / 2 - (yy + yh / 2)) / yh)
        sw.append(mw / yw)
        sh.append(mh / yh)
        scores_m.append(m.score)
        scores_y.append(y.score)

    def q(v):
        return f"{np.median(v):+.3f} [{np.percentile(v, 25):+.3f}, {np.percentile(v, 75):+.3f}]"

    print(f"\nbox framing, {len(boxes)} shared faces both find (MTCNN box vs YuNet's raw box):")
    print(f"  centre dx {q(dx)}, dy {q(dy)} (× YuNet w, h); size sw {q(sw)}, sh {q(sh)}")
    fit = BoxMap(*(round(float(np.median(v)), 3) for v in (dx, dy, sw, sh)))
    ious = [iou(m.box, fit.apply(*y.box)) for m, y in boxes]
    raw_ious = [iou(m.box, y.box) for m, y in boxes]
    print(
        f"  IoU with MTCNN's box: raw {np.median(raw_ious):.3f} (min {min(raw_ious):.3f}), "
        f"mapped {np.median(ious):.3f} (min {min(ious):.3f})"
    )
    print(
        f"  scores: MTCNN {min(scores_m):.3f}–{max(scores_m):.3f} (median "
        f"{np.median(scores_m):.3f}), YuNet {min(scores_y):.3f}–{max(scores_y):.3f} "
        f"(median {np.median(scores_y):.3f})"
    )
    return fit


def speed(frames, mtcnn: FaceEngine, yunet: FaceEngine) -> None:
    sample = [rgb for _, rgb in frames[::4]]
    for name, engine in (("MTCNN (compiled)", mtcnn), ("YuNet", yunet)):
        for rgb in sample[:3]:
            engine.detect(rgb, pad_retry=False)
        times = []
        for rgb in sample:
            began = time.perf_counter()
            engine.detect(rgb, pad_retry=False)
            times.append(1000 * (time.perf_counter() - began))
        print(
            f"  {name}: {statistics.median(times):.1f} ms median per "
            f"{sample[0].shape[1]}×{sample[0].shape[0]} frame ({len(sample)} frames)"
        )


def recognition(engines, data: Path, validation: Path | None) -> None:
    sets = [("shared", REPO / "benchmarks" / "shared_pairs.csv", data)]
    if validation is not None and validation.is_dir():
        sets.append(("validation", REPO / "benchmarks" / "validation" / "pairs.csv", validation))
    with tempfile.TemporaryDirectory() as home:
        sites = {
            name: Site.open(Settings(home=Path(home) / name), engine=engine)
            for name, engine in engines.items()
        }
        rule = sites["MTCNN"].rule()
        for set_name, pairs_file, images in sets:
            pairs = read_pairs(pairs_file, images=images)
            measured, verdicts = {}, {}
            for name, site in sites.items():
                cache = {}

                def embed(path, site=site, cache=cache):
                    cache[path] = site.recognition.measure(path)
                    return cache[path]

                evaluation = evaluate_pairs(pairs, embed, site.recognition.threshold, rule=rule)
                measured[name] = cache
                ours = next(r for r in evaluation.rules if r.name == "site")
                verdicts[name] = [
                    None
                    if r.distance is None or r.facenet_distance is None
                    else rule.accepts(Evidence(r.distance, r.facenet_distance, r.low_quality))
                    for r in evaluation.results
                ]
                print(
                    f"  {set_name}, {name}: {len(evaluation.results)} pairs, no face "
                    f"{evaluation.no_face}; site rule FAR {100 * ours.far:.2f} %, "
                    f"FRR {100 * ours.frr:.2f} %"
                )
            changed = sum(a != b for a, b in zip(verdicts["MTCNN"], verdicts["YuNet"], strict=True))
            both = measured["MTCNN"].keys() & measured["YuNet"].keys()
            shift_d = [
                float(np.linalg.norm(measured["MTCNN"][p].dlib - measured["YuNet"][p].dlib))
                for p in both
            ]
            shift_f = [
                float(np.linalg.norm(measured["MTCNN"][p].facenet - measured["YuNet"][p].facenet))
                for p in both
            ]
            print(
                f"  {set_name}: verdicts changed {changed} of {len(pairs)}; embedding shift "
                f"per image, dlib median {np.median(shift_d):.3f} (max {max(shift_d):.3f}), "
                f"FaceNet median {np.median(shift_f):.3f} (max {max(shift_f):.3f})"
            )
        for site in sites.values():
            site.close()


def liveness(images, engines) -> None:
    labels = {}
    with open(images["dir"] / "labels.csv", newline="") as f:
        labels = {row["file"]: row["label"] for row in csv.DictReader(f)}
    for name, engine in engines.items():
        accepted = rejected = attacks = lives = missing = 0
        for label, rgb in images["frames"]:
            faces = engine.detect(rgb)
            if not faces:
                missing += 1
                continue
            score = float(engine.live_scores(rgb, faces[:1])[0])
            if labels[label] == "spoof":
                attacks += 1
                accepted += score >= LIVENESS_THRESHOLD
            else:
                lives += 1
                rejected += score < LIVENESS_THRESHOLD
        print(
            f"  {name}: APCER {accepted}/{attacks}, BPCER {rejected}/{lives} at "
            f"{LIVENESS_THRESHOLD}; no face in {missing} frames"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--validation", type=Path, default=Path("/work/validation/photos"))
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--fit", action="store_true", help="print the BOX_MAP fit as code")
    options = parser.parse_args()
    mtcnn = FaceEngine(options.weights, detector=MtcnnDetector(), chip_template=CHIP_TEMPLATE)
    yunet = FaceEngine(options.weights, encoder=mtcnn.encoder, facenet=mtcnn.facenet)
    raw = FaceDetector(box_map=IDENTITY)
    sets = image_sets(options.data, options.validation)
    boxes: list = []
    clear_lost = 0
    for name, images in sets.items():
        clear_lost += len(recall(name, images, mtcnn, yunet, raw, boxes))
    fit = box_fit(boxes)
    if options.fit:
        print(f"  BOX_MAP = {fit!r}")
    print(f"\nclear faces MTCNN finds and YuNet loses, all sets: {clear_lost}")
    print("\nspeed, clip frames:")
    speed(sets["clip frames (every 5th)"], mtcnn, yunet)
    print("\nrecognition (both encoders, the site's rule):")
    recognition({"MTCNN": mtcnn, "YuNet": yunet}, options.data, options.validation)
    print("\nliveness (largest face of each frame):")
    liveness(
        {"dir": options.data / "liveness", "frames": sets["liveness frames"]},
        {"MTCNN": mtcnn, "YuNet": yunet},
    )


if __name__ == "__main__":
    main()
