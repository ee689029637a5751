"""Argument types and the arguments several commands share; a type's error becomes a usage
error (one line, exit 2).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from gatekeeper.config import Settings
from gatekeeper.decision import validate_threshold
from gatekeeper.errors import UsageError
from gatekeeper.schedule import parse_date
from gatekeeper.site import parse_time

# Argument types (their errors become usage errors, exit 2).


def _number(text: str, *, zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
        kind = "zero or more" if zero else "a positive number"
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _number(text, zero=False)


def non_negative_float(text: str) -> float:
    return _number(text, zero=True)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def threshold_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return validate_threshold(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def calendar_date(text: str) -> date:
    try:
        return parse_date(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def since_time(text: str) -> datetime:
    """``--since``: from this moment on."""
    return _moment(text, end_of_day=False, example="2026-11-28T09:30")


def until_time(text: str) -> datetime:
    """``--until``: before this moment (a bare date: through that day)."""
    return _moment(text, end_of_day=True, example="2026-11-28T18:00")


def _moment(text: str, *, end_of_day: bool, example: str) -> datetime:
    try:
        return parse_time(text, end_of_day=end_of_day)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 date or date-time: {text!r} (e.g. 2026-11-28 or {example})"
        ) from None


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


#: Rows ``log`` and ``visitors`` print when ``--limit`` is not given.
DEFAULT_LOG_LIMIT = 50


#: A parser's commands, to which a command group adds its own (``add_subparsers``' result).
Commands = argparse._SubParsersAction


def command(
    commands: Commands,
    name: str,
    handler: Callable[..., int],
    help: str,
    description: str | None = None,
    **options: Any,
) -> argparse.ArgumentParser:
    """Add the command ``name`` to ``commands``, run by ``handler``; its description is ``help``
    unless one is given."""
    sub = commands.add_parser(name, help=help, description=description or help, **options)
    sub.set_defaults(handler=handler)
    return sub


def command_group(commands: Commands, name: str, *texts: str, needs: str) -> Commands:
    """Add the command ``name`` that only holds commands (alone, a usage error saying it
    ``needs`` one of them), with its ``texts`` as :func:`command` takes them (its help, and its
    description when it has one); returns its own ``commands`` to add them to."""

    def usage(args: argparse.Namespace, settings: Settings) -> int:
        raise UsageError(f"{name} needs a command: {needs} (see 'gatekeeper {name} --help')")

    group = command(commands, name, usage, *texts)
    return group.add_subparsers(dest=f"{name}_command", title="commands", metavar="COMMAND")
