"""``gatekeeper schedule ...`` and the access columns of ``people``: round trips through a
real database, and every refusal one line with a non-zero exit, nothing written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_helpers import seed_database

from gatekeeper.store import open_store


@pytest.fixture
def site(bare_home: Path, no_engine) -> Path:
    """A home with Ada Lovelace enrolled (a synthetic template) and no schedules."""
    seed_database(bare_home)
    return bare_home


def _ok(run, home: Path, *argv: str) -> str:
    result = run("--home", home, "--config", _config(home), *argv)
    assert (result.code, result.err) == (0, ""), result
    return result.out


def _config(home: Path) -> Path:
    path = home / "site.toml"
    if not path.exists():
        path.write_text('timezone = "Europe/Berlin"\n', encoding="utf-8")
    return path


def _events(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "data" / "gatekeeper.db") as connection:
        return connection.execute(
            "SELECT kind, detail FROM admin_event WHERE kind IN ('schedule', 'access') ORDER BY seq"
        ).fetchall()


def test_set_list_show_and_delete_a_schedule(run, site):
    assert _ok(run, site, "schedule", "list") == "no schedules (everybody may enter at any time)\n"
    out = _ok(
        run, site, "schedule", "set", "staff", "Mon-Fri 07:00-19:00", "sat 9:00-13:00",
        "--description", "office hours",
    )  # fmt: skip
    assert out == "created schedule staff: Mon-Fri 07:00-19:00; Sat 09:00-13:00 (0 people)\n"
    assert _ok(run, site, "schedule", "set", "staff", "Mon-Fri 07:00-19:00; Sat 09:00-13:00") == (
        "schedule staff unchanged: Mon-Fri 07:00-19:00; Sat 09:00-13:00\n"
    )
    assert _ok(run, site, "schedule", "set", "night", "Sun 22:00-06:00").startswith(
        "created schedule night: Sun 22:00-06:00"
    )
    assert _ok(run, site, "schedule", "list").splitlines() == [
        "name   people  windows (Europe/Berlin)",
        "night       0  Sun 22:00-06:00",
        "staff       0  Mon-Fri 07:00-19:00; Sat 09:00-13:00",
    ]
    assert json.loads(_ok(run, site, "schedule", "list", "--json")) == [
        {"name": "night", "description": "", "windows": ["Sun 22:00-06:00"], "people": []},
        {
            "name": "staff",
            "description": "office hours",
            "windows": ["Mon-Fri 07:00-19:00", "Sat 09:00-13:00"],
            "people": [],
        },
    ]
    assert _ok(run, site, "schedule", "show", "staff").splitlines() == [
        "schedule staff: office hours",
        "windows (Europe/Berlin):",
        "  Mon-Fri 07:00-19:00",
        "  Sat 09:00-13:00",
        "0 people: nobody",
    ]
    assert json.loads(_ok(run, site, "schedule", "show", "night", "--json"))["windows"] == [
        "Sun 22:00-06:00"
    ]
    assert _ok(run, site, "schedule", "delete", "night") == "deleted schedule night\n"
    assert [info["name"] for info in json.loads(_ok(run, site, "schedule", "list", "--json"))] == [
        "staff"
    ]
    assert [kind for kind, _ in _events(site)] == ["schedule"] * 3
    assert _ok(run, site, "audit", "verify").startswith("audit chain OK")


def test_assign_valid_and_people_show_who_may_enter_now(run, site):
    _ok(run, site, "schedule", "set", "always-open", "always")
    assert _ok(run, site, "schedule", "assign", "Ada Lovelace", "always-open") == (
        "Ada Lovelace: schedule always-open\n"
    )
    assert _ok(run, site, "schedule", "assign", "Ada Lovelace", "always-open") == (
        "Ada Lovelace: schedule always-open (unchanged)\n"
    )
    (ada,) = json.loads(_ok(run, site, "people", "--json"))
    assert {k: ada[k] for k in ("schedule", "valid_from", "valid_until", "may_enter_now")} == {
        "schedule": "always-open",
        "valid_from": None,
        "valid_until": None,
        "may_enter_now": True,
    }
    assert ada["reason"] is None

    # Validity: set one date, keep the other, show, clear. 2000 is long past: expired now.
    assert _ok(run, site, "schedule", "valid", "Ada Lovelace", "--from", "1999-01-01") == (
        "Ada Lovelace: valid from 1999-01-01\n"
    )
    assert _ok(run, site, "schedule", "valid", "Ada Lovelace", "--until", "2000-01-31") == (
        "Ada Lovelace: valid from 1999-01-01 until 2000-01-31\n"
    )
    assert _ok(run, site, "schedule", "valid", "Ada Lovelace") == (
        "Ada Lovelace: valid from 1999-01-01 until 2000-01-31\n"
    )
    assert json.loads(_ok(run, site, "schedule", "valid", "Ada Lovelace", "--json")) == {
        "name": "Ada Lovelace",
        "valid_from": "1999-01-01",
        "valid_until": "2000-01-31",
    }
    table = _ok(run, site, "people").splitlines()
    assert table[0].split()[-6:] == ["seen", "schedule", "valid", "may", "enter", "now"]
    assert table[1].split()[-6:] == [
        "always-open", "1999-01-01..2000-01-31", "no:", "expired", "after", "2000-01-31"
    ]  # fmt: skip
    (ada,) = json.loads(_ok(run, site, "people", "--json"))
    assert (ada["may_enter_now"], ada["reason"]) == (False, "expired after 2000-01-31")

    assert _ok(run, site, "schedule", "valid", "Ada Lovelace", "--clear", "--until", "2999-12-31")
    assert _ok(run, site, "schedule", "valid", "Ada Lovelace") == (
        "Ada Lovelace: valid until 2999-12-31\n"
    )
    assert _ok(run, site, "schedule", "valid", "Ada Lovelace", "--clear") == (
        "Ada Lovelace: valid no limit\n"
    )
    assert _ok(run, site, "schedule", "assign", "Ada Lovelace", "--none") == (
        "Ada Lovelace: no schedule (any time)\n"
    )
    assert _ok(run, site, "people").splitlines()[1].split()[-3:] == ["-", "-", "yes"]
    assert [detail for _, detail in _events(site)][1:] == [
        "Ada Lovelace: schedule always-open (was none)",
        "Ada Lovelace: valid from 1999-01-01 (was no limit)",
        "Ada Lovelace: valid from 1999-01-01 until 2000-01-31 (was from 1999-01-01)",
        "Ada Lovelace: valid until 2999-12-31 (was from 1999-01-01 until 2000-01-31)",
        "Ada Lovelace: valid no limit (was until 2999-12-31)",
        "Ada Lovelace: schedule none (any time) (was always-open)",
    ]
    assert _ok(run, site, "audit", "verify").startswith("audit chain OK")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["schedule"], 2, "schedule needs a command: list, show, set, delete, assign or valid"),
        (["schedule", "set", "x", "Mon 25:00-26:00"], 2, "25:00 is not a time of day"),
        (["schedule", "set", "x", "Funday 07:00-08:00"], 2, "'Funday' is not a day"),
        (["schedule", "set", "x", "Mon 08:00-08:00"], 2, "it starts and ends at 08:00"),
        (["schedule", "set", "a/b", "always"], 2, "a name cannot contain '/'"),
        (["schedule", "set", "Staff", "always"], 2, "'Staff' looks like the schedule 'staff'"),
        (["schedule", "set", "x"], 2, "the following arguments are required: WINDOW"),
        (["schedule", "show", "nights"], 1, "no such schedule: nights"),
        (["schedule", "delete", "nights"], 1, "no such schedule: nights"),
        (["schedule", "delete", "staff"], 1, "schedule staff is assigned to 1 person"),
        (["schedule", "assign", "Carol", "staff"], 1, "no such person: Carol"),
        (["schedule", "assign", "Ada Lovelace", "nights"], 1, "no such schedule: nights"),
        (["schedule", "assign", "Ada Lovelace"], 2, "give a schedule name or --none"),
        (["schedule", "assign", "Ada Lovelace", "staff", "--none"], 2, "give a schedule name"),
        (["schedule", "valid", "Carol", "--clear"], 1, "no such person: Carol"),
        (["schedule", "valid", "Carol"], 1, "no such person: Carol"),
        (["schedule", "valid", "Ada Lovelace", "--from", "2026-13-01"], 2, "must be a date"),
        (["schedule", "valid", "Ada Lovelace", "--until", "tomorrow"], 2, "must be a date"),
        (
            ["schedule", "valid", "Ada Lovelace", "--from", "2027-01-02", "--until", "2027-01-01"],
            2,
            "valid until 2027-01-01 is before valid from 2027-01-02",
        ),
    ],
)
def test_refusals_are_one_line_and_write_nothing(run, site, argv, code, message):
    _ok(run, site, "schedule", "set", "staff", "Mon-Fri 07:00-19:00")
    _ok(run, site, "schedule", "assign", "Ada Lovelace", "staff")
    before = _events(site)
    result = run("--home", site, *argv)
    assert result.code == code and result.out == ""
    assert result.err.startswith("gatekeeper: ") and result.err.count("\n") == 1
    assert message in result.err
    assert _events(site) == before


def test_a_bad_timezone_in_the_config_is_refused_first(run, site):
    config = site / "bad.toml"
    config.write_text('timezone = "Europe/Berln"\n', encoding="utf-8")
    result = run("--home", site, "--config", config, "people")
    assert result.code == 2
    assert result.err == (
        f"gatekeeper: {config}: timezone must be an IANA time zone name such as Europe/Berlin "
        "or UTC, got 'Europe/Berln'\n"
    )


def test_log_shows_why_a_person_was_denied(run, site):
    database = site / "data" / "gatekeeper.db"
    with open_store(str(database), images_dir=site / "images") as store:
        store.record_attempt(
            camera_id="door",
            name="Ada Lovelace",
            person_id=None,
            distance=0.3,
            threshold=0.6,
            decision="denied",
            model_id="dlib_resnet_v1",
            box=None,
            reason="outside schedule staff",
        )
    newest = run("--home", site, "log", "--limit", "1").out.splitlines()[1]
    assert newest.endswith("denied       0.300      0.600  Ada Lovelace (outside schedule staff)")
    (row,) = json.loads(run("--home", site, "log", "--limit", "1", "--json").out)
    assert (row["decision"], row["reason"]) == ("denied", "outside schedule staff")


@pytest.mark.slow
def test_identify_shows_the_denial_and_its_reason(run, use_engine, home, train, probe):
    assert run("--home", home, "enroll", "obama", train / "obama" / "obama.jpg").code == 0
    photo = probe("obama1.jpg")
    granted = run("--home", home, "identify", photo)
    assert granted.code == 0 and ": obama, granted (score " in granted.out
    # Validity that ended long ago: denied whatever today's date is.
    assert run("--home", home, "schedule", "valid", "obama", "--until", "2000-01-01").code == 0
    denied = run("--home", home, "identify", photo)
    assert denied.code == 0, denied.err
    assert ": obama, denied: expired after 2000-01-01 (score " in denied.out
    (face,) = json.loads(run("--home", home, "identify", photo, "--json").out)
    assert (face["decision"], face["reason"]) == ("denied", "expired after 2000-01-01")
    rows = json.loads(run("--home", home, "log", "--json").out)
    assert [(r["decision"], r["reason"]) for r in rows] == [
        ("denied", "expired after 2000-01-01"),
        ("denied", "expired after 2000-01-01"),
        ("granted", None),
    ]
