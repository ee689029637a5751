"""A site's database as a whole, for ``db copy``: how a database URL is shown, and the site
moved into a new database and verified there (:mod:`gatekeeper.store.copy`)."""

from __future__ import annotations

from collections.abc import Callable

from gatekeeper.config import Settings
from gatekeeper.store.backends import parse_database
from gatekeeper.store.copy import CopyReport, copy_site


def database_name(database: str, settings: Settings) -> str:
    """``database`` (a path or URL) as messages show it: the path, or the URL with its
    password masked; a bad one raises ``UsageError``."""
    return parse_database(database, busy_timeout_s=settings.busy_timeout_s).display


def copy_database(
    settings: Settings,
    source: str,
    target: str,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy the site at ``source`` into the new database ``target`` with the site's photos
    folder, audit key and busy timeout, and verify the chain there (see
    :func:`gatekeeper.store.copy.copy_site`); ``progress(table, rows)`` as it goes."""
    return copy_site(
        source,
        target,
        images_dir=settings.images_dir,
        audit_key=settings.audit_key,
        busy_timeout_s=settings.busy_timeout_s,
        progress=progress,
    )
