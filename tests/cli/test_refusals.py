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
    assert "face is 30 px wide; at least 80 px needed for enrolment" in refused.err
    assert run("--home", home, "enroll", "dan", dan, "--force").code == 0
    (dan_row,) = json.loads(run("--home", home, "people", "--json").out)
    assert dan_row["quality"] == "low"
    imported = run("--home", home, "import", shared_data / "seed-images", "--exclude", "camera_*")
    assert imported.code == 0, imported.err
    assert "10 low-quality" in imported.out.splitlines()[0], "dan already, bertrand asked about"


def test_identify_shows_each_encoder_where_dlib_alone_would_grant(
    run, use_engine, home, shared_data, tmp_path
):
    """Frame 19 of the clip shows a stranger whom dlib alone puts within its threshold of the
    tutorial's crop of arnaud: the site's rule (SFace and FaceNet) scores him above the
    threshold, the face is unknown, and the line shows every encoder's distance."""
    import re

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
    line = re.compile(
        r": unknown \(score (\d\.\d+) from dlib (\d\.\d+), SFace \d\.\d+, FaceNet \d\.\d+ "
        r"> threshold 0\.600"
    )
    found = [m for m in map(line.search, result.out.splitlines()) if m]
    assert found, result.out
    assert any(float(m[2]) <= 0.6 for m in found), "dlib alone would have let someone in"
    assert all(float(m[1]) > 0.6 for m in found)
    assert ", granted (" not in result.out


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
