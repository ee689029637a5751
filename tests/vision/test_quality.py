"""The face-quality gate: frontal faces of a usable size vote, tiny faces and profiles do not."""

import cv2
import numpy as np
import pytest

from gatekeeper.vision.detect import Face
from gatekeeper.vision.image import load_image
from gatekeeper.vision.quality import MIN_FACE_PX, quality_issue


def _face(width, landmarks):
    return Face(box=(0, 0, width, width), landmarks=np.array(landmarks, np.float32), score=1.0)


FRONTAL = [[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]]


def test_frontal_face_passes_and_small_or_turned_faces_do_not():
    assert quality_issue(_face(100, FRONTAL)) is None
    small = (np.array(FRONTAL) * 0.2).tolist()
    assert "too small" in quality_issue(_face(MIN_FACE_PX - 1, small))
    profile = [[55, 40], [70, 40], [80, 60], [60, 80], [72, 80]]  # nose beyond the right eye
    assert "turned away" in quality_issue(_face(100, profile))
    squeezed = [[45, 40], [75, 40], [60, 60], [50, 80], [70, 80]]  # eyes 30 % of the width
    assert "turned away" in quality_issue(_face(100, squeezed))


def test_every_frontal_face_of_the_shared_photos_passes(engine, shared_data):
    photos = sorted((shared_data / "faces").rglob("*.*"))
    photos += sorted((shared_data / "seed-images").iterdir())
    failing = []
    for path in photos:
        for face in engine.detect(load_image(path)):
            issue = quality_issue(face)
            if issue:
                failing.append((path.name, face.box[:2]))
    # The only turned face: the child in the corner of obama_and_biden.jpg.
    assert failing == [("obama_and_biden.jpg", (1622, 1039))]


def _video_frame(shared_data, index):
    capture = cv2.VideoCapture(str(shared_data / "video" / "short_hamilton_clip.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok
    return load_image(frame, bgr=True)


@pytest.mark.parametrize(
    ("index", "expected"),
    [(0, ["ok", "too small"]), (24, ["turned away"]), (150, ["ok"])],
    ids=["tiny-pianist", "profile", "frontal-singer"],
)
def test_video_faces(engine, shared_data, index, expected):
    faces = engine.detect(_video_frame(shared_data, index), pad_retry=False)
    verdicts = sorted("ok" if i is None else i.split(" (")[0] for i in map(quality_issue, faces))
    assert verdicts == expected
