"""Visitor crops: what keeping one costs the recognition thread, and what its write costs.

Figures printed (no timed asserts), for the faces MTCNN finds on every 5th frame of the
reference clip (``short_hamilton_clip.mp4``, 640×360, faces ~25–200 px):

- ``face_crop`` (cut the box with its margin, scale down, JPEG): on the recognition thread,
  once per kept decision — median and worst, ms, and the JPEG sizes;
- ``VisitorKeeper.keep`` (queue the crop for the writer thread): on the recognition thread;
- ``Store.keep_visitor`` (one durable transaction: WAL + synchronous=FULL): on the keeper's
  thread, never the recognition thread's;
- the retention expiry of 2,000 crops (``Store.expire_visitors``, secure_delete on);
- removing a person whose 2,000 denied attempts kept crops, beside 2,000 crops of strangers
  (``Store.remove_person`` erases theirs in its transaction).

    .venv/bin/python benchmarks/bench_visitors.py [--data ../shared/data] [--dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2

from gatekeeper.store import AttemptFilter, NewAttempt, open_store
from gatekeeper.vision.detect import FaceDetector
from gatekeeper.visitors import VisitorKeeper, face_crop

CLIP = Path("video/short_hamilton_clip.mp4")
T0 = datetime(2026, 12, 1, tzinfo=UTC)
#: Crops the expiry benchmark deletes at once.
EXPIRED = 2_000


def clip_faces(data: Path) -> list[tuple]:
    """(RGB frame, face box) for every face MTCNN finds on every 5th frame of the clip."""
    detector = FaceDetector()
    capture = cv2.VideoCapture(str(data / CLIP))
    faces, index = [], 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % 5 == 0:
            rgb = bgr[:, :, ::-1].copy()
            faces += [(rgb, face.box) for face in detector.detect(rgb)]
        index += 1
    capture.release()
    return faces


def per_call_ms(fn, items) -> list[float]:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} ms, worst {max(times):.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/data")
    parser.add_argument("--dir", type=Path, help="where to put the database (default: a tmp dir)")
    args = parser.parse_args()

    faces = clip_faces(args.data.resolve())
    widths = sorted(box[2] for _, box in faces)
    print(f"{len(faces)} faces from the clip, {widths[0]}–{widths[-1]} px wide")
    face_crop(*faces[0])  # OpenCV's JPEG encoder warmed up
    crops = []
    times = per_call_ms(lambda face: crops.append(face_crop(*face)), faces)
    sizes = sorted(len(c.jpeg) for c in crops)
    print(f"face_crop (recognition thread):     {summary(times)}")
    print(
        f"  JPEG {sizes[0] / 1000:.1f}–{sizes[-1] / 1000:.1f} kB "
        f"(median {statistics.median(sizes) / 1000:.1f} kB), "
        f"largest crop {max(max(c.width, c.height) for c in crops)} px"
    )

    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        with open_store(str(Path(folder) / "bench.db"), images_dir=Path(folder)) as store:
            attempt_ids = unknown_attempts(store, 2 * len(crops), T0)
            keeper = VisitorKeeper(store)
            queued = list(zip(attempt_ids, crops, strict=False))
            times = per_call_ms(lambda item: keeper.keep(item[0], item[1], T0), queued)
            print(f"VisitorKeeper.keep (recognition thread): {summary(times)}")
            keeper.start()
            keeper.close(timeout=60)
            print(f"  {keeper.written} crops then written by the keeper's own thread")
            direct = list(zip(attempt_ids[len(crops) :], crops, strict=True))
            times = per_call_ms(
                lambda item: store.keep_visitor(
                    item[0], item[1].jpeg, item[1].width, item[1].height, kept=T0
                ),
                direct,
            )
            print(f"Store.keep_visitor (keeper thread, durable commit): {summary(times)}")

        with open_store(str(Path(folder) / "expire.db"), images_dir=Path(folder)) as store:
            crop = crops[len(crops) // 2]
            for attempt_id in unknown_attempts(store, EXPIRED, T0 - timedelta(days=60)):
                store.keep_visitor(attempt_id, crop.jpeg, crop.width, crop.height, kept=T0)
            start = time.perf_counter()
            expired = store.expire_visitors(T0 + timedelta(seconds=1), "benchmark")
            seconds = time.perf_counter() - start
            print(
                f"expire_visitors: {expired} crops of {len(crop.jpeg) / 1000:.1f} kB deleted "
                f"in {seconds:.2f} s (one transaction, secure_delete)"
            )

        with open_store(str(Path(folder) / "remove.db"), images_dir=Path(folder)) as store:
            lin = store.add_person("lin").id
            theirs = attempts(store, EXPIRED, T0, decision="denied", name="lin", person_id=lin)
            for attempt_id in theirs + unknown_attempts(store, EXPIRED, T0):
                store.keep_visitor(attempt_id, crop.jpeg, crop.width, crop.height, kept=T0)
            start = time.perf_counter()
            report = store.remove_person("lin")
            seconds = time.perf_counter() - start
            left = len(store.list_visitors(limit=EXPIRED + 1))
            print(
                f"remove_person: {report.visitors_deleted} of the person's crops deleted in "
                f"{seconds:.2f} s with the person (one transaction, secure_delete); "
                f"{left} strangers' crops left"
            )


def attempts(store, count: int, when: datetime, **values) -> list[int]:
    """Record ``count`` attempts at ``when`` (``values``: decision, name, person_id) in one
    transaction; their ids."""
    attempt = NewAttempt(
        camera_id="door", threshold=0.6, model_id="dlib_resnet_v1", time=when, **values
    )
    store.record_attempts([attempt] * count)
    chosen = AttemptFilter(
        since=when, until=when + timedelta(microseconds=1), decision=values["decision"]
    )
    return sorted(row.id for row in store.iter_attempts(chosen))


def unknown_attempts(store, count: int, when: datetime) -> list[int]:
    """Record ``count`` unknown attempts at ``when`` in one transaction; their ids."""
    return attempts(store, count, when, decision="unknown")


if __name__ == "__main__":
    main()
