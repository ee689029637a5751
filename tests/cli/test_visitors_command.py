"""``gatekeeper visitors``: list, show (and write the crop), enrol through enrolment's checks,
dismiss, expire; refusals leave the site as it was. On each backend (``site_database``)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import helpers
import numpy as np
import pytest

from gatekeeper.store import open_store
from gatekeeper.vision.image import decode_image, load_image

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC)


@pytest.fixture
def site(site_database, home):
    """The home, its database on each backend (``GATEKEEPER_DB``) and a way to keep crops in it
    as the console does."""

    class Site:
        database = site_database

        def keep(self, rgb: np.ndarray, box, *, decision="unknown", kept=NOW) -> int:
            with open_store(site_database.url, images_dir=home / "images") as store:
                return helpers.keep_visitor(store, rgb, box, decision=decision, kept=kept)

        def crop(self, visitor: int) -> bytes:
            with open_store(site_database.url, images_dir=home / "images") as store:
                return store.get_visitor(visitor).crop

        def admin_kinds(self) -> list[str]:
            with site_database.raw() as db:
                rows = db.execute(
                    "SELECT kind FROM admin_event WHERE kind != 'state' ORDER BY seq"
                ).fetchall()
            return [row[0] for row in rows]

    return Site()


def stranger(engine, photo: Path) -> tuple[np.ndarray, tuple]:
    """A photo as a camera frame, and the box of its largest face."""
    rgb = load_image(photo)
    return rgb, engine.detect(rgb)[0].box


def visitors(run, home: Path) -> list[dict]:
    result = run("--home", home, "visitors", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_a_kept_stranger_is_shown_written_enrolled_and_then_recognised(
    run, use_engine, engine, home, site, probe, tmp_path
):
    rgb, box = stranger(engine, probe("lin-manuel-miranda.png"))
    visitor = site.keep(rgb, box)
    other = site.keep(rgb, box, decision="denied", kept=NOW - timedelta(hours=1))

    listed = visitors(run, home)
    assert [v["id"] for v in listed] == [visitor, other], "newest first"
    assert listed[0] | {"time": None} == {
        "id": visitor,
        "attempt_id": listed[0]["attempt_id"],
        "time": None,
        "camera": "front-door",
        "decision": "unknown",
        "reason": None,
        "distance": 0.83,
        "name": None,
        "width": listed[0]["width"],
        "height": listed[0]["height"],
        "status": "new",
        "enrolled_name": None,
    }
    text = run("--home", home, "visitors").out.splitlines()
    assert text[0].split() == ["id", "time", "camera", "decision", "distance", "note"]
    assert text[1].split()[0] == str(visitor) and "unknown" in text[1]
    assert "someone" in text[2]
    limited = run("--home", home, "visitors", "--limit", "1", "--json")
    assert [v["id"] for v in json.loads(limited.out)] == [visitor]

    out = tmp_path / "visitor.jpg"
    shown = run("--home", home, "visitors", "show", visitor, "--out", out)
    assert shown.code == 0, shown.err
    assert f"visitor {visitor}: unknown at front-door" in shown.out
    assert out.read_bytes() == site.crop(visitor)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "a face is its owner's alone"
    assert decode_image(out.read_bytes()).shape[:2] == (listed[0]["height"], listed[0]["width"])
    assert site.admin_kinds()[-1] == "export"

    enrolled = run("--home", home, "visitors", "enrol", visitor, "Lin")
    assert enrolled.code == 0, enrolled.err
    assert enrolled.out.startswith(f"enrolled Lin from visitor {visitor}: 1 photo, 3 encodings (")
    people = json.loads(run("--home", home, "people", "--json").out)
    assert [(p["name"], p["photos"]) for p in people] == [("Lin", 1)]
    assert visitors(run, home)[0] | {"time": None} == listed[0] | {
        "time": None,
        "status": "enrolled",
        "enrolled_name": "Lin",
    }
    identified = run("--home", home, "identify", probe("lin-manuel-miranda.png"), "--json")
    assert [face["identity"] for face in json.loads(identified.out)] == ["Lin"]

    dismissed = run("--home", home, "visitors", "dismiss", visitor)
    assert dismissed.code == 0, dismissed.err
    assert [v["id"] for v in visitors(run, home)] == [other]
    assert run("--home", home, "audit", "verify").code == 0
    kinds = site.admin_kinds()
    assert kinds.index("visitor_enrol") < kinds.index("visitor_dismiss")


def test_unknown_ids_bad_names_and_a_crop_without_a_face_are_refused(
    run, use_engine, engine, home, site, probe, tmp_path
):
    rgb, box = stranger(engine, probe("obama1.jpg"))
    visitor = site.keep(rgb, box)
    blank = site.keep(np.full((240, 320, 3), 128, np.uint8), (100, 80, 100, 100))
    before = site.database.dump()

    for argv in (["show", "99"], ["enrol", "99", "Lin"], ["dismiss", "99"]):
        result = run("--home", home, "visitors", *argv)
        assert (result.code, result.err) == (1, "gatekeeper: no such visitor: 99\n"), argv
    for bad in ("", "a/b", "   "):
        result = run("--home", home, "visitors", "enrol", visitor, bad)
        assert result.code == 2 and result.err.startswith("gatekeeper: "), (bad, result.err)
    zero = run("--home", home, "visitors", "show", "0")
    assert zero.code == 2 and "must be at least 1" in zero.err
    result = run("--home", home, "visitors", "enrol", blank, "Nobody")
    assert (result.code, result.err) == (1, f"gatekeeper: visitor {blank}: no face found\n")

    link = tmp_path / "face.jpg"
    link.symlink_to(tmp_path / "elsewhere.jpg")
    result = run("--home", home, "visitors", "show", visitor, "--out", link)
    assert result.code == 2 and "is a symbolic link" in result.err
    assert not (tmp_path / "elsewhere.jpg").exists()
    assert site.database.dump() == before, "a refusal changes nothing"


def test_enrolling_a_visitor_has_enrolments_checks_and_force(
    run, use_engine, engine, home, site, probe, shared_data
):
    assert run("--home", home, "enroll", "obama", probe("obama1.jpg")).code == 0
    rgb, box = stranger(engine, probe("obama3.jpg"))
    again = site.keep(rgb, box)
    result = run("--home", home, "visitors", "enrol", again, "Barack")
    assert result.code == 1
    assert "this face matches 'obama'" in result.err and "--force" in result.err
    crop = load_image(shared_data / "seed-images" / "younes.jpg")  # a 65-pixel face
    tiny = site.keep(crop, (0, 0, *crop.shape[1::-1]))
    result = run("--home", home, "visitors", "enrol", tiny, "younes")
    assert result.code == 1 and "needed for enrolment; use --force" in result.err
    assert [p["name"] for p in json.loads(run("--home", home, "people", "--json").out)] == ["obama"]
    forced = run("--home", home, "visitors", "enrol", tiny, "younes", "--force")
    assert forced.code == 0, forced.err
    assert "low-quality template" in forced.out
    statuses = {v["id"]: v["status"] for v in visitors(run, home)}
    assert statuses == {again: "new", tiny: "enrolled"}


def test_expire_deletes_the_crops_older_than_the_configured_retention(
    run, use_engine, engine, home, site, probe, tmp_path
):
    rgb, box = stranger(engine, probe("obama1.jpg"))
    site.keep(rgb, box, kept=NOW - timedelta(days=8))
    recent = site.keep(rgb, box, kept=NOW - timedelta(days=6))
    config = tmp_path / "site.toml"
    config.write_text("[visitors]\nretention_days = 7\n", encoding="utf-8")
    result = run("--home", home, "--config", config, "visitors", "expire")
    assert (result.code, result.out) == (0, "expired 1 visitor crop older than 7 days\n")
    assert [v["id"] for v in visitors(run, home)] == [recent]
    again = run("--home", home, "--config", config, "visitors", "expire")
    assert again.out == "expired 0 visitor crops older than 7 days\n"
    assert site.admin_kinds().count("visitor_expire") == 1
    assert run("--home", home, "audit", "verify").code == 0


def test_removing_a_person_erases_the_crops_of_their_denied_and_spoof_attempts(
    run, use_engine, engine, home, site, probe
):
    """``remove NAME --yes`` erases biometric data: the crops kept of the person's own
    attempts go with their encodings (the issue's ``visitors show 12`` still showed Lin's
    face), the crops of strangers stay, and so do the attempts."""
    assert run("--home", home, "enroll", "lin", probe("lin-manuel-miranda.png")).code == 0
    assert run("--home", home, "deactivate", "lin").code == 0
    rgb, box = stranger(engine, probe("lin-manuel-miranda.png"))
    with open_store(site.database.url, images_dir=home / "images") as store:
        lin = store.get_person("lin").id
        theirs = []
        for decision in ("denied", "spoof") * 2:
            attempt_id = store.record_attempt(
                camera_id="front-door",
                name="lin",
                person_id=lin,
                distance=0.3,
                threshold=0.6,
                decision=decision,
                model_id="dlib_resnet_v1",
                box=box,
                reason="deactivated" if decision == "denied" else None,
            )
            theirs.append(store.keep_visitor(attempt_id, b"\xff\xd8lin\xff\xd9", 80, 112, kept=NOW))
    stranger_crop = site.keep(rgb, box)
    shown = run("--home", home, "visitors", "show", theirs[0])
    assert "lin (deactivated)" in shown.out, "the crop is Lin's before the removal"

    removed = run("--home", home, "remove", "lin", "--yes")
    assert removed.code == 0, removed.err
    assert "and 4 visitor crops; 4 attempts kept in the log" in removed.out
    for visitor in theirs:
        gone = run("--home", home, "visitors", "show", visitor)
        assert (gone.code, gone.err) == (1, f"gatekeeper: no such visitor: {visitor}\n")
    assert [v["id"] for v in visitors(run, home)] == [stranger_crop]
    logged = json.loads(run("--home", home, "log", "--person", "lin", "--json").out)
    assert len(logged) == 4, "the attempts stay in the log under the name they had"
    assert run("--home", home, "audit", "verify").code == 0
