"""CSV export of the attempt log.

RFC 4180 (``csv`` module, ``\\r\\n`` line ends), a header row, one row per attempt, oldest first,
times in ISO-8601 UTC with offset (``2026-11-28T14:02:45.123456+00:00``). Streams: rows are
fetched in chunks and written as they come, so memory stays flat on millions of rows.

Text cells are neutralised against CSV (formula) injection as OWASP recommends: a cell that
begins with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'`` so
spreadsheets show it as text instead of evaluating it. Numeric cells are ours (distances ≥ 0,
integer pixels) and are written as numbers; empty values as empty cells.

A file export only ever creates or replaces a regular file (:func:`check_export_target`):
never a device, FIFO or socket (as root, ``export /dev/null`` would otherwise replace the
system's), and never whatever a symbolic link points to.
"""

from __future__ import annotations

import csv
import operator
import stat
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gatekeeper.errors import GatekeeperError, UsageError
from gatekeeper.store.attempts import AttemptFilter
from gatekeeper.store.models import ATTEMPT_COLUMNS

if TYPE_CHECKING:
    from gatekeeper.store.store import Store

#: The exported columns, in CSV order: ``(place in the CSV, place in ATTEMPT_FIELDS, header,
#: neutralised)``.
_EXPORTED = sorted(
    (column.csv[0], index, column.csv[1], column.text)
    for index, column in enumerate(ATTEMPT_COLUMNS)
    if column.csv is not None
)
HEADER = tuple(header for _, _, header, _ in _EXPORTED)
#: The stored values of a CSV row, in order, and which of its cells are neutralised.
_CELLS = operator.itemgetter(*(index for _, index, _, _ in _EXPORTED))
_TEXT_CELLS = tuple(cell for cell, (_, _, _, text) in enumerate(_EXPORTED) if text)

#: First characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_STARTS = "=+-@\t\r"


def check_export_target(target: Path) -> None:
    """Refuse an export file name that exists and is not a regular file: a symbolic link (even
    to a regular file: an export never follows one silently), a directory, a device, FIFO or
    socket. :class:`UsageError` naming what ``target`` is; a name that does not exist is fine.
    """
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise GatekeeperError(f"cannot write {target}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise UsageError(
            f"{target}: is a symbolic link; export does not write through links "
            "(name the file itself)"
        )
    if stat.S_ISDIR(mode):
        raise UsageError(f"{target}: is a directory, expected a file name")
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"{target}: is not a regular file (a device, FIFO or socket); "
            "export only creates or replaces regular files"
        )


def neutralise(text: str | None) -> str | None:
    """A text cell safe to open in a spreadsheet: ``'`` prepended to formula-like text."""
    return "'" + text if text and text[0] in FORMULA_STARTS else text


def describe(filter: AttemptFilter) -> str:
    """The filter's set fields as ``key=value`` text, or ``all attempts``."""
    chosen = [
        f"{field.name}={value}"
        for field in fields(filter)
        if (value := getattr(filter, field.name)) is not None
    ]
    return ", ".join(chosen) if chosen else "all attempts"


def export_detail(count: int, filter: AttemptFilter, destination: str | None) -> str:
    """The detail of the ``export`` admin event for ``count`` attempts written to
    ``destination`` (a file name, or None)."""
    target = f" to {destination}" if destination is not None else ""
    return f"{count} attempts{target} ({describe(filter)})"


def export_csv(
    store: Store, filter: AttemptFilter, out: TextIO, *, destination: str | None = None
) -> int:
    """Write the attempts matching ``filter`` to ``out`` as CSV; returns the number of rows
    (header excluded). Records an ``export`` admin event naming ``destination`` (default: the
    name of the file ``out`` writes to, if it has one), unless the store is read-only: then the
    caller records ``export_detail`` where it can.

    Open ``out`` with ``newline=""`` (the writer emits ``\\r\\n`` itself) and
    ``encoding="utf-8"``.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    count = 0
    for row in store.iter_attempt_values(filter):
        cells = list(_CELLS(row))
        for cell in _TEXT_CELLS:
            cells[cell] = neutralise(cells[cell])
        writer.writerow(cells)
        count += 1
    if not store.read_only:
        if destination is None:
            destination = getattr(out, "name", None)
        named = destination if isinstance(destination, str) else None
        store.log_admin_event("export", export_detail(count, filter, named))
    return count
