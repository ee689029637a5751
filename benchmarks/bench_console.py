"""Console benchmarks: frame-to-decision latency, the UI's own costs, and cold start.

Figures printed (no timed asserts):

- the live loop on the reference clip (``short_hamilton_clip.mp4``, replayed in real time) at
  its own 640×360 and resized to 640×480: processing time per frame (the frame budget, target
  ≤ 150 ms median), capture-to-result latency (median, p95) and frames per second captured and
  processed;
- the UI's half-block preview rendering per frame (on the UI thread, at most 5 times a second);
- the access log on a 100,000-attempt database: first page, a page 50,000 rows deep, and the
  head query that finds new attempts;
- the console started as a user would (``python -m gatekeeper`` in an 80×24 tmux window, a
  fresh copy of the tutorial's home: weights cache built, the seed crops imported, Bertrand
  forced in, Lin enrolled; ``--camera`` the clip, looped), medians of ``--runs`` starts: start
  → main screen drawn (target ≤ 8 s), start → camera ``live`` on screen (target ≤ 3 s, issue
  18), start → the first access-log row, the console process's peak RSS (``VmHWM``, target
  ≤ 500 MB) and the camera panel's latency median and processed frames/s after ``--running``
  seconds live; what the model loader said when, per run.

    .venv/bin/python benchmarks/bench_console.py [--data ../shared/data] [--weights weights]
        [--runs 3] [--running 20] [--console-only]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
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
from gatekeeper.site import Site
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
    gatekeeper = Site.open(settings, engine=engine)
    probe = data / "faces" / "probe"
    gatekeeper.people.enrol("lin", [probe / "lin-manuel-miranda.png"])
    if tutorial:
        gatekeeper.people.import_folder(data / "seed-images", exclude=["camera_*"])
    else:
        gatekeeper.people.enrol("alex", [probe / "alex-lacamoire.png"])
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
    gatekeeper = Site.open(settings)
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


def prepare_home(home: Path, data: Path, weights: Path) -> None:
    """The tutorial's home: a copy of ``weights``, completed by the first import (which builds
    whatever compiled network is missing, outside the timed runs), the seed crops, Bertrand
    forced in and Lin from the probe photos."""
    shutil.copytree(weights, home / "weights")
    seeds = data / "seed-images"
    for args in (
        ["import", str(seeds), "--exclude", "camera_*"],
        ["enroll", "bertrand", str(seeds / "bertrand.jpg"), "--force"],
        ["enroll", "lin", str(data / "faces" / "probe" / "lin-manuel-miranda.png")],
    ):
        subprocess.run(
            [sys.executable, "-m", "gatekeeper", "--home", str(home), *args],
            check=True,
            capture_output=True,
        )


PROCESS = re.compile(r"Process (\d+\.\d) fps")
LATENCY = re.compile(r"Latency (\d+) ms(?:, p50 (\d+))?")
LOG_ROW = re.compile(r"\d\d [A-Z][a-z]{2} \d\d:\d\d:\d\d")
LOADING = re.compile(r"Models  loading… \d+ s — ([^│]*?) *│.*\n│ +([^│]*?) *│")


def console_session(tmux: list[str], home: Path, data: Path, running_s: float) -> dict:
    """One console start on a copy of ``home``, in an 80×24 tmux window: seconds from start to
    the camera live and to the first access-log row, what the loader said when, the camera
    panel after ``running_s`` s live, and the console process's peak RSS (VmHWM) then; also
    to the main screen drawn."""
    command = (
        f"cd {REPO} && exec {sys.executable} -m gatekeeper --home {home} "
        f"--camera {data / CLIP} --mute --loop"
    )
    env = ["-e", f"PYTHONPATH={os.environ.get('PYTHONPATH', REPO)}"]
    began = time.perf_counter()
    subprocess.run([*tmux, "new-session", "-d", *env, "-x", "80", "-y", "24", command], check=True)
    pid = subprocess.run(
        [*tmux, "display", "-p", "#{pane_pid}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    marks: dict[str, float] = {}
    loader: list[tuple[float, str]] = []
    screen = ""
    try:
        while time.perf_counter() - began < 90:
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p"], capture_output=True, text=True
            ).stdout
            now = time.perf_counter() - began
            if (said := LOADING.search(screen)) and (
                not loader or loader[-1][1] != " ".join(said.groups())
            ):
                loader.append((now, " ".join(said.groups())))
            if "screen" not in marks and "Access log" in screen:
                marks["screen"] = now
            if "live" not in marks and "State   live" in screen:
                marks["live"] = now
            if "decision" not in marks and LOG_ROW.search(screen):
                marks["decision"] = now
            if "live" in marks and now - marks["live"] >= running_s:
                break
            time.sleep(0.02)
        status = Path(f"/proc/{pid}/status").read_text()
        hwm_kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
        subprocess.run([*tmux, "send-keys", "q"], capture_output=True)
        time.sleep(0.5)
        subprocess.run([*tmux, "send-keys", "y"], capture_output=True)
        time.sleep(1.0)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    process, latency = PROCESS.search(screen), LATENCY.search(screen)
    return {
        "screen": marks.get("screen", math.nan),
        "live": marks.get("live", math.nan),
        "decision": marks.get("decision", math.nan),
        "rss": hwm_kb / 1024,
        "fps": float(process.group(1)) if process else math.nan,
        "latency": float(latency.group(2) or latency.group(1)) if latency else math.nan,
        "loader": loader,
    }


def console_start(data: Path, prepared: Path, runs: int, running_s: float) -> None:
    if shutil.which("tmux") is None:
        print("  tmux is not installed: skipped")
        return
    sessions = []
    for run in range(1, runs + 1):
        with tempfile.TemporaryDirectory() as folder:
            home = Path(folder) / "home"
            shutil.copytree(prepared, home, symlinks=True)
            tmux = ["tmux", "-L", f"bench-console-{os.getpid()}-{run}"]
            session = console_session(tmux, home, data, running_s)
        sessions.append(session)
        said = "; ".join(f"{at:.1f} s {word}" for at, word in session["loader"])
        print(
            f"  run {run} (load {os.getloadavg()[0]:.2f}): main screen {session['screen']:.2f} s, "
            f"live {session['live']:.2f} s, "
            f"first decision {session['decision']:.2f} s, peak RSS {session['rss']:.0f} MB, "
            f"after {running_s:.0f} s live {session['fps']:.1f} fps processed, "
            f"latency p50 {session['latency']:.0f} ms\n    loader: {said}"
        )

    def median(key: str) -> float:
        return statistics.median(s[key] for s in sessions)

    print(
        f"  medians of {runs}: start → main screen {median('screen'):.2f} s (target ≤ 8 s); "
        f"start → camera live {median('live'):.2f} s (target ≤ 3 s); "
        f"start → first decision {median('decision'):.2f} s; "
        f"peak RSS {median('rss'):.0f} MB (target ≤ 500 MB); "
        f"camera panel after {running_s:.0f} s live: latency p50 {median('latency'):.0f} ms, "
        f"{median('fps'):.1f} frames/s processed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument(
        "--weights", type=Path, default=REPO / "weights", help="weights cache to start from"
    )
    parser.add_argument("--runs", type=int, default=3, help="console starts")
    parser.add_argument("--running", type=float, default=20.0, help="seconds live per start")
    parser.add_argument("--rows", type=int, default=100_000, help="attempts for the log pages")
    parser.add_argument(
        "--console-only", action="store_true", help="only the console starts in tmux"
    )
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        prepared = root / "prepared"
        prepare_home(prepared, args.data, args.weights)
        print("Console start (python -m gatekeeper in tmux, 80×24, tutorial home, the clip):")
        console_start(args.data, prepared, args.runs, args.running)
        if args.console_only:
            return
        engine = FaceEngine(prepared / "weights")
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
