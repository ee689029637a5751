"""Schedules and validity dates at their edges: every refusal's exact line, the last
minute of an hour, windows that touch midnight, and the order windows are shown in."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.errors import UsageError
from gatekeeper.schedule import (
    Access,
    Window,
    admission,
    check_validity,
    format_windows,
    load_timezone,
    may_enter,
    normalise,
    parse_date,
    parse_window,
    parse_windows,
)

TOKYO = load_timezone("Asia/Tokyo")


def _refusal(call, *args, **kwargs) -> str:
    with pytest.raises(UsageError) as refused:
        call(*args, **kwargs)
    return str(refused.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Mon-Funday 07:00-08:00",
            "bad schedule window 'Mon-Funday 07:00-08:00': 'Funday' is "
            "not a day (e.g. 'Mon-Fri 07:00-19:00', 'Sun 22:00-06:00' or 'always')",
        ),
        (
            "Funday-Mon 07:00-08:00",
            "bad schedule window 'Funday-Mon 07:00-08:00': 'Funday' is "
            "not a day (e.g. 'Mon-Fri 07:00-19:00', 'Sun 22:00-06:00' or 'always')",
        ),
        ("Mon 07:00-25:00", "bad schedule window 'Mon 07:00-25:00': 25:00 is not a time of day"),
        ("Mon 07:00-24:30", "bad schedule window 'Mon 07:00-24:30': 24:30 is not a time of day"),
        ("Mon 24:00-06:00", "bad schedule window 'Mon 24:00-06:00': 24:00 is not a time of day"),
    ],
)
def test_a_bad_window_names_itself_and_the_bad_part(text, message) -> None:
    assert _refusal(parse_window, text) == message


def test_the_last_minute_of_an_hour_is_a_time_of_day() -> None:
    assert parse_window("Tue 07:59-08:59") == (Window(1, 479, 539),)
    assert parse_window("Tue 23:59-24:00") == (Window(1, 1439, 1440),)


def test_a_whole_day_beside_the_next_mornings_window_stays_two_windows() -> None:
    windows = parse_windows(["Mon", "Tue 00:00-06:00"])
    assert format_windows(windows) == ["Mon", "Tue 00:00-06:00"]


@pytest.mark.parametrize(
    ("texts", "shown"),
    [
        (["Mon 06:01-24:00", "Tue 00:00-06:00"], ["Mon 06:01-06:00"]),
        (["Mon 06:00-24:00", "Tue 00:00-06:00"], ["Mon 06:00-24:00", "Tue 00:00-06:00"]),
        (["Mon 00:01-24:00", "Tue 00:00-06:00"], ["Mon 00:01-24:00", "Tue 00:00-06:00"]),
        (["Mon 22:00-24:00", "Tue 08:00-09:00"], ["Mon 22:00-24:00", "Tue 08:00-09:00"]),
    ],
)
def test_a_night_is_joined_with_the_next_morning_only_when_it_starts_after_it_ends(
    texts, shown
) -> None:
    windows = parse_windows(texts)
    assert format_windows(windows) == shown
    assert parse_windows(shown) == windows


#: Windows of a week, often starting at midnight or ending at it (where texts join days).
_windows = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.one_of(st.just(0), st.integers(0, 1439)),
        st.one_of(st.just(1440), st.integers(1, 1440)),
    ).filter(lambda w: w[1] < w[2]),
    min_size=1,
    max_size=6,
)


@settings(derandomize=True, database=None, max_examples=100)
@given(_windows)
def test_every_schedule_is_shown_as_text_that_parses_back_to_it(windows) -> None:
    normalised = normalise(windows)
    assert parse_windows(format_windows(normalised)) == normalised


def test_windows_are_shown_by_their_first_day_then_their_hours() -> None:
    windows = parse_windows(["Tue 08:00-09:00", "Mon 10:00-12:00"])
    assert format_windows(windows) == ["Mon 10:00-12:00", "Tue 08:00-09:00"]
    windows = parse_windows(["Mon 10:00-11:00", "Mon-Tue 08:00-09:00"])
    assert format_windows(windows) == ["Mon-Tue 08:00-09:00", "Mon 10:00-11:00"]


def test_validity_dates_that_admit_nobody_are_refused() -> None:
    assert _refusal(check_validity, date(2027, 1, 31), date(2027, 1, 30)) == (
        "valid until 2027-01-30 is before valid from 2027-01-31: the person could never enter"
    )
    check_validity(date(2027, 1, 31), date(2027, 1, 31))  # one day
    check_validity(None, date(2027, 1, 30))
    check_validity(date(2027, 1, 31), None)
    check_validity(None, None)


def test_dates_are_iso_and_a_bad_one_says_what_it_was() -> None:
    assert parse_date(" 2026-12-01 ") == date(2026, 12, 1)
    assert _refusal(parse_date, " 1/12/2026 ") == (
        "date must be a date as YYYY-MM-DD, got '1/12/2026'"
    )
    assert _refusal(parse_date, "2026-13-01", what="--valid-until") == (
        "--valid-until must be a date as YYYY-MM-DD, got '2026-13-01'"
    )


def test_a_bad_zone_name_is_refused_naming_the_setting() -> None:
    message = "must be an IANA time zone name such as Europe/Berlin or UTC, got 'Mars/Olympus'"
    assert _refusal(load_timezone, "Mars/Olympus") == f"timezone {message}"
    assert _refusal(load_timezone, "Mars/Olympus", what="--tz") == f"--tz {message}"


def test_admission_judges_on_the_sites_clock() -> None:
    access = Access("office", parse_windows(["Mon 09:00-10:00"]))
    monday_nine_in_tokyo = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # Mon 09:30 in Tokyo
    assert admission(True, access, monday_nine_in_tokyo, TOKYO) == (True, None)
    assert admission(True, access, monday_nine_in_tokyo, load_timezone("UTC")) == (
        False,
        "outside schedule office",
    )


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        may_enter(Access(), datetime(2026, 11, 30, 9, 0), TOKYO)
    assert str(refused.value) == "now_utc must be an aware datetime"
