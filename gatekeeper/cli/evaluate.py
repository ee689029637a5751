"""Accuracy on labelled data: ``evaluate`` (pairs), ``liveness`` (one image's faces) and
``evaluate-liveness`` (labelled images).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gatekeeper.cli.args import Commands, add_json, command, threshold_value
from gatekeeper.cli.opening import open_site
from gatekeeper.cli.output import ProgressBar, note
from gatekeeper.cli.render import ENCODER_NAMES, percent, print_json
from gatekeeper.config import Settings
from gatekeeper.decision import SHIPPED_TIERS
from gatekeeper.errors import UsageError
from gatekeeper.site import plural


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
        print_json(result.as_dict() | {"rules": [r.as_dict() for r in rules]})
        return 0
    same = sum(r.pair.same for r in result.results)
    print(
        f"{plural(len(result.results), 'pair')} ({same} same, {len(result.results) - same} "
        f"different); {result.no_face} skipped: a face was not found"
    )
    print(
        f"site rule at threshold {threshold:g}: accuracy {percent(result.accuracy)}, "
        f"FAR {percent(result.far)}, FRR {percent(result.frr)}"
    )
    print(f"{'rule':<17} {'at':>6} {'accuracy':>9} {'FAR':>8} {'FRR':>8}   best (±0.5 pt)")
    for rule in rules:
        best = "n/a"
        if rule.best is not None and rule.near_best is not None:
            low, high = rule.near_best
            best = f"{rule.best:.3f} ({low:.3f} to {high:.3f})"
        name = "site" if rule.name == "site" else f"{ENCODER_NAMES.get(rule.name)} alone"
        print(
            f"{name:<17} {rule.operating:>6.3f} {percent(rule.accuracy):>9} "
            f"{percent(rule.far):>8} {percent(rule.frr):>8}   {best}"
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
        note(f"histograms and ROC curves written to {args.plot}")
    return 0


def cmd_liveness(args: argparse.Namespace, settings: Settings) -> int:
    """Is each face of each image a live person or a photo/screen? Nothing is recorded."""
    with open_site(settings, args) as site:
        results = {str(image): site.recognition.liveness(image) for image in args.images}
    if args.json:
        print_json([{"image": k, "faces": [c.as_dict() for c in v]} for k, v in results.items()])
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
        print_json(result.as_dict())
        return 0
    site_rates, best = result.at_threshold, result.best
    print(
        f"{plural(len(samples), 'image')}: {site_rates.attacks} spoof and "
        f"{site_rates.bona_fide} live faces; {len(result.no_face)} without a face"
    )
    print(f"{'source':<22} {'spoof':>5} {'live':>5} {'APCER':>8} {'BPCER':>8}")
    for name, r in [("all", site_rates), *result.per_source.items()]:
        print(
            f"{name:<22} {r.attacks:>5} {r.bona_fide:>5} {percent(r.apcer):>8} "
            f"{percent(r.bpcer):>8}"
        )
    print(
        f"  at the site's liveness_threshold {site_rates.threshold:.2f}; APCER: attacks "
        "accepted as live, BPCER: live people rejected"
    )
    print(
        f"  lowest APCER + BPCER at {best.threshold:.3f}: APCER {percent(best.apcer)}, "
        f"BPCER {percent(best.bpcer)} (ROC: {len(result.curve)} points, --json)"
    )
    for sample in result.no_face:
        print(f"  no face: {sample.file} ({sample.label})")
    if args.plot is not None:
        note(f"histograms and ROC written to {args.plot}")
    return 0


def _add_labelled(
    parser: argparse.ArgumentParser, labels: tuple[str, str, str], *, images: str, plot: str
) -> None:
    """The labelled data an evaluation reads: the file (``labels``: its name, metavar and
    help), the folder its image paths start from, and the PNG it may draw."""
    name, metavar, help = labels
    parser.add_argument(name, metavar=metavar, help=help)
    parser.add_argument("--images", metavar="DIR", help=images)
    parser.add_argument("--plot", metavar="FILE.png", help=plot)


def register(commands: Commands) -> None:
    """Add ``evaluate``, ``liveness`` and ``evaluate-liveness``."""
    evaluate = command(
        commands, "evaluate", cmd_evaluate, "accuracy on labelled pairs (LFW or CSV)"
    )
    _add_labelled(
        evaluate,
        ("pairs", "PAIRS", "LFW pairs.txt or a CSV file"),
        images="folder relative image paths start from (default: the pairs file's folder)",
        plot="draw the distance histograms to this PNG",
    )
    evaluate.add_argument(
        "--threshold",
        metavar="VALUE",
        type=threshold_value,
        help="score at this threshold instead of the site's (which stays as it is)",
    )
    evaluate.add_argument(
        "--model",
        choices=("site", *ENCODER_NAMES),
        default="site",
        help="one encoder alone (default: the site's rule, then each encoder alone)",
    )
    add_json(evaluate)

    live = command(
        commands,
        "liveness",
        cmd_liveness,
        "is each face a live person or a photo/screen? (nothing recorded)",
        "Score every face of each image with the passive liveness models (MiniFASNet): live "
        "score 0-1 and the verdict at the site's liveness_threshold. Nothing is recorded.",
    )
    live.add_argument("images", metavar="IMAGE", nargs="+")
    add_json(live)

    evaluate_live = command(
        commands,
        "evaluate-liveness",
        cmd_evaluate_liveness,
        "APCER and BPCER of the liveness check on labelled images",
        "APCER (attacks accepted as live) and BPCER (live people rejected) at the site's "
        "liveness_threshold, pooled and per source, the best threshold and the ROC, on a CSV "
        "of file,label (live or spoof).",
    )
    _add_labelled(
        evaluate_live,
        ("labels", "LABELS.csv", "CSV: file,label"),
        images="folder the image paths start from (default: the labels file's folder)",
        plot="draw the score histograms and the ROC to this PNG",
    )
    add_json(evaluate_live)
