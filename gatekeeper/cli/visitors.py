"""``visitors``: the kept face crops of unknown, spoof and denied attempts, and what is done
with them (``show``, ``enrol``, ``dismiss``, ``expire``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gatekeeper.cli.args import DEFAULT_LOG_LIMIT, Commands, add_json, command, positive_int
from gatekeeper.cli.opening import open_site, record_export
from gatekeeper.cli.output import note
from gatekeeper.cli.people import print_template_notes
from gatekeeper.cli.render import Column, distance_text, local_time, print_json, show
from gatekeeper.config import Settings
from gatekeeper.site import MAX_PAGE, VisitorRow, plural, validate_name


def _visitor_dict(row: VisitorRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "attempt_id": row.attempt_id,
        "time": row.time.isoformat(),
        "camera": row.camera_id,
        "decision": row.decision,
        "reason": row.reason,
        "distance": row.distance,
        "name": row.person_name,
        "width": row.width,
        "height": row.height,
        "status": row.status,
        "enrolled_name": row.enrolled_name,
    }


def _visitor_note(row: VisitorRow) -> str:
    """What the last column of ``visitors`` says: who it was enrolled as, or who the face
    matched and why it was refused."""
    if row.enrolled_name is not None:
        return f"enrolled as {row.enrolled_name}"
    note = row.person_name or "-"
    return f"{note} ({row.reason})" if row.reason else note


#: ``visitors``' table.
VISITOR_COLUMNS: tuple[Column[VisitorRow], ...] = (
    Column("id", lambda row: str(row.id), width=5, right=True),
    Column("time", lambda row: local_time(row.time), width=19),
    Column("camera", lambda row: row.camera_id),
    Column("decision", lambda row: row.decision, width=8),
    Column("distance", lambda row: distance_text(row.distance), width=8, right=True),
    Column("note", _visitor_note),
)


def cmd_visitors(args: argparse.Namespace, settings: Settings) -> int:
    """The kept face crops of unknown, spoof and denied attempts, newest first."""
    with open_site(settings, args, read_only=True) as site:
        rows = site.visitors.list(limit=min(args.limit, MAX_PAGE))
    keeping = "on" if settings.visitors.keep else "off ([visitors] keep = true turns it on)"
    empty = f"no visitor crops kept (keeping is {keeping})"
    show(rows, VISITOR_COLUMNS, as_json=args.json, record=_visitor_dict, empty=empty)
    return 0


def cmd_visitors_show(args: argparse.Namespace, settings: Settings) -> int:
    """One kept crop: its attempt; with ``--out FILE`` the JPEG written there (atomically,
    only to a regular file, as ``export`` writes) and recorded as an ``export`` event."""
    with open_site(settings, args, read_only=True) as site:
        if args.out is None:
            row = site.visitors.get(args.id)
        else:
            row = site.visitors.save_crop(args.id, Path(args.out))
    if args.out is not None:
        record_export(settings, f"{row.describe()}: face crop to {Path(args.out)}")
    if args.json:
        print_json(_visitor_dict(row))
    else:
        print(f"visitor {row.id}: {row.decision} at {row.camera_id}, {local_time(row.time)}")
        print(f"  attempt {row.attempt_id}, distance {distance_text(row.distance)}")
        print(f"  {_visitor_note(row)}; crop {row.width}x{row.height} px, status {row.status}")
    if args.out is not None:
        note(f"wrote the face crop of visitor {row.id} to {args.out}")
    return 0


def cmd_visitors_enrol(args: argparse.Namespace, settings: Settings) -> int:
    """Enrol a person from a kept crop, with every check of ``enroll``."""
    name = validate_name(args.name)
    with open_site(settings, args) as site:
        site.visitors.get(args.id)  # an unknown id fails before the models load
        result = site.visitors.enrol(args.id, name, force=args.force)
    print(f"enrolled {result.name} from visitor {args.id}: {result.summary()}")
    print_template_notes(result, settings.liveness_threshold, labelled=False)
    if result.duplicates:
        print(f"this crop was already enrolled for {result.name}, not stored again")
    return 0


def cmd_visitors_dismiss(args: argparse.Namespace, settings: Settings) -> int:
    """Delete a kept crop for good; its attempt stays in the log."""
    with open_site(settings, args) as site:
        row = site.visitors.dismiss(args.id)
    print(f"dismissed visitor {row.id}: its face crop is deleted; attempt {row.attempt_id} stays")
    return 0


def cmd_visitors_expire(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the crops older than the retention (the console does it hourly by itself)."""
    days = settings.visitors.retention_days
    with open_site(settings, args) as site:
        count = site.visitors.expire()
    print(f"expired {plural(count, 'visitor crop')} older than {days:g} days")
    return 0


def register(commands: Commands) -> None:
    """Add ``visitors`` and its commands."""
    visitors = command(
        commands,
        "visitors",
        cmd_visitors,
        "the kept face crops of unknown visitors, newest first",
        "The face crops the console keeps of unknown, spoof and denied attempts ([visitors] "
        "keep = true), newest first: enrol one as a person or dismiss it. Crops are deleted "
        "once older than [visitors] retention_days.",
    )
    visitors.add_argument(
        "--limit",
        metavar="N",
        type=positive_int,
        default=DEFAULT_LOG_LIMIT,
        help=f"at most this many (default {DEFAULT_LOG_LIMIT})",
    )
    add_json(visitors)
    visitor_commands = visitors.add_subparsers(
        dest="visitors_command", title="commands", metavar="COMMAND"
    )

    def visitor_command(name: str, handler: Callable[..., int], help: str, **options: Any):
        sub = command(visitor_commands, name, handler, help, **options)
        sub.add_argument("id", metavar="ID", type=positive_int, help="the visitor's id")
        return sub

    show = visitor_command("show", cmd_visitors_show, "one kept crop; --out writes the JPEG")
    show.add_argument("--out", metavar="FILE", help="write the face crop (JPEG) to this file")
    add_json(show)
    enrol = visitor_command(
        "enrol", cmd_visitors_enrol, "enrol a person from a kept crop", aliases=["enroll"]
    )
    enrol.add_argument("name", metavar="NAME")
    enrol.add_argument(
        "--force",
        action="store_true",
        help="enrol a face below the quality bar, or one that matches another person",
    )
    visitor_command("dismiss", cmd_visitors_dismiss, "delete a kept crop (the attempt stays)")
    command(
        visitor_commands,
        "expire",
        cmd_visitors_expire,
        "delete the crops older than [visitors] retention_days",
    )
