"""The run path without TensorFlow: with ``tensorflow``, ``keras`` and ``mtcnn`` made
unimportable (``tests/no_tensorflow/sitecustomize.py``), every vision command works once the
model cache is built, with all three encoders (dlib's, FaceNet, SFace) installed and used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import subprocess_env

BLOCKER = Path(__file__).resolve().parents[1] / "no_tensorflow"

#: Runs commands with ``cli.main`` in one process and reports their exit statuses, what they
#: printed, and which blocked packages are loaded.
_HARNESS = """\
import contextlib, io, json, sys
from gatekeeper.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    results.append({"code": code, "out": out.getvalue()})
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "mtcnn"})
print(json.dumps({"results": results, "heavy": heavy}))
"""


def _blocked_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(BLOCKER), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess_env(PYTHONPATH=path)


def test_the_blocker_blocks():
    completed = subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        capture_output=True,
        text=True,
        env=_blocked_env(),
        timeout=60,
    )
    assert completed.returncode == 1 and "blocked in this process" in completed.stderr


def test_vision_commands_run_without_tensorflow(new_home, tmp_path, shared_data):
    home = str(new_home(tmp_path))
    seeds = shared_data / "seed-images"
    probe = shared_data / "faces" / "probe"
    labels = shared_data / "liveness" / "labels.csv"
    pairs = Path(__file__).resolve().parents[2] / "benchmarks" / "shared_pairs.csv"
    commands = [
        ["--home", home, "import", str(seeds), "--exclude", "camera_*", "--exclude", "dan.*"],
        ["--home", home, "enroll", "lin", str(probe / "lin-manuel-miranda.png")],
        ["--home", home, "identify", str(seeds / "camera_0.jpg"), "--json"],
        ["--home", home, "verify", str(probe / "obama1.jpg"), str(probe / "obama3.jpg"), "--json"],
        ["--home", home, "liveness", str(probe / "obama1.jpg")],
        ["--home", home, "evaluate", str(pairs), "--images", str(shared_data)],
        ["--home", home, "evaluate-liveness", str(labels)],
    ]
    completed = subprocess.run(
        [sys.executable, "-c", _HARNESS, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=600,
        env=_blocked_env(),
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["heavy"] == []
    codes = [r["code"] for r in report["results"]]
    assert codes == [0, 0, 0, 0, 0, 0, 0], (codes, completed.stderr)
    (face,) = json.loads(report["results"][2]["out"])
    assert face["identity"] == "younes" and face["decision"] == "granted"
    verdict = json.loads(report["results"][3]["out"])
    assert set(verdict["distances"]) == {"dlib_resnet_v1", "facenet_keras_v1", "sface_int8bq_v1"}
    assert "building the model cache" not in completed.stderr
