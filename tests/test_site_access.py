"""``site.schedules.change_access``: the console's access dialog saved as one site operation, in
one transaction — a new schedule, its assignment and the validity dates all commit, or none."""

from __future__ import annotations

from datetime import date

import pytest

from gatekeeper.config import Settings
from gatekeeper.errors import NotFoundError, UsageError
from gatekeeper.schedule import Access, parse_windows
from gatekeeper.site import Site

NIGHT = parse_windows(["Mon-Fri 22:00-23:30"])


@pytest.fixture
def site(tmp_path, database):
    settings = Settings(home=tmp_path / "home", db=database.url, audit_key="site-key-16-bytes")
    with Site.open(settings) as site:
        site.store.add_person("kit")
        yield site


def _access(site: Site, name: str) -> Access:
    person = site.people.get(name)
    assert person is not None
    return site.store.access_rules().get(person.id, Access())


def _events(site: Site) -> int:
    return site.store.chain_head().seq


def test_a_refused_part_leaves_nothing_changed(site):
    before = _events(site)
    with pytest.raises(UsageError, match="valid"):
        site.schedules.change_access(
            "kit", "night", date(2030, 1, 2), date(2030, 1, 1), new_windows=NIGHT
        )
    assert [s.name for s in site.schedules.list()] == []  # the new schedule went back too
    assert _access(site, "kit") == Access()
    assert _events(site) == before
    with pytest.raises(NotFoundError, match="nobody"):
        site.schedules.change_access("nobody", "night", None, None, new_windows=NIGHT)
    assert site.schedules.list() == []
    assert _events(site) == before

    # The next change is not refused as made behind the store's back, and the chain holds.
    site.schedules.change_access("kit", "night", None, date(2999, 12, 31), new_windows=NIGHT)
    assert _access(site, "kit") == Access("night", tuple(NIGHT), None, date(2999, 12, 31))
    assert site.schedules.get("night").people == ("kit",)
    assert site.store.state_problem() is None
    assert site.store.verify_chain().ok


def test_an_existing_schedule_and_cleared_dates(site):
    site.schedules.set("staff", parse_windows(["Mon-Fri 07:00-19:00"]))
    site.schedules.change_access("kit", "night", None, date(2999, 12, 31), new_windows=NIGHT)
    site.schedules.change_access("kit", "staff", None, None)
    assert _access(site, "kit") == Access("staff", site.schedules.get("staff").windows)
    site.schedules.change_access("kit", None, None, None)
    assert _access(site, "kit") == Access()
    assert site.store.state_problem() is None
