"""A door without its console, for tests of several entrances on one database.

``python tests/door_worker.py --home H --db URL --camera-id ID --source PATH --report FILE``
runs the console's own recognition worker (:class:`gatekeeper.live.LiveRecognizer`: detect,
encode, match, decide, record) on one camera source until SIGTERM, then writes what it decided
to ``--report`` as JSON: every decision with its attempt id, how many frames it processed and
how many attempts were still waiting for the store. ``--ready FILE`` is created once the models
are loaded and the camera plays.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from gatekeeper.config import Settings
from gatekeeper.live import FrameResult, LiveRecognizer, PipelineState, PipelineStatus
from gatekeeper.site import Site
from gatekeeper.vision.camera import open_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--camera-id", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--ready", type=Path)
    args = parser.parse_args()

    settings = Settings(
        home=args.home,
        db=args.db,
        camera=args.source,
        camera_id=args.camera_id,
        fps=args.fps,
        loop=True,
        mute=True,
        liveness="off",
        recognition_interval_s=args.interval,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    decided: list[dict] = []
    frames = 0

    def on_event(event) -> None:
        nonlocal frames
        if isinstance(event, FrameResult):
            frames += 1
            for recorded in event.decisions:
                decided.append(
                    {
                        "attempt_id": recorded.attempt_id,
                        "decision": recorded.decision.kind,
                        "name": recorded.decision.name,
                        "time": recorded.time.isoformat(),
                    }
                )
        elif isinstance(event, PipelineStatus):
            if event.state is PipelineState.READY and args.ready is not None:
                args.ready.touch()
            elif event.state is PipelineState.FAILED:
                print(f"door worker failed: {event.message}", flush=True)
                stop.set()

    with Site.open(settings) as gatekeeper:
        feed = open_source(settings.camera, fps=settings.fps, loop=True)
        recognizer = LiveRecognizer(gatekeeper, feed, on_event=on_event)
        recognizer.start()
        stop.wait()
        recognizer.stop()
        report = {"decisions": decided, "frames": frames, "unrecorded": recognizer.unrecorded}
    args.report.write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    main()
