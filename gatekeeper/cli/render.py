"""What commands print: JSON on stdout, tables sized to their cells, and the cells' formats.

A listing command ends in :func:`show`: JSON with ``--json`` (a list, ``[]`` when empty), else
one line when there is nothing to list, else a table. A table's columns are two spaces apart;
a column is as wide as its title and widest cell unless it has a fixed ``width`` (a cell is
padded to it, never cut), and the last column is not padded. Widths count characters, so a
name in a wide script (``王小明``) takes more columns on a terminal than it is padded for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from gatekeeper.decision import DLIB_MODEL, FACENET_MODEL, SFACE_MODEL

#: Short names of the encoders in messages, by model id.
ENCODER_NAMES = {DLIB_MODEL: "dlib", FACENET_MODEL: "FaceNet", SFACE_MODEL: "SFace"}

Row = TypeVar("Row")


@dataclass(frozen=True)
class Column(Generic[Row]):
    """A table column: its ``title``, the ``cell`` text of a row, a fixed ``width`` (``None``:
    as wide as the title and the widest cell), and whether it is aligned ``right``."""

    title: str
    cell: Callable[[Row], str]
    width: int | None = None
    right: bool = False


def table(columns: Sequence[Column[Row]], rows: Sequence[Row]) -> list[str]:
    """The lines of a table: the titles, then a line per row."""
    lines = [[c.title for c in columns], *([c.cell(row) for c in columns] for row in rows)]
    widths = [
        max(len(line[i]) for line in lines) if c.width is None else c.width
        for i, c in enumerate(columns)
    ]

    def join(cells: list[str]) -> str:
        *padded, last = cells
        aligned = zip(padded, columns, widths, strict=False)  # the last column is not padded
        return "  ".join([*(f"{t:{'>' if c.right else '<'}{w}}" for t, c, w in aligned), last])

    return [join(cells) for cells in lines]


def show(
    rows: Sequence[Row],
    columns: Sequence[Column[Row]],
    *,
    as_json: bool,
    record: Callable[[Row], Any],
    empty: str,
) -> None:
    """Print ``rows``: as a JSON list of their ``record`` with ``as_json``, else the line
    ``empty`` when there are none, else as a table of ``columns``."""
    if as_json:
        print_json([record(row) for row in rows])
    elif not rows:
        print(empty)
    else:
        for line in table(columns, rows):
            print(line)


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def local_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def distance_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"
