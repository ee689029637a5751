"""``doctor``: the installation checked, one line per check (:mod:`gatekeeper.cli.checks`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from gatekeeper.cli.args import Commands, add_json, command
from gatekeeper.cli.checks import (
    CHECK_LABELS,
    check_anchor,
    check_camera,
    check_database,
    check_door,
    check_liveness,
    check_secrets,
    check_voice,
    check_weights,
)
from gatekeeper.cli.render import print_json
from gatekeeper.config import Settings


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
        print_json([asdict(c) | {"ok": c.ok} for c in checks])
    else:
        for c in checks:
            hint = f" (hint: {c.hint})" if c.hint and c.status != "ok" else ""
            print(f"{CHECK_LABELS[c.status]}  {c.name}: {c.detail}{hint}")
    return 0 if all(c.ok for c in checks) else 1


def register(commands: Commands) -> None:
    """Add ``doctor``."""
    doctor = command(commands, "doctor", cmd_doctor, "check weights, database, camera and voice")
    doctor.set_defaults(guard_secrets=False)  # it reports what other commands refuse
    add_json(doctor)
