"""The command line's refusals of bad templates, and the quality it shows."""

from __future__ import annotations

import json

import pytest
from cli_helpers import seed_database

pytestmark = pytest.mark.slow


def test_the_cli_explains_refusals_and_people_shows_quality(run, use_engine, home, shared_data):
    dan = shared_data / "seed-images" / "dan.jpg"
    refused = run("--home", home, "enroll", "dan", dan)
    assert refused.code == 1
    assert "face is 31 px wide; at least 80 px needed for enrolment" in refused.err
    assert run("--home", home, "enroll", "dan", dan, "--force").code == 0
    (dan_row,) = json.loads(run("--home", home, "people", "--json").out)
    assert dan_row["quality"] == "low"
    imported = run("--home", home, "import", shared_data / "seed-images", "--exclude", "camera_*")
    assert imported.code == 0, imported.err
    assert "11 low-quality" in imported.out.splitlines()[0]


def test_identify_says_when_facenet_overrules_dlib(run, use_engine, home, shared_data, tmp_path):
    """Frame 19 of the clip shows a stranger whom dlib puts within the threshold of the
    tutorial's 39-pixel crop of arnaud: FaceNet disagrees, the face is unknown, and the line says
    why."""
    import cv2

    video = cv2.VideoCapture(str(shared_data / "video" / "short_hamilton_clip.mp4"))
    for _ in range(19):
        ok, frame = video.read()
        assert ok
    video.release()
    still = tmp_path / "frame19.png"
    cv2.imwrite(str(still), frame)
    seeds = shared_data / "seed-images"
    assert run("--home", home, "import", seeds, "--exclude", "camera_*").code == 0
    result = run("--home", home, "identify", still)
    assert result.code == 0, result.err
    overruled = [line for line in result.out.splitlines() if "FaceNet disagrees" in line]
    assert overruled, result.out
    assert all(": unknown (distance 0." in line for line in overruled)
    assert all("<= threshold 0.600, FaceNet " in line for line in overruled)
    assert "granted" not in result.out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ADA LOVELACE", "'ADA LOVELACE' is already enrolled as 'Ada Lovelace'"),
        ("\u0410da Lovelace", "mixes letters of several scripts (cyrillic, latin)"),
        ("Ada\u200b Lovelace", "invisible format character U+200B"),
    ],
)
def test_a_look_alike_name_is_refused_before_any_photo_is_read(
    run, no_engine, bare_home, shared_data, name, message
):
    seed_database(bare_home)
    photo = shared_data / "faces" / "probe" / "obama1.jpg"
    refused = run("--home", bare_home, "enroll", name, photo)
    assert refused.code == 2
    assert refused.err.startswith("gatekeeper: ") and message in refused.err
