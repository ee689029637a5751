"""Put this folder first on ``PYTHONPATH`` and TensorFlow, Keras and mtcnn cannot be imported in
that Python process: the run path's tests prove it never needs them once the model cache is
built (``tests/cli/test_no_tensorflow.py``, ``tests/tui/test_tmux_check.py``)."""

import sys

BLOCKED = {"tensorflow", "keras", "tf_keras", "mtcnn"}


class _Blocked:
    """A meta-path finder that refuses the blocked top-level packages."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this process (run path without TensorFlow)")
        return None


sys.meta_path.insert(0, _Blocked())
