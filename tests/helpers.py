"""Helpers shared by the test folders: who is in the shared photos (``../shared/data``, checked
by eye where its README errs), and waiting for a condition."""

import time

#: Who each tutorial door-camera frame (``seed-images/camera_N.jpg``) shows.
CAMERA_FRAMES = {
    "camera_0": "younes",
    "camera_1": "bertrand",
    "camera_2": "benoit",
    "camera_3": "bertrand",
    "camera_4": "dan",
    "camera_5": "arnaud",
}

#: Single-face probes (``faces/probe/``) and who they are, named as the ``faces/train/`` folders.
PROBES = {
    "alex_lacamoire1.jpg": "alex_lacamoire",
    "alex-lacamoire.png": "alex_lacamoire",
    "johnsnow_test1.jpg": "kit_harington",
    "obama1.jpg": "obama",
    "obama3.jpg": "obama",
    "obama-240p.jpg": "obama",
    "obama-720p.jpg": "obama",
    "obama_partial_face.jpg": "obama",
    "obama_partial_face2.jpg": "obama",
    "32bit.png": "obama",
}


def wait_until(predicate, timeout: float, step: float = 0.01) -> bool:
    """Poll ``predicate`` every ``step`` seconds until it is true or ``timeout`` seconds pass;
    returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
