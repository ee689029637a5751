"""The console in a real terminal: ``scripts/tmux_console_check.sh`` under tmux, at 80×24 and at
200×60."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "tmux_console_check.sh"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("size", ["80x24", "200x60"])
def test_console_in_tmux(shared_data, weights_dir, size):
    clip = shared_data / "video" / "short_hamilton_clip.mp4"
    env = {
        **os.environ,
        "GATEKEEPER_CHECK_WEIGHTS": str(weights_dir),
        "GATEKEEPER_CHECK_SIZE": size,
    }
    result = subprocess.run(
        [str(SCRIPT), str(clip)], env=env, capture_output=True, text=True, timeout=420
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("PASS")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_console_in_tmux_without_tensorflow(shared_data, weights_dir):
    """The same session with TensorFlow, Keras and mtcnn unimportable
    (``tests/no_tensorflow/sitecustomize.py``): once the model cache is built, the console
    loads, goes live on the clip and quits without them."""
    clip = shared_data / "video" / "short_hamilton_clip.mp4"
    blocker = Path(__file__).resolve().parents[1] / "no_tensorflow"
    path = os.pathsep.join(p for p in (str(blocker), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "GATEKEEPER_CHECK_WEIGHTS": str(weights_dir), "PYTHONPATH": path}
    result = subprocess.run(
        [str(SCRIPT), str(clip)], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("PASS")
