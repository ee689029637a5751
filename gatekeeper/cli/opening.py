"""How a command opens the site: its store (read-only for commands that only look) and its
engine, and the ``export`` event of what was read through a read-only site.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gatekeeper.cli.output import PROG, note
from gatekeeper.config import Settings
from gatekeeper.errors import GatekeeperError
from gatekeeper.site import Site
from gatekeeper.site.core import record_export as record_export_event

#: Makes the recognition engine for a command; ``None`` (the default) lets the site load it
#: lazily on first use. Tests set it to share one already-loaded engine between commands.
engine_factory: Callable[[Settings], Any] | None = None


def open_site(
    settings: Settings, args: argparse.Namespace, *, read_only: bool = False, console: bool = False
) -> Site:
    """The site of ``settings``: its store opened (created if missing), its engine from
    :data:`engine_factory` if set, else loaded lazily, telling the building of its model cache
    on stderr (not for the ``console``, which shows it on screen).

    ``read_only`` (commands that only look: ``people``, ``log``, ``export``, ``audit verify``,
    ``doctor``) opens the database with SQLite's ``mode=ro`` instead: nothing is created,
    migrated or repaired, a missing or empty database is an error, and a write-protected
    evidence copy can be read."""
    engine = engine_factory(settings) if engine_factory is not None else None
    notice = None if console or read_only else _loading_notice
    return Site.open(settings, read_only=read_only, engine=engine, on_engine_load=notice)


def _loading_notice(message: str) -> None:
    """Tell the user what the engine is doing while it builds its model cache (first use: a
    download, conversions, compiling; a minute or two), on stderr."""
    note(f"{PROG}: {message}")


def record_export(settings: Settings, detail: str) -> None:
    """Chain the ``export`` admin event of an export read through a read-only store, in the
    existing database; where it cannot be written (an evidence copy, say), warn instead."""
    try:
        record_export_event(settings, detail)
    except GatekeeperError as exc:
        note(f"warning: the export is not recorded in the audit log: {exc}")
