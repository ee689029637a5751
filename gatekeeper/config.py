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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gatekeeper.errors import UsageError

#: Default L2 distance threshold for the dlib ResNet encoder (see README, "Choosing the threshold").
DEFAULT_THRESHOLD = 0.55


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Paths are absolute."""

    home: Path = field(default_factory=lambda: Path("."))
    db: str | None = None
    threshold: float = DEFAULT_THRESHOLD
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


def load_settings(
    config_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults, then an optional TOML file, then the environment
    (:data:`ENVIRONMENT`; ``environ`` defaults to ``os.environ``), then explicit overrides
    (flags; ``None`` means not given).

    The TOML file holds top-level keys named like the ``Settings`` fields, e.g.
    ``threshold = 0.55`` or ``camera = "rtsp://door/stream"``.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"config file not found: {path}") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read config file {path}: {exc}") from None
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown key(s) in {path}: {', '.join(unknown)}")
    values.update(_from_environment(os.environ if environ is None else environ))
    settings = Settings(**values).with_overrides(**overrides)
    if not (math.isfinite(settings.busy_timeout_s) and settings.busy_timeout_s >= 0):
        raise UsageError(f"busy timeout must be >= 0 seconds, got {settings.busy_timeout_s}")
    return settings
