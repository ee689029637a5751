"""How long the console takes to exit once quitting is confirmed, with a live camera.

Runs ``python -m gatekeeper`` on the reference clip (replayed in a loop) in a 100×30 tmux
window, waits until the models are loaded and the camera is live (and a few frames processed),
presses ``q``, waits for "Quit Gatekeeper?", presses ``y`` and prints the seconds until the
process has exited (target ≤ 1 s). No timed asserts.

    .venv/bin/python benchmarks/bench_quit.py [--data ../shared/data] [--runs 3] [--weights DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gatekeeper.vision.engine import FaceEngine

REPO = Path(__file__).resolve().parents[1]
CLIP = Path("video/short_hamilton_clip.mp4")
EXITED = "console exited with status"


def _screen(tmux: list[str]) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout


def _wait_for(tmux: list[str], text: str, timeout: float) -> float:
    """Poll the pane every 10 ms until ``text`` shows; the time it did (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while text not in _screen(tmux):
        if time.perf_counter() > deadline:
            raise SystemExit(f"'{text}' not on screen after {timeout} s:\n{_screen(tmux)}")
        time.sleep(0.01)
    return time.perf_counter()


def quit_time(data: Path, weights: Path, run: int) -> float:
    """Seconds from pressing ``y`` at "Quit Gatekeeper?" until the console's process ended."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "weights").symlink_to(weights)
        tmux = ["tmux", "-L", f"bench-quit-{os.getpid()}-{run}"]
        command = (
            f"cd {REPO} && {sys.executable} -m gatekeeper --home {folder} "
            f"--camera {data / CLIP} --mute --loop; echo {EXITED} $?; sleep 30"
        )
        subprocess.run([*tmux, "new-session", "-d", "-x", "100", "-y", "30", command], check=True)
        try:
            _wait_for(tmux, "State   live", 90)
            _wait_for(tmux, "Process ", 30)
            time.sleep(2.0)  # let the worker be busy with frames, as at a door
            subprocess.run([*tmux, "send-keys", "q"], check=True)
            _wait_for(tmux, "Quit Gatekeeper?", 10)
            pressed = time.perf_counter()
            subprocess.run([*tmux, "send-keys", "y"], check=True)
            return _wait_for(tmux, EXITED, 30) - pressed
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--weights", type=Path, help="a converted weights folder (default: converted now)"
    )
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed")
    with tempfile.TemporaryDirectory() as folder:
        weights = (args.weights or Path(folder) / "weights").resolve()
        engine = FaceEngine(weights)  # converts both encoders once, outside the timed runs
        engine.facenet_embed(np.zeros((8, 8, 3), np.uint8), [])
        times = []
        for run in range(1, args.runs + 1):
            times.append(quit_time(args.data, weights, run))
            print(f"  run {run}: exited {times[-1]:.2f} s after the quit was confirmed")
        print(f"Quit with a live camera: median {statistics.median(times):.2f} s (target ≤ 1 s)")


if __name__ == "__main__":
    main()
