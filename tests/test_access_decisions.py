"""Who may enter when, on real photos: the site's rule recognises a person, their schedule and
validity dates decide granted or denied at the service's clock, and the reason is logged."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import numpy as np
import pytest

from gatekeeper.config import Settings
from gatekeeper.schedule import parse_windows
from gatekeeper.site import Site, SourceImage
from gatekeeper.store import AttemptFilter

pytestmark = pytest.mark.slow

#: Tuesday 1 December 2026 at 18:59 and 19:00 in New York (UTC-5), then the Saturday after.
TUESDAY_18_59 = datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
TUESDAY_19_00 = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
SATURDAY_NOON = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)


class Clock:
    """A clock the test sets: ``now`` is what the service sees."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def site(tmp_path, shared_data, engine):
    """Obama and Biden enrolled from their photos; Obama on the office schedule, New York."""
    clock = Clock(TUESDAY_18_59)
    settings = Settings(
        home=tmp_path, timezone="America/New_York", liveness="off", audit_key="site-key-16-bytes"
    )
    gatekeeper = Site.open(settings, engine=engine, clock=clock)
    train = shared_data / "faces" / "train"
    gatekeeper.people.enrol("obama", [train / "obama" / "obama.jpg"])
    gatekeeper.people.enrol("biden", sorted((train / "biden").iterdir())[:1])
    gatekeeper.store.set_schedule("office", parse_windows(["Mon-Fri 07:00-19:00"]))
    gatekeeper.store.assign_schedule("obama", "office")
    yield gatekeeper, clock
    gatekeeper.close()


def test_a_photo_is_granted_inside_the_window_and_denied_after_it(site, shared_data):
    gatekeeper, clock = site
    photo = shared_data / "faces" / "probe" / "obama1.jpg"
    (inside,) = gatekeeper.recognition.identify(photo)
    clock.now = TUESDAY_19_00
    (outside,) = gatekeeper.recognition.identify(photo)
    clock.now = SATURDAY_NOON
    (weekend,) = gatekeeper.recognition.identify(photo)
    assert (inside.identity, inside.decision, inside.reason) == ("obama", "granted", None)
    assert (outside.identity, outside.decision, outside.reason) == (
        "obama",
        "denied",
        "outside schedule office",
    )
    assert (weekend.decision, weekend.as_dict()["reason"]) == ("denied", "outside schedule office")
    rows = list(gatekeeper.store.iter_attempts(AttemptFilter()))
    assert [(r.decision, r.reason) for r in rows] == [
        ("granted", None),
        ("denied", "outside schedule office"),
        ("denied", "outside schedule office"),
    ]
    assert gatekeeper.store.verify_chain().ok


def test_a_group_photo_judges_each_person_by_their_own_access(site, shared_data):
    """Obama and Biden in one photo on Saturday: Obama's schedule is closed, Biden has none."""
    gatekeeper, clock = site
    clock.now = SATURDAY_NOON
    faces = gatekeeper.recognition.identify(shared_data / "faces" / "probe" / "two_people.jpg")
    decided = {face.identity: (face.decision, face.reason) for face in faces}
    assert decided == {"obama": ("denied", "outside schedule office"), "biden": ("granted", None)}


def test_expired_and_not_yet_valid_people_are_denied_with_the_date(site, shared_data):
    gatekeeper, clock = site
    photo = shared_data / "faces" / "probe" / "obama1.jpg"
    gatekeeper.store.set_validity("obama", date(2026, 12, 2), None)
    (early,) = gatekeeper.recognition.identify(photo)
    gatekeeper.store.set_validity("obama", None, date(2026, 11, 30))
    (late,) = gatekeeper.recognition.identify(photo)
    gatekeeper.store.set_active("obama", False)
    (off,) = gatekeeper.recognition.identify(photo)
    assert [(f.decision, f.reason) for f in (early, late, off)] == [
        ("denied", "not valid before 2026-12-02"),
        ("denied", "expired after 2026-11-30"),
        ("denied", "deactivated"),
    ]


def test_match_embeddings_applies_the_same_access(site, shared_data):
    gatekeeper, clock = site
    source = SourceImage.from_path(shared_data / "faces" / "probe" / "obama1.jpg")
    with gatekeeper.engine_in_use() as engine:
        (face,) = engine.analyze(source.rgb)
    embedding = np.asarray(face.embedding)[None]
    assert [d for _, d in gatekeeper.recognition.match_embeddings(embedding)] == ["granted"]
    clock.now = SATURDAY_NOON
    assert [d for _, d in gatekeeper.recognition.match_embeddings(embedding)] == ["denied"]


def test_a_person_reactivated_with_sql_is_denied_with_the_reason_until_accepted(site, shared_data):
    """The attack: ``UPDATE person SET active = 1`` behind Gatekeeper's back on a keyed site.
    The state is disowned by the chain, so nobody recognised is granted (the attempt is chained
    as denied with the reason) until an operator re-signs it."""
    gatekeeper, _ = site
    gatekeeper.store.set_active("biden", False)
    assert gatekeeper.store.path is not None
    with sqlite3.connect(gatekeeper.store.path) as connection:
        connection.execute("UPDATE person SET active = 1")
    photo = shared_data / "faces" / "probe" / "two_people.jpg"
    faces = gatekeeper.recognition.identify(photo)
    assert {f.identity for f in faces} == {"obama", "biden"}
    assert {f.decision for f in faces} == {"denied"}
    assert all(f.reason.startswith("state changed outside Gatekeeper: the people") for f in faces)
    rows = list(gatekeeper.store.iter_attempts(AttemptFilter()))
    assert {(r.decision, r.reason.split(":")[0]) for r in rows} == {
        ("denied", "state changed outside Gatekeeper")
    }
    assert gatekeeper.store.accept_state() == ["people"]
    decided = {f.identity: f.decision for f in gatekeeper.recognition.identify(photo)}
    assert decided == {"obama": "granted", "biden": "granted"}
    assert gatekeeper.store.verify_chain().ok
