"""Faces in photos: ``identify`` (recorded as attempts) and ``verify`` (nothing recorded)."""

from __future__ import annotations

import argparse
import math

from gatekeeper.cli.args import Commands, add_json, command
from gatekeeper.cli.opening import open_site
from gatekeeper.cli.render import ENCODER_NAMES, print_json
from gatekeeper.config import Settings
from gatekeeper.decision import SHIPPED_TIERS
from gatekeeper.errors import NoFaceError


def cmd_identify(args: argparse.Namespace, settings: Settings) -> int:
    """Who is in a photo: every face, recorded as an attempt from camera ``cli``.

    A photo with no face records nothing and exits 1: an access log holds attempts by faces.
    """
    with open_site(settings, args) as site:
        results = site.recognition.identify(args.image)
    if not results:
        raise NoFaceError(f"{args.image}: no face found (nothing recorded)")
    if args.json:
        print_json([r.as_dict() for r in results])
        return 0
    for number, r in enumerate(results, start=1):
        x, y, w, h = r.box
        where = f"face {number} at x={x} y={y} {w}x{h}"
        template = ", low-quality templates only" if r.low_quality_template else ""
        evidence = f"score {r.distance:.3f}" if r.distance is not None else ""
        if r.distances:
            evidence += " from " + ", ".join(
                f"{ENCODER_NAMES.get(m, m)} {d:.3f}" for m, d in r.distances.items()
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
        print_json(
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
    distances = ", ".join(f"{ENCODER_NAMES.get(m, m)} {d:.3f}" for m, d in result.distances.items())
    print(f"{verdict} (score {result.score:.3f}, threshold {result.threshold:.3f}; {distances})")
    print("checks: the site's rule; no liveness (verify compares two photos, records nothing)")
    return 0


def register(commands: Commands) -> None:
    """Add ``identify`` and ``verify``."""
    identify = command(
        commands,
        "identify",
        cmd_identify,
        "who is in a photo (recorded as attempts)",
        "Who is in a photo: every face is matched and recorded as an attempt from camera "
        "'cli'. A photo with no face records nothing and exits 1.",
    )
    identify.add_argument("image", metavar="IMAGE")
    add_json(identify)

    verify = command(commands, "verify", cmd_verify, "are the faces of two photos the same person?")
    verify.add_argument("first", metavar="IMAGE1")
    verify.add_argument("second", metavar="IMAGE2")
    add_json(verify)
