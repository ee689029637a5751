"""Decisions you can trust, end to end on the shared photos and the real clip: the tutorial's
low-detail crops never grant a stranger, one face has one name, and bad templates are refused
at enrolment."""

from __future__ import annotations

import sqlite3
import time

import pytest
from helpers import CAMERA_FRAMES, ENCODERS, wait_until

from gatekeeper.config import Settings
from gatekeeper.decision import SHIPPED_TIERS
from gatekeeper.errors import DuplicateFaceError, LowQualityFaceError, SpoofFaceError
from gatekeeper.live import FrameResult, LiveRecognizer
from gatekeeper.site import Site
from gatekeeper.store import AttemptFilter
from gatekeeper.vision.camera import open_source
from gatekeeper.vision.image import load_image

pytestmark = pytest.mark.slow

CLIP_FRAMES = 275


@pytest.fixture
def tutorial_site(tmp_path, shared_data, engine) -> Site:
    """The README's scenario: the tutorial's folder imported (camera frames left out). Arnaud
    and Bertrand, two dark-haired smiling men photographed in the same place, look alike in
    the tutorial's 31-px faces: the site's rule scores them below its threshold, so the import
    asks before enrolling the second, and the operator confirms with ``--force``."""
    site = Site.open(Settings(home=tmp_path, camera_id="door"), engine=engine)
    seeds = shared_data / "seed-images"
    report = site.people.import_folder(seeds, exclude=["camera_*"])
    assert len(report.enrolled) == 11, report
    ((skipped, why),) = report.skipped
    assert skipped == str(seeds / "bertrand.jpg") and "matches 'arnaud' (0." in why
    assert site.people.enrol("bertrand", [seeds / "bertrand.jpg"], force=True).added
    return site


def test_the_tutorial_crops_are_imported_as_marked_low_quality_templates(tutorial_site):
    people = tutorial_site.store.list_people()
    assert len(people) == 12
    assert all(p.low_quality >= 1 and p.unmeasured == 0 for p in people)


def test_every_tutorial_camera_frame_resolves_to_its_person(tutorial_site, shared_data):
    for frame, person in CAMERA_FRAMES.items():
        path = next((shared_data / "seed-images").glob(frame + ".*"))
        (face,) = tutorial_site.recognition.identify(path)
        assert (face.identity, face.decision) == (person, "granted"), (frame, face)
        assert face.low_quality_template and set(face.distances) >= set(SHIPPED_TIERS[0].models)


def test_the_clip_replayed_three_times_grants_only_lin_every_pass(tutorial_site, shared_data):
    site = tutorial_site
    site.people.enrol("lin", [shared_data / "faces" / "probe" / "lin-manuel-miranda.png"])
    site.settings = Settings(home=site.settings.home, camera_id="door", recognition_interval_s=3)
    feed = open_source(str(shared_data / "video" / "short_hamilton_clip.mp4"), fps=5.0, loop=True)
    frames: list[FrameResult] = []
    recognizer = LiveRecognizer(
        site, feed, on_event=lambda e: frames.append(e) if isinstance(e, FrameResult) else None
    )
    recognizer.start()
    try:
        assert wait_until(lambda: frames and frames[-1].frame_id > 3 * CLIP_FRAMES, 120)
    finally:
        recognizer.stop()
    passes = {(result.frame_id - 1) // CLIP_FRAMES: [] for result in frames if result.frame_id}
    for result in frames:
        for decided in result.decisions:
            passes[(result.frame_id - 1) // CLIP_FRAMES].append(decided.decision)
    granted = [
        (n, d.name) for n, decisions in passes.items() for d in decisions if d.kind == "granted"
    ]
    assert {name for _, name in granted} == {"lin"}, granted
    assert {n for n, _ in granted} >= {0, 1, 2}, "Lin must be granted on every pass"
    rows = list(site.store.iter_attempts(AttemptFilter(decision="granted")))
    assert {r.person_name for r in rows} == {"lin"}
    assert any(r.decision == "unknown" for r in site.store.iter_attempts(AttemptFilter()))


def test_a_face_enrolled_under_another_name_is_refused(tmp_path, shared_data, engine):
    # john2.jpeg, a soft web photo, scores 0.47 for liveness (refused at 0.75): this test is
    # about names, so liveness is off (its refusals are tested below).
    site = Site.open(Settings(home=tmp_path, liveness="off"), engine=engine)
    train = shared_data / "faces" / "train"
    site.people.enrol("kit_harington", [train / "kit_harington" / "john1.jpeg"])
    for other in ("jon", "Kit H", "snow"):
        with pytest.raises(
            DuplicateFaceError, match=r"this face matches 'kit_harington' \(0\."
        ) as e:
            site.people.enrol(other, [train / "kit_harington" / "john2.jpeg"])
        assert "use --force to enrol it as a different person" in str(e.value)
    assert [p.name for p in site.store.list_people()] == ["kit_harington"]
    # The same person takes more photos; another person is not refused; force overrides.
    assert site.people.enrol("kit_harington", [train / "kit_harington" / "john2.jpeg"]).added == 1
    assert site.people.enrol("rose_leslie", [train / "rose_leslie" / "img1.jpg"]).added == 1
    assert site.people.enrol(
        "jon", [shared_data / "faces/probe/johnsnow_test1.jpg"], force=True
    ).added


def test_a_camera_capture_of_an_enrolled_person_is_refused_under_a_new_name(
    tmp_path, shared_data, engine
):
    site = Site.open(Settings(home=tmp_path), engine=engine)
    probe = shared_data / "faces" / "probe"
    site.people.enrol("Lin-Manuel Miranda", [probe / "lin-manuel-miranda.png"])
    clip = open_source(str(shared_data / "video" / "short_hamilton_clip.mp4"), fps=5.0, loop=False)
    clip.start()
    try:
        lin = []
        with site.engine_in_use() as engine_:
            deadline = time.monotonic() + 30
            while not lin and time.monotonic() < deadline:
                latest = clip.latest()
                if latest is None or latest.frame_id <= 150:
                    time.sleep(0.05)
                    continue
                frame = latest.image
                lin = [f for f in engine_.analyze(frame) if f.face.box[2] >= 88]
    finally:
        clip.stop()
    assert lin, "the clip shows Lin large enough mid-way"
    x, y, w, h = lin[0].face.box
    crop = frame[max(0, y - h) : y + 2 * h, max(0, x - w) : x + 2 * w]
    with pytest.raises(DuplicateFaceError, match="matches 'Lin-Manuel Miranda'"):
        site.people.enrol_frame("Lin Cam", crop)


def test_a_low_quality_face_is_refused_for_one_person_and_marked_by_import(
    tmp_path, shared_data, engine, capsys
):
    site = Site.open(Settings(home=tmp_path), engine=engine)
    dan = shared_data / "seed-images" / "dan.jpg"
    with pytest.raises(LowQualityFaceError) as refused:
        site.people.enrol("dan", [dan], whole_image=True)
    assert str(refused.value) == (
        f"{dan}: face is 30 px wide; at least 80 px needed for enrolment; "
        "use --force to enrol it anyway"
    )
    assert site.store.list_people() == []
    forced = site.people.enrol("dan", [dan], whole_image=True, force=True)
    assert forced.added == 1 and forced.low_quality == (
        (str(dan), refused.value.reason.split(": ", 1)[1]),
    )
    (person,) = site.store.list_people()
    assert person.low_quality == len(ENCODERS), "each encoder's template of that photo"


#: People of the shared liveness set with a live frame to enrol from and replayed spoofs of them
#: (``liveness/``: the same person on a phone or a monitor, held up to a camera) that the site's
#: recognition rule accepts as them when liveness is off. (apfol's replays are too degraded to
#: be recognised at all; tranvanluyt's live frame matches wolfhuo, so it cannot be enrolled.)
ATTACKED = {
    "lestari15": "lestari15__real_f0000.jpg",
    "wolfhuo": "wolfhuo__eff17845a217_f0000.jpg",
}


def _replay(site: Site, folder, passes: int = 2) -> list[FrameResult]:
    """Replay an image folder as the camera (``--camera DIR``) ``passes`` times."""
    count = len(list(folder.iterdir()))
    feed = open_source(str(folder), fps=10.0, loop=True)
    frames: list[FrameResult] = []
    recognizer = LiveRecognizer(
        site, feed, on_event=lambda e: frames.append(e) if isinstance(e, FrameResult) else None
    )
    recognizer.start()
    try:
        assert wait_until(lambda: frames and frames[-1].frame_id > passes * count, 120)
    finally:
        recognizer.stop()
    return frames


@pytest.fixture
def attack(tmp_path, shared_data):
    """The attacked people's spoof frames copied into one folder, in name order."""
    folder = tmp_path / "attack"
    folder.mkdir()
    for person in ATTACKED:
        for spoof in sorted((shared_data / "liveness" / "spoof").glob(f"{person}__*")):
            (folder / spoof.name).write_bytes(spoof.read_bytes())
    return folder


def _attacked_site(tmp_path, shared_data, engine, **settings) -> Site:
    site = Site.open(
        Settings(home=tmp_path / "site", camera_id="door", recognition_interval_s=1, **settings),
        engine=engine,
    )
    for person, live in ATTACKED.items():
        site.people.enrol(person, [shared_data / "liveness" / "live" / live])
    return site


def test_a_replayed_attack_grants_nobody_and_logs_spoofs(tmp_path, shared_data, engine, attack):
    site = _attacked_site(tmp_path, shared_data, engine)
    frames = _replay(site, attack)
    rows = list(site.store.iter_attempts(AttemptFilter()))
    assert not [r for r in rows if r.decision == "granted"], "a photo opened the door"
    spoofs = [r for r in rows if r.decision == "spoof"]
    assert {r.person_name for r in spoofs} == set(ATTACKED), "each attacked person is logged"
    assert all(r.camera_id == "door" and r.box is not None for r in spoofs)
    assert frames[-1].stats.spoofs == len(spoofs)
    assert site.store.verify_chain().ok


def test_the_same_attack_without_liveness_grants_them(tmp_path, shared_data, engine, attack):
    """The attack is real: with ``liveness = "off"`` the photos are granted as the people."""
    site = _attacked_site(tmp_path, shared_data, engine, liveness="off")
    _replay(site, attack, passes=1)
    granted = {r.person_name for r in site.store.iter_attempts(AttemptFilter(decision="granted"))}
    assert granted == set(ATTACKED)


def test_a_phone_screen_replayed_to_the_camera_is_refused_at_enrolment_unless_forced(
    tmp_path, shared_data, engine
):
    """Liveness judges what is presented to the camera: enrolling from the camera's frame of a
    phone screen is refused (the console asks "Enrol anyway?")."""
    site = Site.open(Settings(home=tmp_path), engine=engine)
    frame = load_image(shared_data / "liveness" / "spoof" / "lestari15__fake_f0000.jpg")
    with pytest.raises(SpoofFaceError) as refused:
        site.people.enrol_frame("lestari", frame)
    assert str(refused.value).startswith(
        "camera frame: the face looks like a photo or a screen, not a live person (live score 0.0"
    )
    assert str(refused.value).endswith(
        "< 0.75); enrol from a photo file instead, or use --force to enrol the frame anyway"
    )
    assert site.store.list_people() == []
    forced = site.people.enrol_frame("lestari", frame, force=True)
    assert forced.added == 1 and forced.live_scores[0][1] < 0.75
    live = load_image(shared_data / "liveness" / "live" / "lestari15__real_f0000.jpg")
    assert site.people.enrol_frame("lestari", live).added == 1


def test_greyscale_and_ordinary_photo_files_enrol_with_their_live_score_recorded(
    tmp_path, shared_data, engine
):
    """A badge photo is a photo: a greyscale copy of a portrait (live score 0.01) and an
    ordinary press photo that liveness scores 0.45 were refused before; as files they enrol,
    their scores kept with their templates."""
    import cv2

    train = shared_data / "faces" / "train"
    portrait = cv2.imread(str(train / "alex_lacamoire" / "img1.jpg"))
    grey = tmp_path / "alex-grey.png"
    cv2.imwrite(str(grey), cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY))
    press = train / "biden" / "biden2.jpg"
    site = Site.open(Settings(home=tmp_path / "home"), engine=engine)
    scores = {}
    for name, photo in (("alex", grey), ("biden", press)):
        result = site.people.enrol(name, [photo])
        assert result.added == 1
        ((_, scores[name]),) = result.live_scores
    assert max(scores.values()) < 0.75, scores
    with sqlite3.connect(site.store.path) as connection:
        stored = connection.execute(
            "SELECT p.name, e.live_score FROM face_encoding e JOIN person p "
            "ON p.id = e.person_id WHERE e.model_id = 'dlib_resnet_v1'"
        ).fetchall()
    assert {n: round(x, 6) for n, x in stored} == {n: round(x, 6) for n, x in scores.items()}
