"""The ``gatekeeper`` command line: argument parsing and one thin function per command.

Every command is a wrapper over :class:`gatekeeper.site.Site` (or
:mod:`gatekeeper.evaluate`); the logic lives there, usable from Python. Listing and lookup
commands take ``--json`` and then print JSON on stdout, nothing else.

Errors: a :class:`~gatekeeper.errors.GatekeeperError` is printed as one line,
``gatekeeper: <message>``, on stderr, and the exit status is its ``exit_code`` (2 for usage
errors — argparse's included — and 1 for failures); Ctrl-C exits with 130. ``audit verify``
adds 3 (a signed head verified without the key), 4 (rolled back) and 5 (diverged from a kept
head): :func:`gatekeeper.cli.audit.cmd_audit_verify`. Arguments are checked before the
recognition engine is loaded, and commands that need no faces (``log``, ``export``,
``people``, ``threshold``...) never load it. No command imports TensorFlow once the model
cache is built (``vision/runtime.py``); building it, on first use, says so on stderr.

Times: ``--since``/``--until`` take ISO-8601 dates or date-times. One without a UTC offset is
local time (converted to UTC). ``--since`` is inclusive, ``--until`` exclusive; a bare date in
``--until`` means the end of that day, so ``--since 2026-11-28 --until 2026-11-28`` is that day.
Printed times are local; JSON and CSV times are UTC ISO-8601.

Environment: ``GATEKEEPER_HOME`` (the home folder), ``GATEKEEPER_BUSY_TIMEOUT`` (seconds a write
waits for another process's database lock, default 5), ``GATEKEEPER_DEBUG=1`` (show the
traceback of an unexpected internal error instead of one line).

The package: this module is the entry point (the parser's global options, the settings, the
error → exit-status mapping); ``args`` the argument types; ``render`` what commands print
(JSON and tables); ``output`` standard output and progress; ``opening`` how a command opens
the site; then one module per command group, each declaring its arguments
(``register(commands)``) beside its handlers; ``checks`` holds ``doctor``'s diagnostics.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from gatekeeper.cli import (
    audit,
    console,
    db,
    doctor,
    evaluate,
    log,
    models,
    people,
    recognition,
    schedule,
    visitors,
)
from gatekeeper.cli.args import non_negative_float
from gatekeeper.cli.console import add_console_options, cmd_console
from gatekeeper.cli.output import PROG, GuardedOutput, OutputError, note, silence_stdout
from gatekeeper.config import Settings, load_settings
from gatekeeper.errors import GatekeeperError, UsageError, not_also_raised

#: Environment variable: when set to 1, an unexpected internal error shows its traceback.
DEBUG_ENV = "GATEKEEPER_DEBUG"
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

EXAMPLES = """\
examples:
  gatekeeper import images/                   enrol everyone: file stem = name
  gatekeeper enroll "José Núñez" a.jpg b.jpg  enrol one person from two photos
  gatekeeper identify door.jpg --json         who is there (recorded in the log)
  gatekeeper log --since 2026-11-28 --decision granted
  gatekeeper export access.csv --person "José Núñez"
  gatekeeper evaluate lfw/pairs.txt --images lfw/ --plot distances.png
  gatekeeper remove "José Núñez" --yes        erase encodings and photos, keep the log
  gatekeeper schedule set staff "Mon-Fri 07:00-19:00" "Sat 09:00-13:00"
  gatekeeper schedule assign "José Núñez" staff   José may enter only then
  gatekeeper --camera 0 --votes 3 --window 5  open the console on camera 0

Run 'gatekeeper COMMAND --help' for a command's options.
"""
#: The command groups, in the order ``--help`` lists their commands.
GROUPS = (
    console,
    people,
    recognition,
    log,
    evaluate,
    visitors,
    models,
    audit,
    schedule,
    db,
    doctor,
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are ``UsageError``: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The ``gatekeeper`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Face-recognition access control. With no command, opens the console.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="folder holding weights/, images/ and data/ "
        "(default: $GATEKEEPER_HOME or the current directory)",
    )
    parser.add_argument(
        "--db", metavar="PATH|URL", help="the database (default: HOME/data/gatekeeper.db)"
    )
    parser.add_argument("--config", metavar="FILE", help="a TOML settings file")
    parser.add_argument(
        "--busy-timeout",
        metavar="S",
        type=non_negative_float,
        help="seconds a write waits for another process's database lock "
        "(default: $GATEKEEPER_BUSY_TIMEOUT or 5)",
    )
    add_console_options(parser, None)
    parser.set_defaults(handler=cmd_console)
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")

    for group in GROUPS:
        group.register(commands)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings: defaults < ``--config`` file < environment < flags."""
    return load_settings(
        args.config,
        guard_secrets=getattr(args, "guard_secrets", True),
        home=args.home,
        busy_timeout_s=args.busy_timeout,
        db=args.db,
        camera=args.camera,
        camera_id=args.camera_id,
        fps=args.fps,
        loop=args.loop,
        mute=args.mute,
        votes_required=args.votes,
        votes_window=args.window,
        recognition_interval_s=args.interval,
    )


def run() -> NoReturn:
    """The ``gatekeeper`` program and ``python -m gatekeeper``: :func:`main`, then exit with its
    status. Once TensorFlow is loaded (a run that built the model cache), tearing the
    interpreter down takes 1–2 s more (its native thread pools and graphs). So then, with
    every Gatekeeper file already closed by :func:`main`, the logs and standard streams are
    flushed and the process ends at once."""
    status = main()
    if "tensorflow" not in sys.modules:
        sys.exit(status)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 usage, 130 Ctrl-C)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
        for handler in logging.getLogger().handlers:  # the error itself is printed below
            handler.addFilter(not_also_raised)
    stdout, sys.stdout = sys.stdout, GuardedOutput(sys.stdout)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return exc.code if isinstance(exc.code, int) else 0
        status = args.handler(args, settings_from(args))
        sys.stdout.flush()  # a write error is this command's, not the interpreter's exit's
        return status
    except GatekeeperError as exc:
        if isinstance(exc, OutputError):
            silence_stdout()
        note(f"{PROG}: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        note(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return 1
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        note(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} "
            f"({Path(where.filename).name}:{where.lineno}; set {DEBUG_ENV}=1 for the traceback)"
        )
        return 1
    finally:
        sys.stdout = stdout
