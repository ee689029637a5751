"""Access schedules and validity dates in the store: every change one chained, state-checked
write that running consoles notice (the gallery counter), and the state digests cover them,
so an edit with raw SQL breaks ``audit verify`` while an older database still verifies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest
from playhouse.migrate import SchemaMigrator
from test_migration import _make_v1

from gatekeeper.errors import GatekeeperError, NotFoundError, StoreError, UsageError
from gatekeeper.schedule import Access, parse_windows
from gatekeeper.store import AttemptFilter, Store, open_store
from gatekeeper.store.audit import STATE_CHANGED, append_rows
from gatekeeper.store.backends import parse_database
from gatekeeper.store.migrations import MIGRATIONS
from gatekeeper.store.models import SchemaVersion
from gatekeeper.store.state import STATE_KIND, current

STAFF = parse_windows(["Mon-Fri 07:00-19:00", "Sat 09:00-13:00"])
NIGHT = parse_windows(["Sun 22:00-06:00"])


def _events(
    database: DatabaseUnderTest, kinds: tuple[str, ...] = ("schedule", "access")
) -> list[tuple]:
    with database.raw() as connection:
        marks = ", ".join("?" * len(kinds))
        return connection.execute(
            f"SELECT kind, detail FROM admin_event WHERE kind IN ({marks}) ORDER BY seq", kinds
        ).fetchall()


def _raw(database: DatabaseUnderTest, sql: str, params: tuple = ()) -> None:
    with database.raw() as connection:
        connection.execute(sql, params)


@pytest.fixture
def site(store: Store) -> Store:
    """A store with Ann and Bob enrolled."""
    store.add_person("Ann")
    store.add_person("Bob")
    return store


def test_a_schedule_is_created_replaced_and_listed_with_chained_events(
    site: Store, database: DatabaseUnderTest
) -> None:
    before = site.data_version()
    assert site.set_schedule("staff", STAFF, description="office hours") == "created"
    assert site.data_version() > before
    assert site.set_schedule("staff", STAFF) == "unchanged"
    unchanged = site.data_version()
    assert site.set_schedule("staff", parse_windows(["Mon-Fri 08:00-18:00"])) == "replaced"
    assert site.data_version() > unchanged
    (info,) = site.list_schedules()
    assert (info.name, info.description, info.text, info.people) == (
        "staff",
        "office hours",
        ["Mon-Fri 08:00-18:00"],
        (),
    )
    assert site.get_schedule("staff") == info
    assert _events(database) == [
        ("schedule", "created staff: Mon-Fri 07:00-19:00; Sat 09:00-13:00"),
        (
            "schedule",
            "replaced staff: Mon-Fri 08:00-18:00 (was Mon-Fri 07:00-19:00; Sat 09:00-13:00)",
        ),
    ]
    assert site.verify_chain().ok


def test_a_schedule_shared_by_two_people_is_changed_once_for_both(site: Store) -> None:
    site.set_schedule("staff", STAFF)
    assert site.assign_schedule("Ann", "staff") and site.assign_schedule("Bob", "staff")
    assert not site.assign_schedule("Bob", "staff"), "assigning it again changes nothing"
    ann, bob = (site.get_person(name).id for name in ("Ann", "Bob"))
    rules = site.access_rules()
    assert rules[ann] == rules[bob] == Access("staff", STAFF)
    site.set_schedule("staff", NIGHT)
    rules = site.access_rules()
    assert rules[ann].windows == rules[bob].windows == NIGHT
    assert site.get_schedule("staff").people == ("Ann", "Bob")
    assert site.verify_chain().ok


def test_assign_and_unassign_record_access_events(site: Store, database: DatabaseUnderTest) -> None:
    site.set_schedule("staff", STAFF)
    site.set_schedule("night", NIGHT)
    version = site.data_version()
    site.assign_schedule("Ann", "staff")
    site.assign_schedule("Ann", "night")
    site.assign_schedule("Ann", None)
    assert not site.assign_schedule("Ann", None)
    assert site.data_version() == version + 3
    assert site.access_rules() == {}
    assert _events(database, ("access",)) == [
        ("access", "Ann: schedule staff (was none)"),
        ("access", "Ann: schedule night (was staff)"),
        ("access", "Ann: schedule none (any time) (was night)"),
    ]


def test_validity_dates_are_set_cleared_and_checked(
    site: Store, database: DatabaseUnderTest
) -> None:
    ann = site.get_person("Ann").id
    assert site.set_validity("Ann", date(2026, 12, 1), date(2027, 1, 31))
    assert not site.set_validity("Ann", date(2026, 12, 1), date(2027, 1, 31))
    assert site.access_rules()[ann] == Access(None, (), date(2026, 12, 1), date(2027, 1, 31))
    with pytest.raises(UsageError, match="valid until 2026-11-30 is before valid from 2026-12-01"):
        site.set_validity("Ann", date(2026, 12, 1), date(2026, 11, 30))
    assert site.set_validity("Ann", None, None)
    assert site.access_rules() == {}
    assert _events(database) == [
        ("access", "Ann: valid from 2026-12-01 until 2027-01-31 (was no limit)"),
        ("access", "Ann: valid no limit (was from 2026-12-01 until 2027-01-31)"),
    ]
    assert site.verify_chain().ok


def test_a_schedule_in_use_cannot_be_deleted(site: Store, database: DatabaseUnderTest) -> None:
    site.set_schedule("staff", STAFF)
    site.assign_schedule("Ann", "staff")
    site.assign_schedule("Bob", "staff")
    with pytest.raises(GatekeeperError) as refused:
        site.delete_schedule("staff")
    assert str(refused.value) == (
        "schedule staff is assigned to 2 people (Ann, Bob): assign them another schedule or "
        "none first"
    )
    assert [info.name for info in site.list_schedules()] == ["staff"]
    site.assign_schedule("Ann", None)
    site.assign_schedule("Bob", None)
    site.delete_schedule("staff")
    assert site.list_schedules() == []
    assert _events(database, ("schedule",))[-1] == (
        "schedule",
        "deleted staff (was Mon-Fri 07:00-19:00; Sat 09:00-13:00)",
    )
    assert site.verify_chain().ok


def test_unknown_names_and_bad_values_are_refused_and_nothing_is_written(site: Store) -> None:
    site.set_schedule("staff", STAFF)
    seq = site.verify_chain().head_seq
    with pytest.raises(NotFoundError, match="no such schedule: nights"):
        site.assign_schedule("Ann", "nights")
    with pytest.raises(NotFoundError, match="no such person: Carol"):
        site.assign_schedule("Carol", "staff")
    with pytest.raises(NotFoundError, match="no such person: Carol"):
        site.set_validity("Carol", None, date(2027, 1, 1))
    with pytest.raises(NotFoundError, match="no such schedule: nights"):
        site.delete_schedule("nights")
    with pytest.raises(NotFoundError, match="no such schedule: nights"):
        site.get_schedule("nights")
    with pytest.raises(UsageError, match="looks like the schedule 'staff'"):
        site.set_schedule("Staff", NIGHT)
    with pytest.raises(UsageError, match="a name cannot contain '/'"):
        site.set_schedule("a/b", NIGHT)
    with pytest.raises(UsageError, match="at least one window"):
        site.set_schedule("empty", ())
    with pytest.raises(UsageError, match="not a schedule window"):
        site.set_schedule("bad", [(7, 0, 60)])
    with pytest.raises(UsageError, match="one line of text"):
        site.set_schedule("staff", STAFF, description="two\nlines")
    assert site.verify_chain().head_seq == seq


def test_removing_a_person_with_limited_access_keeps_the_state_verified(site: Store) -> None:
    site.set_schedule("staff", STAFF)
    site.assign_schedule("Ann", "staff")
    site.set_validity("Ann", None, date(2027, 1, 31))
    site.remove_person("Ann")
    assert site.access_rules() == {}
    report = site.verify_chain()
    assert report.ok, report.summary()


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("UPDATE schedule_window SET end_minute = 1440", "the access schedules (names, windows)"),
        ("DELETE FROM schedule_window WHERE weekday = 5", "the access schedules"),
        ("UPDATE schedule SET name = 'anytime'", "the access schedules"),
        ("UPDATE person SET valid_until = '2099-12-31' WHERE name = 'Ann'", "the people's access"),
        ("UPDATE person SET schedule_id = NULL", "the people's access"),
        ("UPDATE person SET valid_from = '2020-01-01' WHERE name = 'Bob'", "the people's access"),
    ],
)
def test_access_changed_with_raw_sql_breaks_verify_and_blocks_writes(
    site: Store, database: DatabaseUnderTest, sql: str, what: str
) -> None:
    site.set_schedule("staff", STAFF)
    site.assign_schedule("Ann", "staff")
    site.set_validity("Ann", None, date(2027, 1, 31))
    assert site.verify_chain().ok
    _raw(database, sql)
    report = site.verify_chain()
    assert not report.ok and report.first_break.reason == STATE_CHANGED
    assert what in report.first_break.detail
    with pytest.raises(StoreError, match="changed outside Gatekeeper"):
        site.assign_schedule("Bob", "staff")
    bob = site.get_person("Bob").id
    assert site.access_rules().get(bob, Access()).schedule is None, "nothing was written"


def test_schedule_descriptions_are_not_state(site: Store, database: DatabaseUnderTest) -> None:
    """A description explains; it decides nothing at the door, so it is not in the digests."""
    site.set_schedule("staff", STAFF, description="office")
    _raw(database, "UPDATE schedule SET description = 'edited'")
    assert site.verify_chain().ok


# --- a v4 database, with state records from before schedules -------------------------------


def _make_v4(database: DatabaseUnderTest) -> None:
    """A v4 database as v4 Gatekeeper left it: migrated up from v1 by the real steps, with a
    state record of the three parts v4 knew (settings, people, encodings)."""
    _make_v1(database)
    backend = parse_database(database.url)
    db = backend.connect()
    with backend.schema_transaction(db):
        migrator = SchemaMigrator.from_database(db)
        for version in (1, 2, 3):
            MIGRATIONS[version](migrator, backend)
            applied = datetime(2025, 7, 1, tzinfo=UTC)
            SchemaVersion.insert(version=version + 1, applied=applied).execute(db)
        parts = ("settings", "people", "encodings")
        found = current(backend, db, parts)
        digests = " ".join(f"{part}:{found.digests[part]}" for part in parts)
        row = ("2025-07-01T00:00:00.000000+00:00", STATE_KIND, "operator")
        append_rows(db, "admin_event", [(*row, f"{found.summary}; {digests}")], None)
    db.close()


def test_a_v4_database_migrated_to_v5_verifies_and_is_then_covered(
    database: DatabaseUnderTest, tmp_path: Path
) -> None:
    _make_v4(database)
    with database.raw() as connection:
        (record,) = connection.execute(
            "SELECT detail FROM admin_event WHERE kind = 'state'"
        ).fetchall()
    assert "encodings:" in record[0] and "schedules:" not in record[0]
    with open_store(database.url, images_dir=tmp_path / "images") as store:
        assert store.migrated_from == 4
        report = store.verify_chain()
        assert report.ok, report.summary()
        assert len(_events(database, (STATE_KIND,))) == 1, "the v4 record is kept, not replaced"
        store.set_schedule("staff", STAFF)
        store.assign_schedule("José Núñez", "staff")
        assert store.verify_chain().ok
        assert len(list(store.iter_attempts(AttemptFilter()))) == 1
    _raw(database, "UPDATE schedule_window SET start_minute = 0")
    with open_store(database.url, images_dir=tmp_path / "images") as store:
        assert store.verify_chain().first_break.reason == STATE_CHANGED


def test_a_v4_state_record_stands_for_empty_access(
    database: DatabaseUnderTest, tmp_path: Path
) -> None:
    """Raw SQL giving someone a schedule in a migrated v4 database is caught by its old record:
    the record's missing parts are the empty state, not 'anything goes'."""
    _make_v4(database)
    open_store(database.url, images_dir=tmp_path / "images").close()
    _raw(database, "INSERT INTO schedule (name, description, created) VALUES ('x', '', 'now')")
    with open_store(database.url, images_dir=tmp_path / "images") as store:
        report = store.verify_chain()
    assert report.first_break.reason == STATE_CHANGED
    assert "the access schedules" in report.first_break.detail
