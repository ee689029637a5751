"""Console benchmarks: frame-to-decision latency, the UI's own costs, and cold start.

Figures printed (no timed asserts):

- the live loop on the reference clip (``short_hamilton_clip.mp4``, replayed in real time) at
  its own 640×360 and resized to 640×480: processing time per frame (the frame budget, target
  ≤ 150 ms median), capture-to-result latency (median, p95) and frames per second captured and
  processed;
- the UI's half-block preview rendering per frame (on the UI thread, at most 5 times a second);
- the access log on a 100,000-attempt database: first page, a page 50,000 rows deep, and the
  head query that finds new attempts;
- cold start of ``python -m gatekeeper`` in a 100×30 tmux window: until the main screen is
  drawn (target ≤ 8 s) and until the models are loaded and the camera is live.

    .venv/bin/python benchmarks/bench_console.py [--data ../shared/data] [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from gatekeeper.config import Settings
from gatekeeper.live import FrameResult, LiveRecognizer
from gatekeeper.service import Gatekeeper
from gatekeeper.store import AttemptFilter, NewAttempt
from gatekeeper.tui.halfblock import render_frame
from gatekeeper.vision.camera import CameraFeed, CameraState, CaptureSource, FrameReader
from gatekeeper.vision.engine import FaceEngine

REPO = Path(__file__).resolve().parents[1]
CLIP = Path("video/short_hamilton_clip.mp4")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


class _ResizedReader:
    def __init__(self, reader: FrameReader, size: tuple[int, int]) -> None:
        self._reader, self._size, self.fps = reader, size, reader.fps

    def read(self) -> np.ndarray | None:
        frame = self._reader.read()
        return None if frame is None else cv2.resize(frame, self._size)

    def release(self) -> None:
        self._reader.release()


class ResizedVideo:
    """A video file replayed with every frame resized to ``size`` (width, height) pixels."""

    live = False

    def __init__(self, path: Path, size: tuple[int, int]) -> None:
        self._video = CaptureSource(str(path), str(path), live=False)
        self._size = size
        self.description = f"{path.name} at {size[0]}×{size[1]}"

    def open(self) -> FrameReader:
        return _ResizedReader(self._video.open(), self._size)


def live_loop(
    engine: FaceEngine, data: Path, home: Path, size: tuple[int, int], *, tutorial: bool
) -> None:
    """Play the clip at ``size`` through a LiveRecognizer with the shipped decision rule and
    print its figures. The gallery is Lin and Alex, or with ``tutorial`` the tutorial's 12
    low-quality crops and Lin: strangers then match crops by dlib, so FaceNet's confirmation
    runs on many more frames (its worst case)."""
    settings = Settings(home=home, mute=True, camera_id="bench")
    gatekeeper = Gatekeeper(settings, engine=engine)
    probe = data / "faces" / "probe"
    gatekeeper.enrol("lin", [probe / "lin-manuel-miranda.png"])
    if tutorial:
        gatekeeper.import_folder(data / "seed-images", exclude=["camera_*"])
    else:
        gatekeeper.enrol("alex", [probe / "alex-lacamoire.png"])
    results: list[FrameResult] = []
    feed = CameraFeed(ResizedVideo(data / CLIP, size))
    recognizer = LiveRecognizer(
        gatekeeper,
        feed,
        on_event=lambda e: results.append(e) if isinstance(e, FrameResult) else None,
    )
    recognizer.start()
    while feed.status().state is not CameraState.ENDED:
        time.sleep(0.1)
    time.sleep(0.5)
    recognizer.stop()
    captured = feed.status().frame_id
    span = results[-1].captured_at - results[0].captured_at
    processing = [r.processing_s * 1000 for r in results]
    latency = [r.stats.latency_s * 1000 for r in results]
    decisions = [
        f"{d.decision.kind} {d.decision.name}" if d.decision.name else d.decision.kind
        for r in results
        for d in r.decisions
    ]
    print(
        f"  {size[0]}×{size[1]}, {'tutorial crops + Lin' if tutorial else 'Lin + Alex'}: "
        f"{len(results)} of {captured} frames processed "
        f"({len(results) / span:.1f} fps processed, {captured / span:.1f} fps captured)\n"
        f"    processing per frame: median {statistics.median(processing):.0f} ms, "
        f"p95 {percentile(processing, 0.95):.0f} ms, max {max(processing):.0f} ms\n"
        f"    capture → result:     median {statistics.median(latency):.0f} ms, "
        f"p95 {percentile(latency, 0.95):.0f} ms\n"
        f"    decisions: {', '.join(decisions)}"
    )
    gatekeeper.close()


def preview_cost(data: Path) -> None:
    """Render every 6th frame of the clip (5 of its 30 frames a second, as the console does)."""
    capture = cv2.VideoCapture(str(data / CLIP))
    frames = []
    while (read := capture.read())[0]:
        frames.append(np.ascontiguousarray(read[1][:, :, ::-1]))
    capture.release()
    shown = frames[::6]
    for cols, rows in ((32, 9), (76, 21), (90, 40)):
        began = time.perf_counter()
        for rgb in shown:
            render_frame(rgb, (), cols, rows)
        each = (time.perf_counter() - began) / len(shown) * 1000
        share = each * 5 / 10  # 5 renders a second, in per cent of a second
        print(f"  {cols}×{rows} cells: {each:.1f} ms per frame ({share:.1f}% of the UI thread)")


def access_log_pages(home: Path, rows: int) -> None:
    settings = Settings(home=home)
    gatekeeper = Gatekeeper(settings)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    attempts = (
        NewAttempt(
            camera_id="door",
            decision="granted" if i % 3 else "unknown",
            threshold=0.55,
            model_id="dlib_resnet_v1",
            name="ada" if i % 3 else None,
            distance=0.4,
            box=(1, 2, 3, 4),
            time=start + timedelta(seconds=i),
        )
        for i in range(rows)
    )
    began = time.perf_counter()
    while gatekeeper.store.record_attempts(itertools.islice(attempts, 50_000)):
        pass
    print(f"  loaded {rows:,} attempts in {time.perf_counter() - began:.1f} s")
    store, everyone = gatekeeper.store, AttemptFilter()

    def timed(label: str, call) -> list:
        began = time.perf_counter()
        result = call()
        print(f"  {label}: {(time.perf_counter() - began) * 1000:.1f} ms")
        return result

    page = timed("first page (200 rows)", lambda: store.query_attempts(everyone, limit=200))
    deep = timed(
        "page 50,000 rows deep",
        lambda: store.query_attempts(everyone, limit=200, before_id=page[-1].id - 50_000),
    )
    assert len(deep) == 200
    timed("head query (50 rows)", lambda: store.query_attempts(everyone, limit=50))
    timed(
        "first page, person filter",
        lambda: store.query_attempts(AttemptFilter(person="ada"), limit=200),
    )
    gatekeeper.close()


def cold_start(data: Path, weights: Path, runs: int) -> None:
    if shutil.which("tmux") is None:
        print("  tmux is not installed: skipped")
        return
    for run in range(1, runs + 1):
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "weights").symlink_to(weights)
            tmux = ["tmux", "-L", f"bench-console-{os.getpid()}-{run}"]
            command = (
                f"cd {REPO} && {sys.executable} -m gatekeeper --home {folder} "
                f"--camera {data / CLIP} --mute --loop"
            )
            began = time.perf_counter()
            subprocess.run(
                [*tmux, "new-session", "-d", "-x", "100", "-y", "30", command], check=True
            )
            marks: dict[str, float] = {}
            try:
                while len(marks) < 2 and time.perf_counter() - began < 60:
                    screen = subprocess.run(
                        [*tmux, "capture-pane", "-p"], capture_output=True, text=True
                    ).stdout
                    for mark, text in (("screen", "Access log"), ("live", "State   live")):
                        if mark not in marks and text in screen:
                            marks[mark] = time.perf_counter() - began
                    time.sleep(0.02)
                subprocess.run([*tmux, "send-keys", "q"], capture_output=True)
                time.sleep(1.0)
            finally:
                subprocess.run([*tmux, "kill-server"], capture_output=True)
        print(
            f"  run {run}: main screen after {marks.get('screen', float('nan')):.2f} s, "
            f"models loaded and camera live after {marks.get('live', float('nan')):.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=3, help="cold-start runs")
    parser.add_argument("--rows", type=int, default=100_000, help="attempts for the log pages")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        weights = root / "weights"
        print("Cold start (python -m gatekeeper in tmux, 100×30):")
        engine = FaceEngine(weights)  # converts both encoders once, outside the timed runs
        engine.facenet_embed(np.zeros((8, 8, 3), np.uint8), [])
        cold_start(args.data, weights, args.runs)
        print("Live loop on the reference clip (real-time replay, the shipped rule):")
        for size, tutorial in (((640, 360), False), ((640, 360), True), ((640, 480), False)):
            folder = root / f"live-{size[1]}-{'tutorial' if tutorial else 'lin'}"
            live_loop(engine, args.data, folder, size, tutorial=tutorial)
        print("Preview rendering (half blocks, UI thread):")
        preview_cost(args.data)
        print(f"Access log pages ({args.rows:,} attempts):")
        access_log_pages(root / "log", args.rows)


if __name__ == "__main__":
    main()
