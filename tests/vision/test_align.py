"""Alignment: the similarity fit, rotation invariance, and agreement with dlib's own chips."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from gatekeeper.vision.align import CHIP_TEMPLATE, align_face, similarity_transform
from gatekeeper.vision.image import load_image

REPO = Path(__file__).resolve().parents[2]


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 500, (5, 2))
    angle, scale, shift = 0.4, 0.37, np.array([12.0, -30.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], rot, atol=1e-9)
    assert np.allclose(matrix[:, 2], shift, atol=1e-6)


def test_similarity_transform_never_reflects():
    src = np.random.default_rng(2).uniform(0, 10, (5, 2))
    mirrored = src * [-1, 1]
    linear = similarity_transform(src, mirrored)[:, :2]
    assert np.linalg.det(linear) > 0
    assert np.allclose(linear[0, 0], linear[1, 1]) and np.allclose(linear[0, 1], -linear[1, 0])


def test_template_is_a_plausible_face_layout():
    left_eye, right_eye, nose, mouth_left, mouth_right = CHIP_TEMPLATE
    assert left_eye[0] < nose[0] < right_eye[0]
    assert left_eye[1] < nose[1] < mouth_left[1]
    assert abs(left_eye[1] - right_eye[1]) < 1 and abs(mouth_left[1] - mouth_right[1]) < 1


def test_chip_does_not_depend_on_the_face_rotation_in_the_image(engine, shared_data):
    rgb = load_image(shared_data / "faces" / "probe" / "obama-720p.jpg")
    face = engine.detector.detect(rgb)[0]
    h, w = rgb.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0)
    rotated = cv2.warpAffine(rgb, turn, (w, h))
    marks = face.landmarks @ turn[:, :2].T + turn[:, 2]
    upright, turned = align_face(rgb, face.landmarks), align_face(rotated, marks)
    assert np.abs(upright.astype(int) - turned.astype(int)).mean() < 4
    e = engine.encoder.encode(np.stack([upright, turned]))
    assert np.linalg.norm(e[0] - e[1]) < 0.05


def _fit_script():
    spec = importlib.util.spec_from_file_location(
        "fit_chip_template", REPO / "scripts" / "fit_chip_template.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_aligned_chips_embed_like_dlibs_own_pipeline(engine, shared_data):
    """On every shared face both pipelines find, our embedding is close to dlib's (measured:
    median 0.133, max 0.304 in L2 units, against a same-person threshold of 0.6)."""
    pytest.importorskip("dlib", reason="dlib-bin (dev extra) is the reference pipeline")
    fit = _fit_script()
    samples = fit.collect(shared_data)
    assert len(samples) >= 25
    ours = np.stack([align_face(s.rgb, s.landmarks) for s in samples])
    theirs = np.stack([s.dlib_chip for s in samples])
    distance = np.linalg.norm(engine.encoder.encode(ours) - engine.encoder.encode(theirs), axis=1)
    assert np.median(distance) < 0.2
    assert distance.max() < 0.35
