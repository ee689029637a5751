"""Door actions never slow the recognition worker: its frame rate on the reference clip with no
door, with a webhook whose endpoint is down (connection refused, retried), and with one whose
endpoint hangs (accepts, never answers), fired on every decision.

Figures printed (no timed asserts): frames processed per second by the worker (the clip
replayed in real time, 29.97 fps captured: the worker is the bottleneck), median processing
per frame, decisions made, and what became of the actions (ok / failed / dropped). On a loaded
machine the frame rate swings by tens of per cent from run to run, whatever the door does, so
the script also prints what the door costs the worker directly, which the load hardly moves:
the time the recognition thread spends inside the door's calls (``decision``, ``camera``,
``store``: each only queues), and the CPU time the door's own threads use (from
``/proc/self/task``), against the worker thread's. The
recognition interval is 0.5 s, so decisions (and actions) come as often as the votes allow.
Configurations are run in turn, ``--runs`` times each, to spread the noise of a shared
machine over all of them, and the load average is printed with the figures; the target is
every door configuration within 10 % of no door.

    .venv/bin/python benchmarks/bench_actions.py [--data ../shared/data] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from gatekeeper.config import Settings
from gatekeeper.door import ActionOutcome, Door
from gatekeeper.door.webhook import WebhookSpec
from gatekeeper.live import FrameResult, LiveRecognizer
from gatekeeper.site import Site
from gatekeeper.vision.camera import CameraFeed, CameraState, CaptureSource
from gatekeeper.vision.engine import FaceEngine

REPO = Path(__file__).resolve().parents[1]
CLIP = Path("video/short_hamilton_clip.mp4")
EVERY_DECISION = ("granted", "denied", "unknown", "spoof")


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/door"


class HangingServer:
    """Accepts every connection and never answers (until closed)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/door"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._held.append(connection)

    def close(self) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()


def thread_cpu_s(native_id: int | None) -> float:
    """CPU seconds (user + system) a thread of this process has used so far (Linux)."""
    if native_id is None:
        return 0.0
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TimedDoor:
    """The door as the worker sees it, adding up the wall time spent in each call."""

    def __init__(self, door: Door) -> None:
        self.door = door
        self.calls = 0
        self.seconds = 0.0

    def _timed(self, method, *args) -> None:
        started = time.perf_counter()
        method(*args)
        self.seconds += time.perf_counter() - started
        self.calls += 1

    def decision(self, event) -> None:
        self._timed(self.door.decision, event)

    def camera(self, camera: str, state: str) -> None:
        self._timed(self.door.camera, camera, state)

    def store(self, ok: bool, waiting: int = 0) -> None:
        self._timed(self.door.store, ok, waiting)


def run(engine: FaceEngine, data: Path, home: Path, url: str | None) -> dict:
    """One replay of the clip; ``url``: the webhook fired on every decision (None: no door)."""
    settings = Settings(home=home, mute=True, camera_id="bench", recognition_interval_s=0.5)
    gatekeeper = Site.open(settings, engine=engine)
    probe = data / "faces" / "probe"
    gatekeeper.people.enrol("lin", [probe / "lin-manuel-miranda.png"])
    gatekeeper.people.enrol("alex", [probe / "alex-lacamoire.png"])
    outcomes: list[ActionOutcome] = []
    door = timed = None
    if url is not None:
        hook = WebhookSpec(
            name="hook", on=EVERY_DECISION, cameras=None, timeout_s=2.0, url=url, retries=2
        )
        door = Door(
            gatekeeper.store,
            [hook],
            on_notice=lambda n: outcomes.append(n) if isinstance(n, ActionOutcome) else None,
        )
        door.start()
        timed = TimedDoor(door)
    results: list[FrameResult] = []
    feed = CameraFeed(CaptureSource(str(data / CLIP), str(data / CLIP), live=False))
    recognizer = LiveRecognizer(
        gatekeeper,
        feed,
        on_event=lambda e: results.append(e) if isinstance(e, FrameResult) else None,
        door=timed,
    )
    recognizer.start()
    while feed.status().state is not CameraState.ENDED:
        time.sleep(0.1)
    time.sleep(0.5)
    threads = {t.name: t for t in threading.enumerate()}
    worker_cpu = thread_cpu_s(threads["live-recognizer"].native_id)
    # the dispatcher's threads are named door-<action>, the recorder's door-recorder
    door_cpu = sum(thread_cpu_s(t.native_id) for n, t in threads.items() if n.startswith("door-"))
    recognizer.stop()
    dropped = 0 if door is None else door.dispatcher.dropped
    if door is not None:
        door.close(timeout=1.0)
    gatekeeper.close()
    span = results[-1].captured_at - results[0].captured_at
    return {
        "fps": (len(results) - 1) / span,
        "processing_ms": statistics.median(r.processing_s * 1000 for r in results),
        "decisions": sum(len(r.decisions) for r in results),
        "ok": sum(o.ok for o in outcomes),
        "failed": sum(not o.ok and o.attempts > 0 for o in outcomes),
        "dropped": dropped,
        "unsent": sum(o.attempts == 0 for o in outcomes) - dropped,
        "in_door_us": 0.0 if timed is None else timed.seconds / len(results) * 1e6,
        "door_cpu_ms": door_cpu * 1000,
        "worker_cpu_ms": worker_cpu * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    engine = FaceEngine(args.weights)
    engine.facenet_embed(np.zeros((8, 8, 3), np.uint8), [])
    hanging = HangingServer()
    load = os.getloadavg()
    configurations = {
        "no door": None,
        "webhook down (refused, 2 retries)": refused_url(),
        "webhook hanging (2 s timeout, 2 retries)": hanging.url,
    }
    figures: dict[str, list[dict]] = {name: [] for name in configurations}
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.runs):
            for number, (name, url) in enumerate(configurations.items()):
                home = Path(folder) / f"run-{index}-{number}"
                figures[name].append(run(engine, args.data, home, url))
    hanging.close()
    baseline = statistics.median(f["fps"] for f in figures["no door"])
    print(f"Worker on the reference clip, {args.runs} runs each (median of runs):")
    for name, runs in figures.items():
        fps = statistics.median(f["fps"] for f in runs)
        each = ", ".join(f"{f['fps']:.2f}" for f in runs)
        print(
            f"  {name:<42} {fps:5.2f} fps processed ({100 * (fps / baseline - 1):+.1f} %), "
            f"runs {each}; "
            f"processing median {statistics.median(f['processing_ms'] for f in runs):.0f} ms; "
            f"decisions {sum(f['decisions'] for f in runs)}, actions ok "
            f"{sum(f['ok'] for f in runs)} / failed {sum(f['failed'] for f in runs)} / "
            f"queue full {sum(f['dropped'] for f in runs)} / still queued at the end "
            f"{sum(f['unsent'] for f in runs)}"
        )
        if name != "no door":
            door_cpu = sum(f["door_cpu_ms"] for f in runs)
            worker_cpu = sum(f["worker_cpu_ms"] for f in runs)
            print(
                f"    the worker spent {statistics.median(f['in_door_us'] for f in runs):.0f} µs "
                f"per frame in the door's calls (median of runs); the door's threads used "
                f"{door_cpu:.0f} ms of CPU, {100 * door_cpu / worker_cpu:.2f} % of the worker's "
                f"{worker_cpu / 1000:.1f} s"
            )
    print(f"  load average (1 min) before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
