"""How a command opens the site: the service with its store (read-only for commands that only
look) and its engine, and the ``export`` event of what was read through a read-only store.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gatekeeper.anchor import start_publisher
from gatekeeper.cli.output import PROG, note
from gatekeeper.config import Settings
from gatekeeper.errors import GatekeeperError
from gatekeeper.service import Gatekeeper
from gatekeeper.store import open_store

#: Makes the recognition engine for a command; ``None`` (the default) lets the service load it
#: lazily on first use. Tests set it to share one already-loaded engine between commands.
engine_factory: Callable[[Settings], Any] | None = None


def open_site(
    settings: Settings, args: argparse.Namespace, *, read_only: bool = False, console: bool = False
) -> Gatekeeper:
    """The service for ``settings``: its store opened (created if missing), its engine from
    :data:`engine_factory` if set, else loaded lazily, telling the building of its model cache
    on stderr (not for the ``console``, which shows it on screen).

    ``read_only`` (commands that only look: ``people``, ``log``, ``export``, ``audit verify``,
    ``doctor``) opens the database with SQLite's ``mode=ro`` instead: nothing is created,
    migrated or repaired, a missing or empty database is an error, and a write-protected
    evidence copy can be read."""
    engine = engine_factory(settings) if engine_factory is not None else None
    if not read_only:
        notice = None if console else _loading_notice
        return Gatekeeper(settings, engine=engine, on_engine_load=notice)
    store = open_store(
        settings.database,
        images_dir=settings.images_dir,
        busy_timeout_s=settings.busy_timeout_s,
        audit_key=settings.audit_key,
        read_only=True,
    )
    return Gatekeeper(settings, store=store, engine=engine)


def _loading_notice(message: str) -> None:
    """Tell the user what the engine is doing while it builds its model cache (first use: a
    download, conversions, compiling; a minute or two), on stderr."""
    note(f"{PROG}: {message}")


def record_export(settings: Settings, detail: str) -> None:
    """Chain the ``export`` admin event of an export read through a read-only store, in the
    existing database; where it cannot be written (an evidence copy, say), warn instead."""
    try:
        with open_store(
            settings.database,
            images_dir=settings.images_dir,
            create=False,
            busy_timeout_s=settings.busy_timeout_s,
            audit_key=settings.audit_key,
        ) as store:
            publisher = start_publisher(settings, store)
            try:
                store.log_admin_event("export", detail)
            finally:
                if publisher is not None:
                    publisher.close()
    except GatekeeperError as exc:
        note(f"warning: the export is not recorded in the audit log: {exc}")
