"""What commands print: JSON on stdout, and the cells of their tables."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gatekeeper.decision import DLIB_MODEL, FACENET_MODEL, SFACE_MODEL

#: Short names of the encoders in messages, by model id.
ENCODER_NAMES = {DLIB_MODEL: "dlib", FACENET_MODEL: "FaceNet", SFACE_MODEL: "SFace"}


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def local_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def distance_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"
