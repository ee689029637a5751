"""Settings in one place: defaults < TOML config file < environment < command-line flags.

The *home* directory holds the user's data in the repository's own layout::

    HOME/weights/   converted model cache (rebuilt from the installed package when missing)
    HOME/images/    kept enrolment photos, one folder per person
    HOME/data/      the SQLite database, exports, snapshots

``home`` defaults to ``$GATEKEEPER_HOME`` or else the current directory, so ``gatekeeper`` run
from a fresh checkout works with no options.
"""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gatekeeper.errors import UsageError

#: Default L2 distance threshold for the dlib ResNet encoder (see README, "Choosing the threshold").
DEFAULT_THRESHOLD = 0.55


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Paths are absolute."""

    home: Path = field(default_factory=lambda: Path(os.environ.get("GATEKEEPER_HOME", ".")))
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


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from an optional TOML file, then explicit overrides (flags).

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
    return Settings(**values).with_overrides(**overrides)
