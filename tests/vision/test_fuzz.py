"""Fuzzing the image loader and the detector: random and mutated bytes, odd arrays.

Whatever arrives, the result is an RGB image / a list of faces, or an ImageError — never a crash
inside OpenCV or TensorFlow, never another exception type.
"""

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.errors import ImageError
from gatekeeper.vision.image import load_image


def _seed_files():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (48, 64, 3), np.uint8)
    return [cv2.imencode(ext, pixels)[1].tobytes() for ext in (".jpg", ".png", ".bmp", ".webp")]


SEEDS = _seed_files()


@st.composite
def mutated_images(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            data[at : at + 16] = bytes(len(data[at : at + 16]))
    return bytes(data)


def _check(result):
    assert result.dtype == np.uint8 and result.ndim == 3 and result.shape[2] == 3


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2048), mutated_images()))
def test_loader_never_crashes_on_bytes(data):
    try:
        _check(load_image(data))
    except ImageError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 70), min_size=1, max_size=3),
    st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_]),
)
def test_loader_never_crashes_on_arrays(shape, dtype):
    array = np.ones(shape, dtype=dtype)
    try:
        _check(load_image(array))
    except ImageError as exc:
        assert str(exc)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.integers(1, 300),
    st.integers(1, 300),
    st.sampled_from(["noise", "flat", "stripes"]),
)
def test_detector_never_crashes(engine, h, w, pattern):
    rng = np.random.default_rng(h * 1000 + w)
    if pattern == "noise":
        image = rng.integers(0, 256, (h, w, 3), np.uint8)
    elif pattern == "flat":
        image = np.full((h, w, 3), rng.integers(0, 256), np.uint8)
    else:
        image = np.zeros((h, w, 3), np.uint8)
        image[::2] = 255
    faces = engine.detect(image)
    assert isinstance(faces, list)
    for face in engine.embed_faces(image, faces):
        assert np.isfinite(face.embedding).all()
