"""``gatekeeper identify`` cold against face_recognition's CLI, on the same photo and people.

The tutorial's 12 seed crops are the known people (Gatekeeper: imported once into a fresh home
whose weights cache is built; face_recognition: its ``known`` folder, which its CLI re-encodes
on every run), and ``camera_0.jpg`` the photo. Each round runs both commands once, alternating
which goes first, as fresh processes; the figures are medians over ``--rounds`` of the wall
time and of the peak resident memory (``/usr/bin/time``-style, from ``wait4``'s rusage).
Targets (issue 18): Gatekeeper ≤ 0.6 × face_recognition's wall time and ≤ 300 MB.

face_recognition is a benchmark-only install (``pip install --no-deps face_recognition``; it
needs dlib, which the dev extra's ``dlib-bin`` provides), never a project dependency.

    .venv/bin/python benchmarks/bench_identify.py [--data ../shared/data] [--weights weights]
        [--rounds 5]
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

REPO = Path(__file__).resolve().parents[1]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of one process."""
    began = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:3]} failed: {out}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    fr = shutil.which("face_recognition") or str(Path(sys.executable).parent / "face_recognition")
    seeds = options.data / "seed-images"
    photo = seeds / "camera_0.jpg"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as folder:
        home, known = Path(folder) / "home", Path(folder) / "known"
        home.mkdir()
        (home / "weights").symlink_to(options.weights.resolve(), target_is_directory=True)
        known.mkdir()
        for seed in seeds.iterdir():
            if not seed.stem.startswith("camera"):
                shutil.copy(seed, known / seed.name)
        gatekeeper = [sys.executable, "-m", "gatekeeper", "--home", str(home)]
        subprocess.run(
            [*gatekeeper, "import", str(seeds), "--exclude", "camera_*"],
            check=False,
            capture_output=True,
            env=env,
        )
        commands = {
            "gatekeeper identify": [*gatekeeper, "identify", str(photo)],
            "face_recognition": [fr, str(known), str(photo)],
        }
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        outputs = {}
        for round_ in range(options.rounds):
            order = list(commands) if round_ % 2 == 0 else list(commands)[::-1]
            for name in order:
                wall, rss, out = timed(commands[name], env)
                figures[name].append((wall, rss))
                outputs[name] = out.strip().splitlines()[-1] if out.strip() else ""
    print(f"{options.rounds} alternating rounds, {photo.name} against the 12 seed crops:")
    medians = {}
    for name, runs in figures.items():
        wall = statistics.median(w for w, _ in runs)
        rss = statistics.median(r for _, r in runs)
        medians[name] = wall
        spread = f"{min(w for w, _ in runs):.2f}–{max(w for w, _ in runs):.2f}"
        print(f"  {name:20s} wall {wall:.2f} s ({spread}), peak RSS {rss:.0f} MB")
        print(f"    says: {outputs[name]}")
    ratio = medians["gatekeeper identify"] / medians["face_recognition"]
    print(f"  gatekeeper / face_recognition wall time: {ratio:.2f} (target <= 0.6)")


if __name__ == "__main__":
    main()
