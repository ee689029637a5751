"""The site's access log (``site.log``): attempts read page by page, exported as CSV, and the
writing of files of personal data (exports, visitor crops)."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, TypeVar

from gatekeeper.errors import GatekeeperError
from gatekeeper.store import AttemptFilter, AttemptRow, NewAttempt, export_csv
from gatekeeper.store.export import check_export_target

if TYPE_CHECKING:
    from gatekeeper.site.core import Site

R = TypeVar("R")


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO-8601 date or date-time as an aware UTC datetime.

    Without a UTC offset the time is local. A bare date is midnight (local) at its start, or
    with ``end_of_day`` at its end (the next midnight). Raises ``ValueError`` for other text.
    """
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
    else:
        moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time())
    return moment.astimezone(UTC)


class Log:
    """The access log (``site.log``)."""

    def __init__(self, site: Site):
        self._site = site

    def page(
        self, filter: AttemptFilter, *, limit: int = 100, before_id: int | None = None
    ) -> list[AttemptRow]:
        """One page of attempts, newest first; ``before_id``: the id of the last row of the
        page before (see :meth:`gatekeeper.store.Store.query_attempts`)."""
        return self._site.store.query_attempts(filter, limit=limit, before_id=before_id)

    def record(self, **attempt: Any) -> int:
        """Record one attempt (the fields of :class:`~gatekeeper.store.NewAttempt`); its id."""
        return self._site.store.record_attempt(**attempt)

    def record_many(self, attempts: Iterable[NewAttempt]) -> int:
        """Record attempts in one transaction; how many."""
        return self._site.store.record_attempts(attempts)

    def export(self, out: TextIO, filter: AttemptFilter, *, destination: str | None = None) -> int:
        """Write the access log as CSV (see :func:`gatekeeper.store.export_csv`); row count."""
        return export_csv(self._site.store, filter, out, destination=destination)

    def export_file(self, target: Path, filter: AttemptFilter) -> int:
        """Export to the file ``target``; the row count. Written as :func:`write_private_file`
        writes: atomically, readable by its owner only (the log holds personal data), and only
        to a regular file."""

        def write(out: BinaryIO) -> int:
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            try:
                return self.export(text, filter, destination=str(target))
            finally:
                text.flush()
                text.detach()

        return write_private_file(target, write)


def write_private_file(target: Path, write: Callable[[BinaryIO], R]) -> R:
    """Write a file of personal data: ``write(out)`` fills a temporary file beside ``target``
    (``out``, open for binary writing),
    which is fsynced, then renamed over ``target``; returns what ``write`` returned. A failure
    leaves no half-written file (and an older one in place). The file is readable by its owner
    only (mode 0600, as ``mkstemp`` creates it). Only a regular file is created or replaced
    (see :func:`~gatekeeper.store.export.check_export_target`), checked before writing and
    again just before the rename."""
    check_export_target(target)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise GatekeeperError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with open(fd, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(fd)
        check_export_target(target)
        os.replace(temporary, target)
    except OSError as exc:
        raise GatekeeperError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return result
