"""``schedule``: named weekly access schedules, who follows them, and validity dates."""

from __future__ import annotations

import argparse
import functools
from typing import Any

from gatekeeper.cli.args import Commands, add_json, calendar_date, command, command_group
from gatekeeper.cli.opening import open_site
from gatekeeper.cli.render import Column, print_json, show
from gatekeeper.config import Settings
from gatekeeper.errors import NotFoundError, UsageError
from gatekeeper.schedule import Access, describe_validity, parse_windows
from gatekeeper.site import ScheduleInfo, plural, validate_name


def validity_dict(access: Access) -> dict[str, Any]:
    return {
        "valid_from": None if access.valid_from is None else access.valid_from.isoformat(),
        "valid_until": None if access.valid_until is None else access.valid_until.isoformat(),
    }


def _schedule_dict(info: ScheduleInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "description": info.description,
        "windows": info.text,
        "people": list(info.people),
    }


def cmd_schedule_list(args: argparse.Namespace, settings: Settings) -> int:
    """Every access schedule, with its windows and how many people it has."""
    with open_site(settings, args, read_only=True) as site:
        schedules = site.schedules.list()
    columns: tuple[Column[ScheduleInfo], ...] = (
        Column("name", lambda info: info.name),
        Column("people", lambda info: str(len(info.people)), width=6, right=True),
        Column(f"windows ({settings.timezone})", lambda info: "; ".join(info.text)),
    )
    empty = "no schedules (everybody may enter at any time)"
    show(schedules, columns, as_json=args.json, record=_schedule_dict, empty=empty)
    return 0


def cmd_schedule_show(args: argparse.Namespace, settings: Settings) -> int:
    """One schedule: its windows and its people."""
    name = validate_name(args.name)
    with open_site(settings, args, read_only=True) as site:
        info = site.schedules.get(name)
    if args.json:
        print_json(_schedule_dict(info))
        return 0
    print(f"schedule {info.name}" + (f": {info.description}" if info.description else ""))
    print(f"windows ({settings.timezone}):")
    for text in info.text:
        print(f"  {text}")
    people = ", ".join(info.people) if info.people else "nobody"
    print(f"{plural(len(info.people), 'person')}: {people}")
    return 0


def cmd_schedule_set(args: argparse.Namespace, settings: Settings) -> int:
    """Create a schedule, or replace its windows: everybody assigned to it follows at once."""
    name = validate_name(args.name)
    windows = parse_windows(args.windows)
    with open_site(settings, args) as site:
        outcome = site.schedules.set(name, windows, description=args.description)
        info = site.schedules.get(name)
    if outcome == "unchanged":
        print(f"schedule {info.name} unchanged: {'; '.join(info.text)}")
    else:
        print(
            f"{outcome} schedule {info.name}: {'; '.join(info.text)} "
            f"({plural(len(info.people), 'person')})"
        )
    return 0


def cmd_schedule_delete(args: argparse.Namespace, settings: Settings) -> int:
    """Delete a schedule nobody is assigned to."""
    name = validate_name(args.name)
    with open_site(settings, args) as site:
        site.schedules.delete(name)
    print(f"deleted schedule {name}")
    return 0


def cmd_schedule_assign(args: argparse.Namespace, settings: Settings) -> int:
    """Give a person a schedule, or none (``--none``: any time)."""
    if (args.schedule is None) == (not args.none):
        raise UsageError("give a schedule name or --none (see 'gatekeeper schedule assign --help')")
    person = validate_name(args.person)
    schedule = None if args.none else validate_name(args.schedule)
    with open_site(settings, args) as site:
        changed = site.schedules.assign(person, schedule)
    what = "no schedule (any time)" if schedule is None else f"schedule {schedule}"
    print(f"{person}: {what}" + ("" if changed else " (unchanged)"))
    return 0


def cmd_schedule_valid(args: argparse.Namespace, settings: Settings) -> int:
    """Show, set or clear a person's validity dates (inclusive local dates)."""
    person = validate_name(args.person)
    if args.valid_from is None and args.valid_until is None and not args.clear:
        with open_site(settings, args, read_only=True) as site:
            info = site.people.get(person)
            if info is None:
                raise NotFoundError(f"no such person: {person}")
            access = site.schedules.access_now([info])[person].access
        changed = None
    else:
        with open_site(settings, args) as site:
            changed, access = site.schedules.change_validity(
                person, valid_from=args.valid_from, valid_until=args.valid_until, clear=args.clear
            )
    if args.json:
        print_json({"name": person, **validity_dict(access)})
        return 0
    note = " (unchanged)" if changed is False else ""
    print(f"{person}: valid {describe_validity(access.valid_from, access.valid_until)}{note}")
    return 0


def register(commands: Commands) -> None:
    """Add ``schedule`` and its commands."""
    group = command_group(
        commands,
        "schedule",
        "access schedules: when people may enter",
        "Named weekly access schedules, shared by the people assigned to them, and validity "
        "dates, in the site's time zone (config 'timezone'). A window is 'Mon-Fri 07:00-19:00', "
        "'Sat 09:00-13:00', 'Sun 22:00-06:00' (across midnight), 'Sat-Sun' (whole days) or "
        "'always'. A recognised person outside them is denied.",
        needs="list, show, set, delete, assign or valid",
    )
    add = functools.partial(command, group)

    add_json(add("list", cmd_schedule_list, "every schedule and its windows"))
    show = add("show", cmd_schedule_show, "one schedule: windows and people")
    show.add_argument("name", metavar="NAME")
    add_json(show)
    set_ = add("set", cmd_schedule_set, "create a schedule or replace its windows")
    set_.add_argument("name", metavar="NAME")
    set_.add_argument(
        "windows", metavar="WINDOW", nargs="+", help="e.g. 'Mon-Fri 07:00-19:00' or 'always'"
    )
    set_.add_argument("--description", metavar="TEXT", help="what the schedule is for")
    delete = add("delete", cmd_schedule_delete, "delete a schedule nobody has")
    delete.add_argument("name", metavar="NAME")
    assign = add("assign", cmd_schedule_assign, "give a person a schedule, or none")
    assign.add_argument("person", metavar="PERSON")
    assign.add_argument("schedule", metavar="NAME", nargs="?", help="the schedule")
    assign.add_argument("--none", action="store_true", help="no schedule: any time")
    valid = add("valid", cmd_schedule_valid, "show, set or clear a person's validity dates")
    valid.add_argument("person", metavar="PERSON")
    valid.add_argument(
        "--from",
        dest="valid_from",
        metavar="DATE",
        type=calendar_date,
        help="first day (YYYY-MM-DD)",
    )
    valid.add_argument(
        "--until",
        dest="valid_until",
        metavar="DATE",
        type=calendar_date,
        help="last day (YYYY-MM-DD)",
    )
    valid.add_argument("--clear", action="store_true", help="clear the dates not given: no limit")
    add_json(valid)
