"""The one renderer of listing commands: JSON, the line for nothing to list, and tables sized
to their cells (``gatekeeper.cli.render``)."""

from __future__ import annotations

import json

from gatekeeper.cli.render import Column, show, table

#: Rows of (name, count, note), as a command's rows would be.
COLUMNS = (
    Column("name", lambda row: row[0]),
    Column("count", lambda row: str(row[1]), width=5, right=True),
    Column("kind", lambda row: row[2], width=4),
    Column("note", lambda row: row[3]),
)


def _record(row):
    return {"name": row[0], "count": row[1]}


def _show(capsys, rows, *, as_json=False):
    show(rows, COLUMNS, as_json=as_json, record=_record, empty="nothing here")
    return capsys.readouterr().out


def test_nothing_to_list_prints_the_empty_line_and_json_an_empty_list(capsys):
    assert _show(capsys, []) == "nothing here\n"
    assert _show(capsys, [], as_json=True) == "[]\n"


def test_json_is_the_records_in_row_order_with_non_ascii_as_is(capsys):
    out = _show(capsys, [("José Núñez", 2, "a", ""), ("王小明", 10, "b", "")], as_json=True)
    assert json.loads(out) == [{"name": "José Núñez", "count": 2}, {"name": "王小明", "count": 10}]
    assert '"name": "José Núñez"' in out and '"王小明"' in out  # not \u-escaped
    assert out.startswith('[\n  {\n    "name"')  # indented by two


def test_columns_are_sized_to_title_and_widest_cell_two_spaces_apart(capsys):
    out = _show(capsys, [("Ada", 3, "ok", "first"), ("Bertrand Russell", 12345, "no", "")])
    assert out.splitlines() == [
        "name              count  kind  note",
        "Ada                   3  ok    first",
        "Bertrand Russell  12345  no    ",
    ]


def test_a_fixed_width_pads_but_never_cuts_and_the_last_column_is_not_padded():
    lines = table(COLUMNS, [("Al", 1234567, "long kind", "x"), ("Bo", 1, "k", "a longer note")])
    assert lines == [
        "name  count  kind  note",
        "Al    1234567  long kind  x",
        "Bo        1  k     a longer note",  # a fixed width does not grow with its cells
    ]
    assert not any(line.endswith(" ") for line in lines)


def test_odd_characters_are_cells_not_formats_and_widths_count_characters():
    rows = [("{name}:>9 %s", 1, "{}", "\\n"), ("王小明", 2, "é", "José")]
    assert table(COLUMNS, rows) == [
        "name          count  kind  note",
        "{name}:>9 %s      1  {}    \\n",
        # three characters padded to twelve: a wide script takes more columns on a terminal
        "王小明" + " " * 9 + "      2  é     José",
    ]
