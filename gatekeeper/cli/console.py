"""``gatekeeper console`` (the default with no command) and the console's flags."""

from __future__ import annotations

import argparse
from typing import Any

from gatekeeper.cli.args import Commands, command, positive_float, positive_int
from gatekeeper.cli.opening import open_site
from gatekeeper.config import Settings
from gatekeeper.errors import GatekeeperError


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    """Open the Textual console."""
    try:
        from gatekeeper.tui.app import run_console
    except ImportError as exc:
        raise GatekeeperError(f"the console cannot start: {exc}") from None
    return run_console(settings, open_site(settings, args, console=True)) or 0


def add_console_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """The console's flags; ``default`` is None on the main parser and ``SUPPRESS`` on the
    ``console`` subcommand, so a flag given before the command is not reset after it."""
    group = parser.add_argument_group("console options")
    group.add_argument(
        "--camera",
        metavar="SRC",
        default=default,
        help="camera source: device index, stream URL, video file or image folder",
    )
    group.add_argument(
        "--camera-id",
        metavar="ID",
        default=default,
        help="camera id recorded with attempts (default: the host name)",
    )
    group.add_argument(
        "--fps",
        type=positive_float,
        default=default,
        help="frames per second to replay a folder or file at",
    )
    group.add_argument(
        "--loop",
        action="store_true",
        default=default,
        help="replay a video file or folder over and over",
    )
    group.add_argument("--mute", action="store_true", default=default, help="no spoken greeting")
    group.add_argument(
        "--votes",
        metavar="K",
        type=positive_int,
        default=default,
        help="frames that must agree before access is granted",
    )
    group.add_argument(
        "--window", metavar="N", type=positive_int, default=default, help="over the last N frames"
    )
    group.add_argument(
        "--interval",
        metavar="S",
        type=positive_float,
        default=default,
        help="seconds before greeting the same person again",
    )


def register(commands: Commands) -> None:
    """Add ``console``, with the console's flags."""
    console = command(commands, "console", cmd_console, "open the Textual console (the default)")
    add_console_options(console, argparse.SUPPRESS)
