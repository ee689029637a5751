"""``doctor``: the installation checked, one line per check (:mod:`gatekeeper.site.checks`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from gatekeeper.cli.args import Commands, add_json, command
from gatekeeper.cli.render import print_json
from gatekeeper.config import Settings
from gatekeeper.site.checks import CHECK_LABELS, doctor_checks


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Check the installation; one line per check (see :data:`CHECK_LABELS`); exit 1 only when
    one fails, i.e. when something stands in the way of the console."""
    checks = doctor_checks(settings, args.config)
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
