"""Import TensorFlow and Keras once, quietly.

TensorFlow's C++ runtime writes several lines to file descriptor 2 while it imports (oneDNN,
CUDA probing...), whatever ``TF_CPP_MIN_LOG_LEVEL`` says. In a terminal UI those lines would
scribble over the screen, so the import runs with fd 2 pointed at ``/dev/null``; Python-level
errors are still raised normally. The import takes seconds: callers do it lazily, off the UI
thread. A lock makes concurrent first calls safe.
"""

from __future__ import annotations

import os
import sys
import threading

from gatekeeper.vision.stderr import quiet_stderr_fd

_lock = threading.Lock()


def import_tf():
    """Return the ``tensorflow`` module, importing it quietly the first time."""
    with _lock:
        if "tensorflow" not in sys.modules:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            os.environ.setdefault("KERAS_BACKEND", "tensorflow")
            with quiet_stderr_fd():
                import tensorflow  # noqa: F401

                tensorflow.get_logger().setLevel("ERROR")
        return sys.modules["tensorflow"]


def import_keras():
    """Return the ``keras`` module on the TensorFlow backend (importing TensorFlow quietly)."""
    import_tf()
    with _lock:
        if "keras" not in sys.modules:
            with quiet_stderr_fd():
                import keras  # noqa: F401
        return sys.modules["keras"]
