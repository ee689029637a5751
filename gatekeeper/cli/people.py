"""Enrolment and the people: ``enroll``, ``import``, ``people``, ``remove``, ``activate``,
``deactivate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gatekeeper.cli.args import Commands, add_json, command
from gatekeeper.cli.opening import open_site
from gatekeeper.cli.output import ProgressBar, confirm, note
from gatekeeper.cli.render import Column, local_time, print_json, show
from gatekeeper.cli.schedule import validity_dict
from gatekeeper.config import Settings
from gatekeeper.errors import NotFoundError, UsageError
from gatekeeper.schedule import Access
from gatekeeper.site import (
    AccessNow,
    EnrolResult,
    PersonInfo,
    describe_added,
    plural,
    validate_name,
)


def print_template_notes(result: EnrolResult, threshold: float, *, labelled: bool) -> None:
    """One line per low-quality template of an enrolment and per photo whose live score is
    below ``threshold``, naming its photo when ``labelled`` (a kept visitor crop is one
    picture: nothing to name)."""
    for label, reason in result.low_quality:
        photo = f" {label}" if labelled else ""
        print(f"  low-quality template{photo}: {reason} (matched under a stricter rule)")
    for label, score in result.live_scores:
        if score < threshold:
            photo = f" {label}" if labelled else ""
            print(
                f"  live score{photo}: {score:.2f} < {threshold:.2f}, a photo to the liveness "
                "model (recorded; a photo file is never refused)"
            )


def cmd_enroll(args: argparse.Namespace, settings: Settings) -> int:
    """Enrol a person from one or more photos, one face each."""
    name = validate_name(args.name)
    with open_site(settings, args) as site:
        result = site.people.enrol(name, args.images, largest=args.largest, force=args.force)
    print(f"enrolled {result.name}: {result.summary()}")
    print_template_notes(result, settings.liveness_threshold, labelled=True)
    if result.duplicates:
        print(
            f"{plural(result.duplicates, 'image')} already enrolled for {result.name}, "
            "not stored again"
        )
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Enrol everyone in a folder: file stem (or sub-folder name) = identity."""
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a directory")
    with open_site(settings, args) as site:
        report = site.people.import_folder(folder, exclude=args.exclude, progress=ProgressBar())
    if args.json:
        print_json(
            {
                "enrolled": report.enrolled,
                "duplicates": report.duplicates,
                "skipped": [{"path": p, "reason": r} for p, r in report.skipped],
                "low_quality": [{"path": p, "reason": r} for p, r in report.low_quality],
                "whole_image": report.whole_image,
                "live_scores": [{"path": p, "live_score": x} for p, x in report.live_scores],
            }
        )
        return 0
    added = describe_added(sum(report.enrolled.values()), report.encodings)
    print(
        f"imported {folder}: {added} for "
        f"{plural(len(report.enrolled), 'person')}, {len(report.duplicates)} already enrolled, "
        f"{len(report.skipped)} skipped, {len(report.low_quality)} low-quality "
        f"({len(report.whole_image)} whole-image)"
    )
    for name, count in sorted(report.enrolled.items()):
        print(f"  enrolled  {name}: {plural(count, 'photo')}")
    for path in report.whole_image:
        print(f"  whole image {path}: no face detected, the whole crop was taken as the face")
    for path, reason in report.low_quality:
        print(f"  low-quality {path}: {reason}; matched under a stricter rule")
    low_scores = [(p, x) for p, x in report.live_scores if x < settings.liveness_threshold]
    for path, score in low_scores:
        print(f"  live score {path}: {score:.2f}, a photo to the liveness model (recorded)")
    for path in report.duplicates:
        print(f"  duplicate {path}: already enrolled, not stored again")
    for path, reason in report.skipped:
        print(f"  skipped   {path}: {reason}")
    return 0


def _access_dict(now: AccessNow) -> dict[str, Any]:
    return {
        "schedule": now.access.schedule,
        **validity_dict(now.access),
        "may_enter_now": now.may_enter,
        "reason": now.reason,
    }


def _valid_cell(access: Access) -> str:
    """Validity dates in a table cell: ``2026-12-01..2027-01-31``, open ends left empty."""
    if access.valid_from is None and access.valid_until is None:
        return "-"
    return "..".join(
        "" if day is None else day.isoformat() for day in (access.valid_from, access.valid_until)
    )


def _person_dict(row: tuple[PersonInfo, AccessNow]) -> dict[str, Any]:
    p, now = row
    return {
        "name": p.name,
        "active": p.active,
        "encodings": p.encodings,
        "photos": p.photos,
        "created": p.created.isoformat(),
        "last_seen": None if p.last_seen is None else p.last_seen.isoformat(),
        "quality": p.quality,
        **_access_dict(now),
    }


#: ``people``'s table, of (person, access now) rows.
PEOPLE_COLUMNS: tuple[Column[tuple[PersonInfo, AccessNow]], ...] = (
    Column("name", lambda row: row[0].name),
    Column("active", lambda row: "yes" if row[0].active else "no", width=6),
    Column("encodings", lambda row: str(row[0].encodings), width=9, right=True),
    Column("photos", lambda row: str(row[0].photos), width=6, right=True),
    Column("quality", lambda row: row[0].quality, width=10),
    Column("last seen", lambda row: local_time(row[0].last_seen), width=19),
    Column("schedule", lambda row: row[1].access.schedule or "-"),
    Column("valid", lambda row: _valid_cell(row[1].access)),
    Column("may enter now", lambda row: "yes" if row[1].may_enter else f"no: {row[1].reason}"),
)


def cmd_people(args: argparse.Namespace, settings: Settings) -> int:
    """List the enrolled people, with their access and whether they may enter now."""
    with open_site(settings, args, read_only=True) as site:
        people = site.people.list()
        access = site.schedules.access_now(people)
    rows = [(p, access[p.name]) for p in people]
    show(rows, PEOPLE_COLUMNS, as_json=args.json, record=_person_dict, empty="nobody is enrolled")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    """Erase a person's biometric data (encodings, kept photos, visitor crops); their attempts
    stay logged."""
    name = validate_name(args.name)
    if not args.yes and not sys.stdin.isatty():
        raise UsageError(f"not removing {name} without confirmation: use --yes (stdin is no TTY)")
    with open_site(settings, args) as site:
        if site.people.get(name) is None:
            raise NotFoundError(f"no such person: {name}")
        if not args.yes and not confirm(
            f"Erase the encodings, photos and visitor crops of {name}? "
            "Their attempts stay in the log."
        ):
            note("nothing removed")
            return 1
        report = site.people.remove(name)
    print(
        f"removed {report.name}: erased {plural(report.encodings_deleted, 'encoding')}, "
        f"{plural(report.photos_deleted, 'photo')} and "
        f"{plural(report.visitors_deleted, 'visitor crop')}; "
        f"{plural(report.attempts_kept, 'attempt')} kept in the log"
    )
    for path in report.leftover_files:
        note(f"warning: could not delete {path}: remove it by hand")
    return 1 if report.leftover_files else 0


def cmd_activate(args: argparse.Namespace, settings: Settings) -> int:
    """(De)activate a person: inactive people stay enrolled but are denied."""
    name = validate_name(args.name)
    active = args.command == "activate"
    with open_site(settings, args) as site:
        site.people.set_active(name, active)
    print(f"{name} is {'active' if active else 'inactive (recognised but denied)'}")
    return 0


def register(commands: Commands) -> None:
    """Add ``enroll``, ``import``, ``people``, ``remove``, ``activate`` and ``deactivate``."""
    enroll = command(
        commands, "enroll", cmd_enroll, "enrol a person from photos with one face each"
    )
    enroll.add_argument("name", metavar="NAME")
    enroll.add_argument("images", metavar="IMAGE", nargs="+")
    enroll.add_argument(
        "--largest", action="store_true", help="use the largest face of a photo with several"
    )
    enroll.add_argument(
        "--force",
        action="store_true",
        help="enrol a face below the quality bar, or one that matches another person",
    )

    imp = command(
        commands, "import", cmd_import, "enrol everyone in a folder (file stem = identity)"
    )
    imp.add_argument("folder", metavar="DIR")
    imp.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        default=[],
        help="leave out files or folders whose name matches (repeatable), e.g. 'camera_*'",
    )
    add_json(imp)

    people = command(commands, "people", cmd_people, "list the enrolled people")
    add_json(people)

    remove = command(commands, "remove", cmd_remove, "erase a person's encodings and photos")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    for name, verb in (("activate", "grant"), ("deactivate", "deny")):
        sub = command(commands, name, cmd_activate, f"{verb} a person access (stays enrolled)")
        sub.add_argument("name", metavar="NAME")
