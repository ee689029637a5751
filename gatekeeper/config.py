"""Settings in one place: defaults < TOML config file < environment < command-line flags.

Environment variables: ``GATEKEEPER_HOME``, ``GATEKEEPER_DB``, ``GATEKEEPER_CAMERA``,
``GATEKEEPER_BUSY_TIMEOUT`` (seconds) and ``GATEKEEPER_AUDIT_KEY`` (see :data:`ENVIRONMENT`).

The *home* directory holds the user's data in the repository's own layout::

    HOME/weights/   converted model cache (rebuilt from the installed package when missing)
    HOME/images/    kept enrolment photos, one folder per person
    HOME/data/      the SQLite database, exports, snapshots

``home`` defaults to ``$GATEKEEPER_HOME`` or else the current directory, so ``gatekeeper`` run
from a fresh checkout works with no options.
"""

from __future__ import annotations

import math
import os
import socket
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gatekeeper.anchor import AnchorSpec, parse_anchor
from gatekeeper.decision import DEFAULT_LIVENESS_THRESHOLD, DEFAULT_THRESHOLD
from gatekeeper.door.actions import ActionSpec
from gatekeeper.door.alerts import AlertRule, parse_alerts
from gatekeeper.door.registry import parse_actions
from gatekeeper.errors import UsageError
from gatekeeper.schedule import load_timezone

#: Keys of earlier versions, and what replaced them (named when a config file still has one).
REMOVED_KEYS = {
    "facenet_threshold": "no longer a setting: the decision rule weighs every encoder with "
    "weights fitted on held-out data; move 'threshold' instead",
}
#: Days a kept visitor crop is kept before it is deleted, unless ``[visitors]`` says otherwise.
DEFAULT_VISITOR_RETENTION_DAYS = 30.0
#: The shortest ``audit_key`` accepted, in bytes (UTF-8): 128 bits, the least an HMAC key
#: should hold; ``audit_key = "a"`` would let anyone who guesses it sign a forged chain.
MIN_AUDIT_KEY_BYTES = 16
#: Keys of the config file (at any depth: ``[[actions]]`` tables too) whose value is a secret.
#: A URL holding a password (``db``, ``camera``, a webhook's ``url``) is one as well.
SECRET_KEYS = frozenset({"audit_key", "secret", "password"})
#: Permission bits that let the file's group or others read it.
_READABLE_BY_OTHERS = stat.S_IRGRP | stat.S_IROTH
#: How to make a key long enough, shown with the refusal.
_NEW_KEY_HINT = "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class VisitorSettings:
    """The ``[visitors]`` table: whether the console keeps the face crop of every ``unknown``,
    ``spoof`` and ``denied`` attempt for review (``keep``, off by default: crops are biometric
    data), and how many days (``retention_days``, > 0, fractions allowed) a crop is kept before
    it is deleted. The retention applies whether or not ``keep`` is on, so crops kept before
    it was turned off still expire."""

    keep: bool = False
    retention_days: float = DEFAULT_VISITOR_RETENTION_DAYS


def local_timezone_name(localtime: Path = Path("/etc/localtime")) -> str:
    """The machine's local IANA time zone: the name ``localtime`` links to
    (``/usr/share/zoneinfo/Europe/Berlin`` → ``Europe/Berlin``), else ``UTC`` (no link, or a
    name no zone database knows)."""
    try:
        target = os.readlink(localtime)
    except OSError:
        target = ""
    _, found, name = target.partition("/zoneinfo/")
    if not found:
        return "UTC"
    try:
        load_timezone(name)
    except UsageError:
        return "UTC"
    return name


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Paths are absolute."""

    home: Path = field(default_factory=lambda: Path("."))
    db: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    liveness: str = "passive"
    liveness_threshold: float = DEFAULT_LIVENESS_THRESHOLD
    camera: str | None = None
    camera_id: str = field(default_factory=socket.gethostname)
    fps: float = 5.0
    loop: bool = False
    mute: bool = False
    greeting: str = "Welcome {name}, have a nice day!"
    votes_required: int = 3
    votes_window: int = 5
    recognition_interval_s: float = 10.0
    busy_timeout_s: float = 5.0
    audit_key: str | None = None
    #: The site's IANA time zone: access schedules and validity dates are judged on its clock.
    timezone: str = field(default_factory=local_timezone_name)
    #: Door actions and alert rules: the ``[[actions]]`` and ``[[alerts]]`` tables of the TOML
    #: file (see ``gatekeeper/door/``); none by default.
    actions: tuple[ActionSpec, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    #: The ``[audit_anchor]`` table: where the signed chain head is kept outside the database
    #: (``gatekeeper/anchor.py``); none by default.
    audit_anchor: AnchorSpec | None = None
    visitors: VisitorSettings = field(default_factory=VisitorSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())

    @property
    def weights_dir(self) -> Path:
        return self.home / "weights"

    @property
    def images_dir(self) -> Path:
        return self.home / "images"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def database(self) -> str:
        """The database path or URL: ``--db`` if given, else ``HOME/data/gatekeeper.db``."""
        return self.db if self.db else str(self.data_dir / "gatekeeper.db")

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with every non-``None`` override applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


#: Environment variables and the settings they set.
ENVIRONMENT = {
    "GATEKEEPER_HOME": "home",
    "GATEKEEPER_DB": "db",
    "GATEKEEPER_CAMERA": "camera",
    "GATEKEEPER_BUSY_TIMEOUT": "busy_timeout_s",
    "GATEKEEPER_AUDIT_KEY": "audit_key",
}


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for variable, name in ENVIRONMENT.items():
        text = environ.get(variable)
        if text is None or text == "":
            continue
        if name == "busy_timeout_s":
            try:
                values[name] = float(text)
            except ValueError:
                raise UsageError(f"{variable}: not a number: {text!r}") from None
        else:
            values[name] = text
    return values


def _numeric(key: str, value: Any) -> float | int:
    """``value`` when it is a number (a TOML int or float), else a ``UsageError`` naming
    ``key``: the range validators of ``gatekeeper.decision`` also take numeric text, as the
    console's input fields give it, but a config's ``threshold = "0.5"`` is a mistake, as
    ``mute = "yes"`` is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{key} must be a number, not {type(value).__name__} {value!r}")
    return value


def _number(key: str, value: Any, *, positive: bool) -> float:
    number = float(_numeric(key, value))
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise UsageError(f"{key} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return number


def _whole(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{key} must be a whole number, not {type(value).__name__} {value!r}")
    if value < 1:
        raise UsageError(f"{key} must be at least 1, got {value!r}")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{key} must be text, not {type(value).__name__} {value!r}")
    if not value.strip():
        raise UsageError(f"{key} cannot be empty")
    return value


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{key} must be true or false, not {type(value).__name__} {value!r}")
    return value


def _greeting(key: str, value: Any) -> str:
    text = _text(key, value)
    try:
        text.format(name="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(f"{key} may hold {{name}} and no other placeholder: {value!r}") from exc
    return text


def _camera_id(key: str, value: Any) -> str:
    from gatekeeper.store.names import validate_new_name

    try:
        return validate_new_name(_text(key, value))
    except UsageError as exc:
        raise UsageError(f"{key}: {exc}") from None


def _camera(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(key, value)


def _threshold(key: str, value: Any) -> float:
    from gatekeeper.decision import validate_threshold

    return validate_threshold(_numeric(key, value), what=key)


def _visitors(key: str, value: Any) -> VisitorSettings:
    if isinstance(value, VisitorSettings):
        return value
    if not isinstance(value, dict):
        raise UsageError(f"{key} must be a table ([{key}]), not {type(value).__name__} {value!r}")
    unknown = sorted(set(value) - {f.name for f in fields(VisitorSettings)})
    if unknown:
        raise UsageError(f"unknown key(s) in [{key}]: {', '.join(unknown)}")
    checked: dict[str, Any] = {}
    if "keep" in value:
        checked["keep"] = _flag(f"{key}.keep", value["keep"])
    if "retention_days" in value:
        days = f"{key}.retention_days"
        checked["retention_days"] = _number(days, value["retention_days"], positive=True)
    return VisitorSettings(**checked)


def _liveness(key: str, value: Any) -> str:
    from gatekeeper.decision import validate_liveness_mode

    return validate_liveness_mode(value, what=key)


def _liveness_threshold(key: str, value: Any) -> float:
    from gatekeeper.decision import validate_liveness_threshold

    return validate_liveness_threshold(_numeric(key, value), what=key)


def _audit_key(key: str, value: Any) -> str:
    """The HMAC key of the audit chain: text of at least :data:`MIN_AUDIT_KEY_BYTES` bytes."""
    text = _text(key, value)
    size = len(text.encode("utf-8"))
    if size < MIN_AUDIT_KEY_BYTES:
        raise UsageError(
            f"{key} is {size} byte{'s' if size != 1 else ''} long; at least "
            f"{MIN_AUDIT_KEY_BYTES} are needed ({_NEW_KEY_HINT})"
        )
    return text


def _timezone(key: str, value: Any) -> str:
    name = _text(key, value)
    load_timezone(name, what=key)
    return name


#: How each setting is checked: a function ``(key, value) -> value`` that raises ``UsageError``
#: naming the key. Every field of ``Settings`` has one.
_CHECKS: dict[str, Any] = {
    "home": lambda key, value: _text(key, value) if not isinstance(value, Path) else value,
    "db": _text,
    "threshold": _threshold,
    "liveness": _liveness,
    "liveness_threshold": _liveness_threshold,
    "camera": _camera,
    "camera_id": _camera_id,
    "fps": lambda key, value: _number(key, value, positive=True),
    "loop": _flag,
    "mute": _flag,
    "greeting": _greeting,
    "votes_required": _whole,
    "votes_window": _whole,
    "recognition_interval_s": lambda key, value: _number(key, value, positive=False),
    "busy_timeout_s": lambda key, value: _number(key, value, positive=False),
    "audit_key": _audit_key,
    "timezone": _timezone,
    "actions": parse_actions,
    "alerts": parse_alerts,
    "audit_anchor": parse_anchor,
    "visitors": _visitors,
}


def _checked(values: Mapping[str, Any], where: str, checks: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every value type- and range-checked by ``checks`` (:data:`_CHECKS`, or
    a variant of it); errors start with ``where``."""
    checked = {}
    for key, value in values.items():
        try:
            checked[key] = checks[key](key, value)
        except UsageError as exc:
            raise UsageError(f"{where}{exc}") from None
    return checked


def _read_config(path: Path) -> tuple[dict[str, Any], int]:
    """The TOML table of the config file at ``path`` and the file's permission bits.

    Only a regular file is read: a FIFO, a device or a socket is refused from its ``stat``,
    before it is opened (opening a FIFO for reading waits for a writer, forever), and the file
    is opened without blocking and checked again, in case it was swapped meanwhile."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"config file {path} is not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise UsageError(f"config file {path} is not a regular file")
            text = file.read().decode("utf-8")
        return tomllib.loads(text), stat.S_IMODE(status.st_mode)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None


def _holds_password(text: str) -> bool:
    """Whether ``text`` is a URL with a password (``postgresql://user:pw@host/db``)."""
    if "://" not in text:
        return False
    try:
        return urlsplit(text).password is not None
    except ValueError:
        return False


def secret_keys(table: Mapping[str, Any], where: str = "") -> list[str]:
    """Where a config's TOML ``table`` holds secrets: the keys of :data:`SECRET_KEYS` with a
    value, and every text that is a URL with a password, at any depth, named as
    ``audit_key``, ``db``, ``actions[2].secret``."""
    found = []
    for key, value in table.items():
        name = f"{where}{key}"
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items, start=1):
            at = f"{name}[{index}]" if isinstance(value, list) else name
            if isinstance(item, Mapping):
                found += secret_keys(item, f"{at}.")
            elif isinstance(item, str) and item and (key in SECRET_KEYS or _holds_password(item)):
                found.append(at)
    return found


def exposed_secrets(path: Path, table: Mapping[str, Any], mode: int) -> str | None:
    """Why the config file at ``path`` (its TOML ``table``, its permission bits ``mode``)
    must not be used: it holds secrets and its group or others may read it; ``None`` when it
    holds none or only its owner may read it. See docs/DESIGN.md, "Secrets in the config"."""
    keys = secret_keys(table)
    if not keys or not mode & _READABLE_BY_OTHERS:
        return None
    who = " and ".join(
        name for name, bit in (("its group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit
    )
    return (
        f"config file {path} holds secrets ({', '.join(keys)}) and {who} may read it "
        f"(mode {mode:04o}): chmod 600 {path}, and change the secrets if someone may have "
        "read them"
    )


def secret_problems(config_file: str | Path | None, audit_key: str | None) -> list[str]:
    """What :func:`load_settings` refuses about secrets, for ``doctor``, which reports instead
    of refusing (it loads with ``guard_secrets=False``): the config file's exposure (see
    :func:`exposed_secrets`) and an ``audit_key`` that is too short. Empty when all is well.
    A config file that cannot be read at all is a ``UsageError``, as for ``load_settings``."""
    problems = []
    if config_file is not None:
        path = Path(config_file)
        exposed = exposed_secrets(path, *_read_config(path))
        if exposed:
            problems.append(exposed)
    if audit_key is not None:
        try:
            _audit_key("audit_key", audit_key)
        except UsageError as exc:
            problems.append(str(exc))
    return problems


def load_settings(
    config_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    guard_secrets: bool = True,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults, then an optional TOML file, then the environment
    (:data:`ENVIRONMENT`; ``environ`` defaults to ``os.environ``), then explicit overrides
    (flags; ``None`` means not given).

    The TOML file holds top-level keys named like the ``Settings`` fields, e.g.
    ``threshold = 0.55`` or ``camera = "rtsp://door/stream"``, and the ``[visitors]`` table
    (:class:`VisitorSettings`: ``keep = true``, ``retention_days = 30``). Every value, whatever its
    source, is type- and range-checked here: a bad one is a one-line ``UsageError`` naming
    the key (and the file or variable it came from), never a failure later on.

    Secrets are guarded (``guard_secrets``; ``doctor`` reports instead, see
    :func:`secret_problems`): a config file holding one must be readable by its owner
    alone (:func:`exposed_secrets`), and ``audit_key`` must be at least
    :data:`MIN_AUDIT_KEY_BYTES` bytes long, whatever its source.
    """
    values: dict[str, Any] = {}
    checks = _CHECKS if guard_secrets else _CHECKS | {"audit_key": _text}
    if config_file is not None:
        path = Path(config_file)
        loaded, mode = _read_config(path)
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(loaded) - known)
        if unknown:
            why = "".join(f"; {k}: {REMOVED_KEYS[k]}" for k in unknown if k in REMOVED_KEYS)
            raise UsageError(f"unknown key(s) in {path}: {', '.join(unknown)}{why}")
        values = _checked(loaded, f"{path}: ", checks)
        exposed = exposed_secrets(path, loaded, mode) if guard_secrets else None
        if exposed:
            raise UsageError(exposed)
    environ = os.environ if environ is None else environ
    values.update(_checked(_from_environment(environ), "", checks))
    given = {key: value for key, value in overrides.items() if value is not None}
    settings = Settings(**values).with_overrides(**_checked(given, "", checks))
    if settings.votes_required > settings.votes_window:
        raise UsageError(
            f"votes_required ({settings.votes_required}) cannot exceed votes_window "
            f"({settings.votes_window}): K of the last N frames needs K <= N"
        )
    if settings.home.exists() and not settings.home.is_dir():
        raise UsageError(f"home {settings.home} is not a directory")
    if settings.audit_anchor is not None:
        try:
            settings.audit_anchor.check(settings)
        except UsageError as exc:
            where = "" if config_file is None else f"{config_file}: "
            raise UsageError(f"{where}{exc}") from None
    return settings
