"""The access log: ``log`` (newest first) and ``export`` (CSV), filtered alike."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

from gatekeeper.cli.args import (
    DEFAULT_LOG_LIMIT,
    Commands,
    add_json,
    command,
    positive_int,
    since_time,
    until_time,
)
from gatekeeper.cli.opening import open_site, record_export
from gatekeeper.cli.output import note
from gatekeeper.cli.render import Column, distance_text, local_time, show
from gatekeeper.config import Settings
from gatekeeper.site import DECISIONS, MAX_PAGE, AttemptFilter, AttemptRow, export_detail, plural


def _filter(args: argparse.Namespace) -> AttemptFilter:
    return AttemptFilter(
        since=args.since,
        until=args.until,
        person=args.person,
        decision=args.decision,
        camera=args.camera_filter,
    )


def _attempt_dict(row: AttemptRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "time": row.time.isoformat(),
        "camera": row.camera_id,
        "name": row.person_name,
        "distance": row.distance,
        "threshold": row.threshold,
        "decision": row.decision,
        "model_id": row.model_id,
        "box": None if row.box is None else list(row.box),
        "reason": row.reason,
    }


def _who(row: AttemptRow) -> str:
    """The last column of ``log``: who the face matched, and why it was refused."""
    return (row.person_name or "-") + (f" ({row.reason})" if row.reason else "")


#: ``log``'s table.
LOG_COLUMNS: tuple[Column[AttemptRow], ...] = (
    Column("time", lambda row: local_time(row.time), width=19),
    Column("camera", lambda row: row.camera_id),
    Column("decision", lambda row: row.decision, width=8),
    Column("distance", lambda row: distance_text(row.distance), width=8, right=True),
    Column("threshold", lambda row: f"{row.threshold:.3f}", width=9, right=True),
    Column("name", _who),
)


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    """The newest attempts first, filtered."""
    chosen = _filter(args)
    rows: list[AttemptRow] = []
    with open_site(settings, args, read_only=True) as site:
        while len(rows) < args.limit:
            page = site.log.page(
                chosen,
                limit=min(args.limit - len(rows), MAX_PAGE),
                before_id=rows[-1].id if rows else None,
            )
            rows += page
            if not page:
                break
    show(rows, LOG_COLUMNS, as_json=args.json, record=_attempt_dict, empty="no attempts")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """The access log as CSV, to a file (written atomically) or stdout; read through a
    read-only store, then recorded as an ``export`` admin event."""
    chosen = _filter(args)
    with open_site(settings, args, read_only=True) as site:
        if args.file == "-":
            sys.stdout.flush()
            out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
            try:
                count = site.log.export(out, chosen)
            finally:
                out.flush()
                out.detach()
            destination = "<stdout>"
            note(f"exported {plural(count, 'attempt')}")
        else:
            count = site.log.export_file(Path(args.file), chosen)
            destination = str(Path(args.file))
            note(f"exported {plural(count, 'attempt')} to {args.file}")
    record_export(settings, export_detail(count, chosen, destination))
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=since_time,
        metavar="WHEN",
        help="from this ISO date/time on (inclusive; local time if no offset)",
    )
    parser.add_argument(
        "--until",
        type=until_time,
        metavar="WHEN",
        help="before this ISO date/time (a bare date: through that day)",
    )
    parser.add_argument("--person", metavar="NAME", help="only this person")
    parser.add_argument("--decision", choices=DECISIONS, help="only this decision")
    parser.add_argument(
        "--camera",
        dest="camera_filter",
        metavar="ID",
        help="only this camera id (cli for the command line)",
    )


def register(commands: Commands) -> None:
    """Add ``log`` and ``export``."""
    log = command(commands, "log", cmd_log, "show the access log, newest first")
    _add_filters(log)
    log.add_argument(
        "--limit",
        metavar="N",
        type=positive_int,
        default=DEFAULT_LOG_LIMIT,
        help=f"at most this many rows (default {DEFAULT_LOG_LIMIT})",
    )
    add_json(log)

    export = command(commands, "export", cmd_export, "export the access log as CSV")
    export.add_argument("file", metavar="FILE", help="the CSV file, or - for stdout")
    _add_filters(export)
