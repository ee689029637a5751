"""Access schedules: what judging who may enter costs per face, and reading everyone's limits.

Prints the median time of ``schedule.may_enter`` for a person on a three-line schedule (8
stored windows): the work the console adds per recognised face, the limits coming from memory,
loaded with the gallery; of ``Store.access_rules()`` (the one read per gallery reload) with
``--people`` people on ``--schedules`` shared schedules; and of a state-checked schedule change
on that site (the write every running console then reloads for).

    .venv/bin/python benchmarks/bench_schedules.py [--people 10000] [--schedules 20] [--dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from timing import timed

from gatekeeper.schedule import load_timezone, may_enter, parse_windows
from gatekeeper.store import open_store
from gatekeeper.store.models import Person, Schedule
from gatekeeper.store.people import insert_person

WINDOWS = ("Mon-Fri 07:00-19:00", "Sat 09:00-13:00", "Sun 22:00-06:00")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--dir", type=Path, help="where to build the database (default: temp)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(dir=args.dir))

    windows = parse_windows(WINDOWS)
    berlin = load_timezone("Europe/Berlin")
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with open_store(str(folder / "gatekeeper.db"), images_dir=folder / "images") as store:
        store.set_schedule("staff", windows)
        store.add_person("ada")
        store.assign_schedule("ada", "staff")
        (access,) = store.access_rules().values()
        per_call = timed(lambda: [may_enter(access, now, berlin) for _ in range(1000)], 20)
        print(f"may_enter, {len(windows)} windows, Europe/Berlin: {per_call:.3f} µs per face")

        # The site, built in three transactions (the store's own calls take one each).
        with store.change("people") as tx:
            for i in range(args.people):
                insert_person(tx, f"person {i:06d}", None)
        for s in range(args.schedules):
            store.set_schedule(f"group {s:02d}", windows)
        groups = {info.name: info for info in store.list_schedules()}
        ids = dict(Schedule.select(Schedule.name, Schedule.id).tuples().bind(store.db))
        with store.change("access") as tx:
            for s in range(args.schedules):
                Person.update(schedule=ids[f"group {s:02d}"]).where(
                    Person.name.in_(
                        [f"person {i:06d}" for i in range(s, args.people, args.schedules)]
                    )
                ).bind(tx.db).execute()
            Person.update(valid_from="2026-01-01", valid_until="2027-12-31").where(
                Person.name.in_([f"person {i:06d}" for i in range(0, args.people, 4)])
            ).bind(tx.db).execute()
            tx.bump_gallery()
        assert len(groups) == args.schedules + 1
        rules = store.access_rules()
        print(f"{len(rules)} limited people on {args.schedules + 1} schedules")
        read = timed(store.access_rules, 10)
        print(f"access_rules (one read per gallery reload): {read:.1f} ms")
        flip = iter(range(10**6))

        def change() -> None:
            hours = "Sat 09:00-13:00" if next(flip) % 2 else "Sat 09:00-14:00"
            store.set_schedule("group 00", parse_windows(["Mon-Fri 07:00-19:00", hours]))

        print(f"set_schedule, state-checked and chained: {timed(change, 10):.1f} ms")


if __name__ == "__main__":
    main()
