"""Access schedules and validity dates: when a recognised person may enter. Pure Python, no I/O.

A person may have a named weekly **schedule** (shared by a group, so a change is made once) and
**validity dates**. They may enter when both allow it, judged on the local wall clock of the
site's IANA time zone (config ``timezone``):

- validity: ``valid_from`` and ``valid_until`` are inclusive local dates (``None``: no limit);
- schedule: the local weekday and minute fall inside one of its windows (no schedule: any time).

Window syntax (one window per text; ``;`` separates several in one text), case-insensitive::

    Mon-Fri 07:00-19:00     weekdays, 07:00 inclusive to 19:00 exclusive
    Sat 09:00-13:00         one day
    Mon,Wed,Fri 08:00-12:00 a list of days; ranges may wrap (Fri-Mon)
    Sun 22:00-06:00         across midnight: Sun 22:00-24:00 and Mon 00:00-06:00
    Sat-Sun                 whole days; daily 07:00-19:00 is every day
    always                  every minute of the week

Days are English names or their first three letters; times ``HH:MM``, 24-hour, ``24:00``
allowed as an end. Windows are kept normalised (:func:`normalise`): per day, sorted, overlapping
or touching ones merged; :func:`format_windows` writes them back in this syntax.

**Daylight saving time.** Only the local wall clock counts, so DST changes nothing about which
local times are inside a window: 07:00–19:00 opens at 07:00 local on the days the clocks move
too (the day is then 23 or 25 hours long, the window still 12 hours of wall clock). In the hour
repeated when clocks go back, both instants with the same local time are judged alike (a window
02:00–03:00 admits for two real hours that night). A window starting in the hour skipped when
clocks go forward opens at the first local time that exists after its start (02:30–04:00 opens
at 03:00 on that day).

**Reasons.** A refusal's reason is one stable line recorded in the chained ``attempt.reason``:
:data:`DEACTIVATED`, ``not valid before 2027-01-01``, ``expired after 2026-11-30`` (the dates
as set: the first and the last day of validity) and ``outside schedule NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gatekeeper.errors import UsageError

#: Minutes in a day: a window's end is at most this.
MINUTES_PER_DAY = 24 * 60
#: Weekday names as shown, Monday (0) first, as ``datetime.weekday()`` numbers them.
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: The reason recorded for a recognised person who is deactivated.
DEACTIVATED = "deactivated"
#: The window text of a schedule open all week.
ALWAYS = "always"
#: What a window looks like, for error messages.
EXAMPLES = "e.g. 'Mon-Fri 07:00-19:00', 'Sun 22:00-06:00' or 'always'"

_WINDOW_RE = re.compile(
    r"(?P<days>[a-z]+(?:\s*[-,]\s*[a-z]+)*)?\s*"
    r"(?:(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2}))?",
    re.IGNORECASE,
)


class Window(NamedTuple):
    """One weekly window: ``weekday`` 0 (Monday) to 6, local wall-clock minutes from
    ``start_minute`` (inclusive, 0–1439) to ``end_minute`` (exclusive, 1–1440) of that day."""

    weekday: int
    start_minute: int
    end_minute: int


#: Every minute of the week.
ALL_WEEK = tuple(Window(day, 0, MINUTES_PER_DAY) for day in range(7))


@dataclass(frozen=True)
class Access:
    """When one person may enter: ``schedule`` (its name; ``None``: any time) with its
    ``windows``, and the inclusive local dates ``valid_from`` / ``valid_until`` (``None``: no
    limit). A schedule without windows admits nobody."""

    schedule: str | None = None
    windows: tuple[Window, ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None

    @property
    def limited(self) -> bool:
        """Whether anything limits this person's access (a schedule or a date)."""
        return not (self.schedule is None and self.valid_from is None and self.valid_until is None)


#: No limit: any time, any date.
ANY_TIME = Access()


def _day(text: str, window: str) -> int:
    word = text.strip().lower()
    for number, full in enumerate(_FULL_DAYS):
        if word in (full, full[:3]):
            return number
    raise UsageError(f"bad schedule window {window!r}: {text.strip()!r} is not a day ({EXAMPLES})")


def _days(text: str, window: str) -> list[int]:
    """The weekdays of ``Mon-Fri``, ``Mon,Wed``, ``Fri-Mon`` (wraps) or ``daily``."""
    if text.strip().lower() == "daily":
        return list(range(7))
    days: list[int] = []
    for item in text.split(","):
        first, dash, last = item.partition("-")
        start = _day(first, window)
        if not dash:
            days.append(start)
            continue
        end = _day(last, window)
        days += [(start + step) % 7 for step in range((end - start) % 7 + 1)]
    return days


def _minute(text: str, window: str, *, end: bool) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes) or (hours == 24 and not end):
        raise UsageError(f"bad schedule window {window!r}: {text} is not a time of day")
    return hours * 60 + minutes


def parse_window(text: str) -> tuple[Window, ...]:
    """The windows one text stands for (see the module docstring): one, two for a window across
    midnight, seven for ``always``... Raises a one-line :class:`UsageError` for bad text."""
    cleaned = " ".join(text.split())
    if cleaned.lower() == ALWAYS:
        return ALL_WEEK
    found = _WINDOW_RE.fullmatch(cleaned)
    if not cleaned or found is None or not (found["days"] or found["start"]):
        raise UsageError(f"bad schedule window {text!r} ({EXAMPLES})")
    days = _days(found["days"], text) if found["days"] else list(range(7))
    if found["start"] is None:
        return tuple(Window(day, 0, MINUTES_PER_DAY) for day in days)
    start = _minute(found["start"], text, end=False)
    end = _minute(found["end"], text, end=True)
    if start == end:
        raise UsageError(
            f"bad schedule window {text!r}: it starts and ends at {found['start']} "
            "(a whole day is 00:00-24:00)"
        )
    if start < end:
        return tuple(Window(day, start, end) for day in days)
    after_midnight = [Window((day + 1) % 7, 0, end) for day in days] if end else []
    return (*(Window(day, start, MINUTES_PER_DAY) for day in days), *after_midnight)


def parse_windows(texts: Iterable[str]) -> tuple[Window, ...]:
    """Every window of ``texts`` (each may hold several separated by ``;``), normalised.
    Raises :class:`UsageError` for bad text or when there is no window at all."""
    windows = [
        window
        for text in texts
        for part in text.split(";")
        if part.strip()
        for window in parse_window(part)
    ]
    if not windows:
        raise UsageError(f"a schedule needs at least one window ({EXAMPLES})")
    return normalise(windows)


def normalise(windows: Iterable[tuple[int, int, int]]) -> tuple[Window, ...]:
    """``windows`` checked, sorted by day and start, overlapping or touching windows of one day
    merged: the one form schedules are stored and compared in. Raises :class:`UsageError` for a
    weekday outside 0–6 or minutes outside ``0 <= start < end <= 1440``."""
    merged: list[Window] = []
    for weekday, start, end in sorted(windows):
        if not (0 <= weekday <= 6 and 0 <= start < end <= MINUTES_PER_DAY):
            raise UsageError(f"not a schedule window: day {weekday}, minutes {start}-{end}")
        last = merged[-1] if merged else None
        if last is not None and last.weekday == weekday and start <= last.end_minute:
            merged[-1] = last._replace(end_minute=max(end, last.end_minute))
        else:
            merged.append(Window(weekday, start, end))
    return tuple(merged)


def format_minute(minute: int) -> str:
    """``HH:MM`` of a minute of the day (1440 is ``24:00``)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _day_list(days: list[int]) -> str:
    """``Mon-Fri``, ``Mon,Wed,Fri``, ``daily``: ascending ``days`` in few words."""
    if len(days) == 7:
        return "daily"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        DAYS[run[0]] if len(run) == 1 else f"{DAYS[run[0]]}-{DAYS[run[-1]]}" for run in runs
    )


def format_windows(windows: Iterable[tuple[int, int, int]]) -> list[str]:
    """Normalised ``windows`` in the window syntax, days with the same hours grouped and a
    window running up to midnight joined with the next day's window from midnight:
    ``["Mon-Fri 07:00-19:00", "Sat 09:00-13:00"]``, ``["Sun 22:00-06:00"]``, ``["always"]``.
    Parsing the result with :func:`parse_windows` gives the same windows back."""
    windows = normalise(windows)
    if windows == ALL_WEEK:
        return [ALWAYS]
    mornings = {
        w.weekday: w for w in windows if w.start_minute == 0 and w.end_minute < MINUTES_PER_DAY
    }
    # A night is joined only when it starts after the morning ends, so that the joined text
    # reads as a window across midnight (start after end) and parses back to both windows.
    nights = {
        w
        for w in windows
        if w.end_minute == MINUTES_PER_DAY
        and (w.weekday + 1) % 7 in mornings
        and w.start_minute > mornings[(w.weekday + 1) % 7].end_minute
    }
    joined = {mornings[(w.weekday + 1) % 7] for w in nights}
    hours: dict[tuple[int, int], list[int]] = {}
    for window in windows:
        if window in joined:
            continue
        end = (
            mornings[(window.weekday + 1) % 7].end_minute if window in nights else window.end_minute
        )
        hours.setdefault((window.start_minute, end), []).append(window.weekday)
    groups = sorted(hours.items(), key=lambda item: (item[1][0], item[0]))
    return [
        _day_list(days)
        if (start, end) == (0, MINUTES_PER_DAY)
        else f"{_day_list(days)} {format_minute(start)}-{format_minute(end)}"
        for (start, end), days in groups
    ]


def parse_date(text: str, *, what: str = "date") -> date:
    """An ISO date (``2026-12-01``) typed by a user; a one-line :class:`UsageError` otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{what} must be a date as YYYY-MM-DD, got {text.strip()!r}") from None


def check_validity(valid_from: date | None, valid_until: date | None) -> None:
    """Refuse validity dates that admit nobody ever: ``valid_until`` before ``valid_from``."""
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        raise UsageError(
            f"valid until {valid_until} is before valid from {valid_from}: "
            "the person could never enter"
        )


def describe_validity(valid_from: date | None, valid_until: date | None) -> str:
    """Validity dates in words: ``no limit``, ``from 2026-12-01``, ``until 2027-01-31`` or
    ``from 2026-12-01 until 2027-01-31`` (both days included)."""
    parts = [f"from {valid_from.isoformat()}"] if valid_from is not None else []
    if valid_until is not None:
        parts.append(f"until {valid_until.isoformat()}")
    return " ".join(parts) or "no limit"


def load_timezone(name: str, *, what: str = "timezone") -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``, ``UTC``), from the system's zone files or
    the ``tzdata`` package; a one-line :class:`UsageError` for a name that is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"{what} must be an IANA time zone name such as Europe/Berlin or UTC, got {name!r}"
        ) from None


def may_enter(access: Access, now_utc: datetime, tz: ZoneInfo) -> tuple[bool, str | None]:
    """Whether ``access`` lets the person in at ``now_utc`` (an aware datetime), judged on the
    local wall clock of ``tz`` (see the module docstring): ``(True, None)``, or ``(False,
    reason)`` with the reason to record. Validity dates are checked before the schedule."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be an aware datetime")
    local = now_utc.astimezone(tz)
    today = local.date()
    if access.valid_from is not None and today < access.valid_from:
        return False, f"not valid before {access.valid_from.isoformat()}"
    if access.valid_until is not None and today > access.valid_until:
        return False, f"expired after {access.valid_until.isoformat()}"
    if access.schedule is None:
        return True, None
    weekday, minute = local.weekday(), local.hour * 60 + local.minute
    for window in access.windows:
        if window.weekday == weekday and window.start_minute <= minute < window.end_minute:
            return True, None
    return False, f"outside schedule {access.schedule}"


def admission(
    active: bool, access: Access, now_utc: datetime, tz: ZoneInfo
) -> tuple[bool, str | None]:
    """The access verdict for a recognised person: a deactivated one is refused
    (:data:`DEACTIVATED`), an active one as :func:`may_enter` says."""
    if not active:
        return False, DEACTIVATED
    return may_enter(access, now_utc, tz)
