"""The command line's refusals of bad templates, and the quality it shows."""

from __future__ import annotations

import json

import pytest

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
