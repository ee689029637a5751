"""Access schedules as a pure policy: the window syntax, validity dates, and judging them on
the site's local wall clock, daylight-saving changes included (Europe/Berlin moves its clocks
on the last Sundays of March and October at 01:00 UTC; America/New_York on the second Sunday
of March and the first of November at 02:00 local)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.config import load_settings, local_timezone_name
from gatekeeper.errors import UsageError
from gatekeeper.schedule import (
    ALL_WEEK,
    ANY_TIME,
    DEACTIVATED,
    Access,
    Window,
    admission,
    describe_validity,
    format_windows,
    load_timezone,
    may_enter,
    normalise,
    parse_windows,
)

BERLIN = load_timezone("Europe/Berlin")
NEW_YORK = load_timezone("America/New_York")
UTC_ZONE = load_timezone("UTC")
DAY_SHIFT = ("Mon-Fri 07:00-19:00",)
EVERY_DAY = ("daily 07:00-19:00",)


def _access(*windows: str, name: str = "staff", **dates: date) -> Access:
    return Access(name, parse_windows(windows), **dates)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- the window syntax ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "windows"),
    [
        ("Mon-Fri 07:00-19:00", [(day, 420, 1140) for day in range(5)]),
        ("Sat 09:00-13:00", [(5, 540, 780)]),
        ("sat 9:00-13:00", [(5, 540, 780)]),
        ("Saturday 09:00 - 13:00", [(5, 540, 780)]),
        ("Mon,Wed,Fri 08:00-12:00", [(0, 480, 720), (2, 480, 720), (4, 480, 720)]),
        ("Fri-Mon 08:00-09:00", [(0, 480, 540), (4, 480, 540), (5, 480, 540), (6, 480, 540)]),
        ("Sun 22:00-06:00", [(0, 0, 360), (6, 1320, 1440)]),
        ("Sun 22:00-00:00", [(6, 1320, 1440)]),
        ("Mon 00:00-24:00", [(0, 0, 1440)]),
        ("Sat-Sun", [(5, 0, 1440), (6, 0, 1440)]),
        ("07:00-19:00", [(day, 420, 1140) for day in range(7)]),
        ("daily 07:00-19:00", [(day, 420, 1140) for day in range(7)]),
        ("always", list(ALL_WEEK)),
        ("Mon 07:00-12:00; Mon 11:00-13:00", [(0, 420, 780)]),
        ("Mon 07:00-12:00;Mon 12:00-13:00", [(0, 420, 780)]),
    ],
)
def test_window_text_becomes_normalised_weekly_windows(text: str, windows: list) -> None:
    assert parse_windows([text]) == tuple(Window(*w) for w in windows)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon 25:00-26:00", "bad schedule window 'Mon 25:00-26:00': 25:00 is not a time of day"),
        ("Mon 07:60-08:00", "07:60 is not a time of day"),
        ("Mon 24:00-06:00", "24:00 is not a time of day"),
        ("Mon 24:30", "bad schedule window 'Mon 24:30' (e.g. 'Mon-Fri 07:00-19:00'"),
        ("Funday 07:00-08:00", "'Funday' is not a day"),
        ("Mon-Fry 07:00-08:00", "'Fry' is not a day"),
        ("Mon 07:00-07:00", "it starts and ends at 07:00 (a whole day is 00:00-24:00)"),
        ("Mon 7-19", "bad schedule window 'Mon 7-19'"),
        ("sometimes", "'sometimes' is not a day"),
        ("Mon 07:00", "bad schedule window 'Mon 07:00'"),
        ("", "a schedule needs at least one window"),
        (" ; ", "a schedule needs at least one window"),
    ],
)
def test_bad_window_text_is_one_line_usage_error(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_windows([text])
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_stored_windows_are_checked() -> None:
    for bad in [(7, 0, 60), (0, 60, 60), (0, -1, 60), (0, 0, 1441), (0, 120, 60)]:
        with pytest.raises(UsageError, match="not a schedule window"):
            normalise([bad])


@pytest.mark.parametrize(
    ("texts", "shown"),
    [
        (["Mon-Fri 07:00-19:00", "Sat 09:00-13:00"], ["Mon-Fri 07:00-19:00", "Sat 09:00-13:00"]),
        (["Sun 22:00-06:00"], ["Sun 22:00-06:00"]),
        (["Mon-Fri 22:00-06:00"], ["Mon-Fri 22:00-06:00"]),
        (["daily 22:00-06:00"], ["daily 22:00-06:00"]),
        (["Mon 00:00-06:00", "Sun 22:00-24:00"], ["Sun 22:00-06:00"]),
        (["Sun 22:00-24:00", "Mon"], ["Mon", "Sun 22:00-24:00"]),
        (["Fri-Mon 08:00-09:00"], ["Mon,Fri-Sun 08:00-09:00"]),
        (["Sat-Sun"], ["Sat-Sun"]),
        (["always"], ["always"]),
        (["Mon-Sun 00:00-24:00"], ["always"]),
        (["07:00-19:00"], ["daily 07:00-19:00"]),
    ],
)
def test_windows_are_shown_in_the_syntax_they_are_typed_in(texts, shown) -> None:
    windows = parse_windows(texts)
    assert format_windows(windows) == shown
    assert parse_windows(shown) == windows


# --- judging at an instant -----------------------------------------------------------------


def test_no_schedule_and_no_dates_is_any_time() -> None:
    assert may_enter(ANY_TIME, _utc(2026, 12, 6, 3, 0), BERLIN) == (True, None)
    assert not ANY_TIME.limited and _access("always").limited


def test_inside_and_outside_a_window_on_the_local_clock() -> None:
    staff = _access(*DAY_SHIFT)
    # Tuesday 1 December 2026, Berlin is UTC+1: 07:00 local is 06:00 UTC.
    assert may_enter(staff, _utc(2026, 12, 1, 5, 59), BERLIN) == (False, "outside schedule staff")
    assert may_enter(staff, _utc(2026, 12, 1, 6, 0), BERLIN) == (True, None)
    assert may_enter(staff, _utc(2026, 12, 1, 17, 59), BERLIN) == (True, None)
    assert may_enter(staff, _utc(2026, 12, 1, 18, 0), BERLIN) == (False, "outside schedule staff")
    # Saturday, in the same hours: no window.
    assert may_enter(staff, _utc(2026, 12, 5, 10, 0), BERLIN)[0] is False
    # The same instant is inside in UTC and outside in New York (01:00 local).
    assert may_enter(staff, _utc(2026, 12, 1, 6, 0), UTC_ZONE)[0] is False
    assert may_enter(staff, _utc(2026, 12, 1, 12, 0), NEW_YORK)[0] is True


def test_a_window_across_midnight_admits_on_both_days() -> None:
    night = _access("Sun 22:00-06:00", name="night")
    sunday_late = datetime(2026, 12, 6, 23, 30, tzinfo=BERLIN)
    monday_early = datetime(2026, 12, 7, 5, 59, tzinfo=BERLIN)
    assert may_enter(night, sunday_late, BERLIN) == (True, None)
    assert may_enter(night, monday_early, BERLIN) == (True, None)
    assert may_enter(night, monday_early + timedelta(minutes=1), BERLIN)[0] is False
    assert may_enter(night, sunday_late - timedelta(hours=2), BERLIN)[0] is False


def test_a_schedule_without_windows_admits_nobody() -> None:
    assert may_enter(Access("empty"), _utc(2026, 12, 1, 12), UTC_ZONE) == (
        False,
        "outside schedule empty",
    )


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        may_enter(ANY_TIME, datetime(2026, 12, 1, 12), BERLIN)


# --- daylight saving time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "offset_before", "offset_after"),
    [
        (BERLIN, date(2026, 3, 29), 1, 2),  # spring forward: 02:00 CET -> 03:00 CEST
        (BERLIN, date(2026, 10, 25), 2, 1),  # fall back: 03:00 CEST -> 02:00 CET
        (NEW_YORK, date(2026, 3, 8), -5, -4),  # 02:00 EST -> 03:00 EDT
        (NEW_YORK, date(2026, 11, 1), -4, -5),  # 02:00 EDT -> 01:00 EST
    ],
)
def test_a_day_window_opens_and_closes_on_the_wall_clock_on_dst_days(
    zone, day, offset_before, offset_after
) -> None:
    """07:00-19:00 on the days the clocks move: the window is 12 hours of wall clock, opening
    at 07:00 local (already on the new offset: the change is at night), whatever the day's
    length in real hours."""
    window = _access(*EVERY_DAY)
    opens = datetime(day.year, day.month, day.day, 7, tzinfo=UTC) - timedelta(hours=offset_after)
    closes = datetime(day.year, day.month, day.day, 19, tzinfo=UTC) - timedelta(hours=offset_after)
    minute = timedelta(minutes=1)
    assert may_enter(window, opens - minute, zone)[0] is False
    assert may_enter(window, opens, zone) == (True, None)
    assert may_enter(window, closes - minute, zone) == (True, None)
    assert may_enter(window, closes, zone)[0] is False
    # The day before, 07:00 local was at the other offset.
    before = opens - timedelta(days=1) + timedelta(hours=offset_after - offset_before)
    assert may_enter(window, before - minute, zone)[0] is False
    assert may_enter(window, before, zone)[0] is True


def test_both_instants_of_the_repeated_hour_are_judged_alike() -> None:
    """Berlin, 25 October 2026: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC
    (CET). A window 02:00-03:00 admits at both; one from 03:00 at neither."""
    first, second = _utc(2026, 10, 25, 0, 30), _utc(2026, 10, 25, 1, 30)
    assert first.astimezone(BERLIN).strftime("%H:%M") == "02:30"
    assert second.astimezone(BERLIN).strftime("%H:%M") == "02:30"
    repeated = _access("Sun 02:00-03:00")
    assert may_enter(repeated, first, BERLIN) == may_enter(repeated, second, BERLIN) == (True, None)
    after = _access("Sun 03:00-04:00")
    assert may_enter(after, first, BERLIN)[0] is may_enter(after, second, BERLIN)[0] is False
    # 03:00 CET, after the repeated hour, is 02:00 UTC.
    assert may_enter(after, _utc(2026, 10, 25, 2, 0), BERLIN) == (True, None)


def test_a_window_starting_in_the_skipped_hour_opens_when_the_clock_jumps() -> None:
    """Berlin, 29 March 2026: local 02:00-02:59 does not exist (01:00 UTC is 03:00 CEST). A
    window 02:30-04:00 opens at 03:00 local, the first instant after its start; one ending in
    the skipped hour closes at the jump."""
    jump = _utc(2026, 3, 29, 1, 0)
    assert (jump - timedelta(seconds=1)).astimezone(BERLIN).strftime("%H:%M:%S") == "01:59:59"
    assert jump.astimezone(BERLIN).strftime("%H:%M") == "03:00"
    skipped_start = _access("Sun 02:30-04:00")
    assert may_enter(skipped_start, jump - timedelta(seconds=1), BERLIN)[0] is False
    assert may_enter(skipped_start, jump, BERLIN) == (True, None)
    assert may_enter(skipped_start, _utc(2026, 3, 29, 2, 0), BERLIN)[0] is False  # 04:00 CEST
    skipped_end = _access("Sun 01:00-02:30")
    assert may_enter(skipped_end, jump - timedelta(seconds=1), BERLIN) == (True, None)
    assert may_enter(skipped_end, jump, BERLIN)[0] is False


# --- validity dates ------------------------------------------------------------------------


def test_validity_dates_are_inclusive_local_days() -> None:
    contractor = Access(valid_from=date(2027, 1, 1), valid_until=date(2027, 1, 31))
    # 23:30 on 31 December in Berlin is still 2026 there; 23:30 UTC that night is already
    # 00:30 on 1 January in Berlin (valid), not in UTC.
    assert may_enter(contractor, datetime(2026, 12, 31, 23, 30, tzinfo=BERLIN), BERLIN) == (
        False,
        "not valid before 2027-01-01",
    )
    assert may_enter(contractor, _utc(2026, 12, 31, 23, 30), BERLIN) == (True, None)
    assert may_enter(contractor, _utc(2026, 12, 31, 23, 30), UTC_ZONE)[0] is False
    assert may_enter(contractor, datetime(2027, 1, 31, 23, 59, tzinfo=BERLIN), BERLIN)[0]
    assert may_enter(contractor, datetime(2027, 2, 1, 0, 0, tzinfo=BERLIN), BERLIN) == (
        False,
        "expired after 2027-01-31",
    )


def test_dates_are_checked_before_the_schedule_and_deactivation_first() -> None:
    expired = _access("always", valid_until=date(2026, 11, 30))
    now = _utc(2026, 12, 1, 12)
    assert may_enter(expired, now, UTC_ZONE) == (False, "expired after 2026-11-30")
    assert admission(False, expired, now, UTC_ZONE) == (False, DEACTIVATED)
    assert admission(True, _access(*DAY_SHIFT), now, UTC_ZONE) == (True, None)


def test_validity_is_described_in_words() -> None:
    assert describe_validity(None, None) == "no limit"
    assert describe_validity(date(2026, 12, 1), None) == "from 2026-12-01"
    assert describe_validity(None, date(2027, 1, 31)) == "until 2027-01-31"
    assert describe_validity(date(2026, 12, 1), date(2027, 1, 31)) == (
        "from 2026-12-01 until 2027-01-31"
    )


# --- the site's time zone ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Europe/Berlin", "UTC", "America/New_York", "Asia/Kolkata"])
def test_timezone_setting_takes_iana_names(tmp_path: Path, name: str) -> None:
    config = tmp_path / "site.toml"
    config.write_text(f'timezone = "{name}"\n', encoding="utf-8")
    assert load_settings(config, environ={}).timezone == name


@pytest.mark.parametrize("value", ['"Mars/Olympus"', '"CEST"', '"../etc/passwd"', "1", '""'])
def test_a_bad_timezone_is_one_line_usage_error(tmp_path: Path, value: str) -> None:
    config = tmp_path / "site.toml"
    config.write_text(f"timezone = {value}\n", encoding="utf-8")
    with pytest.raises(UsageError) as raised:
        load_settings(config, environ={})
    assert str(raised.value).startswith(f"{config}: timezone ")
    assert "\n" not in str(raised.value)


def test_the_default_zone_is_where_etc_localtime_points(tmp_path: Path) -> None:
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Europe/Berlin")
    assert local_timezone_name(link) == "Europe/Berlin"
    relative = tmp_path / "relative"
    relative.symlink_to("../usr/share/zoneinfo/America/New_York")
    assert local_timezone_name(relative) == "America/New_York"
    plain = tmp_path / "plain"
    plain.write_bytes(b"TZif")
    assert local_timezone_name(plain) == "UTC"
    assert local_timezone_name(tmp_path / "missing") == "UTC"
    unknown = tmp_path / "unknown"
    unknown.symlink_to("/usr/share/zoneinfo/Nowhere/Land")
    assert local_timezone_name(unknown) == "UTC"


def test_zones_work_without_the_systems_zone_files(tmp_path: Path) -> None:
    """Where the system has no zone files (slim containers), the ``tzdata`` package has them:
    with ``PYTHONTZPATH`` pointing at an empty folder, Berlin's DST rules still hold."""
    code = (
        "from datetime import datetime, timezone\n"
        "import zoneinfo\n"
        "from gatekeeper.schedule import load_timezone\n"
        f"assert zoneinfo.TZPATH == ({str(tmp_path)!r},), zoneinfo.TZPATH\n"
        "zone = load_timezone('Europe/Berlin')\n"
        "print(datetime(2026, 7, 1, 12, tzinfo=timezone.utc).astimezone(zone).isoformat())\n"
    )
    env = {**os.environ, "PYTHONTZPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2026-07-01T14:00:00+02:00"
