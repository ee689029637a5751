"""``python -m gatekeeper.tui [--home H] [--camera SPEC] [--config FILE] [--mute] [--loop]``:
the console without the full command line (used by ``scripts/tmux_console_check.sh``)."""

from __future__ import annotations

import argparse
import sys

from gatekeeper.config import load_settings
from gatekeeper.errors import GatekeeperError
from gatekeeper.tui.app import run_console


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatekeeper.tui", description=__doc__)
    parser.add_argument("--home", help="folder holding weights/, images/ and data/")
    parser.add_argument("--camera", help="device index, stream URL, video file or image folder")
    parser.add_argument("--config", help="TOML settings file")
    parser.add_argument("--mute", action="store_true", default=None, help="no spoken greeting")
    parser.add_argument("--loop", action="store_true", default=None, help="replay a file forever")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(
            args.config, home=args.home, camera=args.camera, mute=args.mute, loop=args.loop
        )
        return run_console(settings, args)
    except GatekeeperError as exc:
        print(f"gatekeeper: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
