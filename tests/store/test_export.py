"""CSV export: RFC 4180 layout, UTF-8 names, ISO-8601 times, formula-injection neutralising."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest

from gatekeeper.store import AttemptFilter, Store, export_csv
from gatekeeper.store.export import HEADER, neutralise

START = datetime(2026, 11, 28, 14, 2, 45, 123456, tzinfo=UTC)


def _export(store: Store, filter: AttemptFilter | None = None) -> tuple[int, str]:
    out = io.StringIO(newline="")
    count = export_csv(store, filter or AttemptFilter(), out)
    return count, out.getvalue()


def test_layout_header_crlf_and_iso_times(store: Store, attempt: Callable) -> None:
    store.record_attempt(**attempt(name="José Núñez", time=START + timedelta(seconds=1)))
    store.record_attempt(
        **attempt(decision="unknown", name=None, distance=None, box=None, time=START)
    )
    count, text = _export(store)
    assert count == 2
    lines = text.split("\r\n")
    assert (
        lines[0]
        == ",".join(HEADER)
        == (
            "id,time,camera_id,person,decision,distance,threshold,model_id,box_x,box_y,box_w,box_h,reason"
        )
    )
    assert (
        lines[1]
        == "2,2026-11-28T14:02:45.123456+00:00,front-door,,unknown,,0.6,dlib_resnet_v1,,,,,"
    )
    assert lines[2] == (
        "1,2026-11-28T14:02:46.123456+00:00,front-door,José Núñez,granted,0.41,0.6,"
        "dlib_resnet_v1,10,20,110,120,"
    )
    assert lines[3:] == [""]
    assert "\n" not in text.replace("\r\n", "")


def test_unicode_names_survive_a_utf8_file(store: Store, attempt: Callable, tmp_path: Path) -> None:
    for name in ("王小明", "José Núñez", "Zoë O'Brien"):
        store.record_attempt(**attempt(name=name))
    target = tmp_path / "log.csv"
    with open(target, "w", encoding="utf-8", newline="") as out:
        export_csv(store, AttemptFilter(), out)
    with open(target, encoding="utf-8", newline="") as back:
        rows = list(csv.DictReader(back))
    assert [row["person"] for row in rows] == ["王小明", "José Núñez", "Zoë O'Brien"]


@pytest.mark.parametrize(
    "camera",
    ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"],
)
def test_formula_cells_are_neutralised(store: Store, attempt: Callable, camera: str) -> None:
    store.record_attempt(**attempt(camera_id=camera, name="=1+1"))
    _, text = _export(store)
    (row,) = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["camera_id"] == "'" + camera
    assert row["person"] == "'=1+1"
    assert row["distance"] == "0.41"


@pytest.mark.parametrize(
    ("cell", "safe"),
    [("plain", "plain"), ("a=b", "a=b"), ("", ""), (None, None), ("-", "'-"), ("@", "'@")],
)
def test_neutralise(cell: str | None, safe: str | None) -> None:
    assert neutralise(cell) == safe


def test_filter_applies_and_export_is_logged_in_the_chain(
    store: Store, attempt: Callable, database: DatabaseUnderTest
) -> None:
    store.record_attempt(**attempt(camera_id="garage"))
    store.record_attempt(**attempt(camera_id="front-door"))
    count, text = _export(store, AttemptFilter(camera="garage"))
    assert count == 1 and len(text.splitlines()) == 2
    with database.raw() as connection:
        (detail,) = connection.execute(
            "SELECT detail FROM admin_event WHERE kind = 'export'"
        ).fetchone()
    assert detail == "1 attempts (camera=garage)"
    assert store.verify_chain().ok


def test_stored_values_stream_across_chunk_boundaries(store: Store, attempt: Callable) -> None:
    for i in range(12):
        store.record_attempt(**attempt(time=START + timedelta(seconds=i)))
    rows = store.iter_attempt_values(AttemptFilter(), chunk_size=5)
    assert [next(rows)[0] for _ in range(12)] == list(range(1, 13))
    assert next(rows, None) is None
