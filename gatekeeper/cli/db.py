"""``db copy``: the whole site moved into a new database and verified there."""

from __future__ import annotations

import argparse
import sys

from gatekeeper.cli.args import Commands, command, command_group
from gatekeeper.config import Settings
from gatekeeper.site.moving import copy_database, database_name


def cmd_db_copy(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the site at SOURCE into the new database TARGET and verify the chain there;
    progress on a terminal, one summary line at the end."""
    source = database_name(args.source, settings)
    target = database_name(args.target, settings)
    shown = sys.stderr.isatty()

    def progress(table: str, rows: int) -> None:
        if shown:
            print(f"\r{table}: {rows:,} rows", end="", file=sys.stderr, flush=True)

    report = copy_database(settings, args.source, args.target, progress=progress)
    if shown:
        print(file=sys.stderr)
    counts = ", ".join(f"{rows:,} {table}" for table, rows in report.rows.items() if rows)
    print(f"copied {source} to {target}: {counts}")
    print(f"on the target: {report.chain.summary()}")
    return 0


def register(commands: Commands) -> None:
    """Add ``db`` and its ``copy``."""
    db_commands = command_group(commands, "db", "the site's database: move it", needs="copy")
    db_copy = command(
        db_commands,
        "copy",
        cmd_db_copy,
        "copy the whole site into a new, empty database and verify it there",
        (
            "Copy people, schedules, encodings, kept photos' records, visitor crops, attempts, "
            "admin events and the audit chain head from SOURCE into TARGET (a SQLite file that "
            "does not exist yet, or a PostgreSQL database with no tables), then verify the "
            "chain on TARGET. Each is a path, sqlite:///path or postgresql://user@host/db. "
            "The photo files stay where they are."
        ),
    )
    db_copy.add_argument("source", metavar="SOURCE")
    db_copy.add_argument("target", metavar="TARGET")
