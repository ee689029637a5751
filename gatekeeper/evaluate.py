"""How well does the pipeline tell people apart? Accuracy on labelled image pairs.

A *pair* is two image paths and a label: the same person or two different people. The pipeline
embeds the (largest) face of each image with every encoder of the site's rule; a pair is
predicted "same" when the rule's score of the two faces is at most the site's threshold (the
rule of :mod:`gatekeeper.decision`, which the console and ``identify`` apply). Each encoder's
distance alone is scored beside it.

Two pair-file formats are read (:func:`read_pairs`):

- **LFW** ``pairs.txt``: a header line with the number of pairs per class (``300``) or the
  number of sets and pairs per set (``10<TAB>300``); then one pair per line, fields separated by
  tabs or spaces: ``name<TAB>n1<TAB>n2`` (same person: ``name/name_000n1.jpg`` and
  ``name/name_000n2.jpg``) or ``name1<TAB>n1<TAB>name2<TAB>n2`` (different people).
- **CSV**: three columns, two image paths and a label — ``yes``/``no``, ``1``/``0``,
  ``true``/``false`` or ``same``/``different`` (any case); an optional header row (a first row
  whose label is not one of these, or whose path cells do not end like image files).

Relative image paths are resolved against ``images`` when given, else against the pair file's
folder. Each image is embedded once per run, however many pairs it appears in. Pairs where an
image has no detectable face get no distance: they are counted (``no_face``) and left out of
every rate.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gatekeeper.decision import (
    DLIB_MODEL,
    SINGLE_THRESHOLDS,
    THRESHOLD_RANGE,
    DecisionRule,
    calibrated_rates,
)
from gatekeeper.errors import GatekeeperError, ImageError, NoFaceError, UsageError
from gatekeeper.vision.image import IMAGE_SUFFIXES
from gatekeeper.vision.measure import FaceMeasure

if TYPE_CHECKING:
    from gatekeeper.config import Settings

#: CSV labels, lowercase, and whether they mean "same person".
LABELS = {
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "true": True,
    "false": False,
    "same": True,
    "different": False,
}

_FIELDS = re.compile(r"[\t ]+")


@dataclass(frozen=True)
class Pair:
    """Two images and whether they show the same person; ``line`` is where the pair file
    states it (1-based)."""

    first: Path
    second: Path
    same: bool
    line: int


@dataclass(frozen=True)
class PairResult:
    """A pair and the site rule's score of its two faces (``distance``, on the threshold's
    scale: the same person at most the threshold; ``None`` when a face was not found, and
    ``problem`` then says where), each encoder's L2 distance between them (model id →
    distance) and whether either face is below the enrolment bar."""

    pair: Pair
    distance: float | None
    problem: str | None = None
    distances: dict[str, float] = field(default_factory=dict)
    low_quality: bool = False

    def as_dict(self) -> dict:
        return {
            "first": str(self.pair.first),
            "second": str(self.pair.second),
            "same": self.pair.same,
            "distance": self.distance,
            "distances": dict(self.distances),
            "low_quality": self.low_quality,
            "problem": self.problem,
        }


#: What a decision rule must achieve, as fractions: false accepts first, then false rejects.
TARGET_FAR = 0.001
TARGET_FRR = 0.05


@dataclass(frozen=True)
class RuleResult:
    """One decision rule scored on the measured pairs.

    A rule gives each pair a score and accepts it at ``score <= t``; ``operating`` is the ``t``
    the site runs at (in ``unit``) and ``accuracy``/``far``/``frr`` the rates there (``None``
    when no pair of the kind could be scored; ``evaluated`` is how many could). ``best`` is the
    ``t`` with the highest accuracy (``best_accuracy``); ``near_best`` the span of ``t`` whose
    accuracy is within 0.5 points of it (how robust "best" is); ``passing`` the span of ``t``
    meeting :data:`TARGET_FAR` and :data:`TARGET_FRR` (``None``: no ``t`` does).
    ``roc`` lists ``(t, far, frr)`` at every distinct score, for the plot.
    """

    name: str
    description: str
    unit: str
    operating: float
    evaluated: int
    accuracy: float | None
    far: float | None
    frr: float | None
    best: float | None
    best_accuracy: float | None
    near_best: tuple[float, float] | None
    passing: tuple[float, float] | None
    roc: tuple[tuple[float, float, float], ...] = field(repr=False, default=())

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "unit": self.unit,
            "operating": self.operating,
            "evaluated": self.evaluated,
            "accuracy": self.accuracy,
            "far": self.far,
            "frr": self.frr,
            "best": self.best,
            "best_accuracy": self.best_accuracy,
            "near_best": None if self.near_best is None else list(self.near_best),
            "passing": None if self.passing is None else list(self.passing),
        }


@dataclass(frozen=True)
class Evaluation:
    """The outcome of :func:`evaluate_pairs`: the site's rule at ``threshold``.

    Rates are fractions in [0, 1] over the pairs that have a score (``None`` when there are
    none of the kind): ``accuracy`` of the same/different prediction, ``far`` (false accepts /
    different pairs) and ``frr`` (false rejects / same pairs). ``best_threshold`` is the midpoint
    between two consecutive sorted scores with the highest accuracy (the closest to
    ``threshold`` among ties; ``threshold`` itself when there are fewer than two distinct
    scores), and ``best_accuracy`` its accuracy. ``rules`` scores the site's rule and each
    encoder alone side by side (:func:`compare_rules`), the site's first.
    """

    results: list[PairResult]
    threshold: float
    accuracy: float | None
    far: float | None
    frr: float | None
    best_threshold: float
    best_accuracy: float | None
    rules: tuple[RuleResult, ...] = ()

    @property
    def no_face(self) -> int:
        """How many pairs were skipped because an image had no detectable face."""
        return sum(r.distance is None for r in self.results)

    def as_dict(self) -> dict:
        return {
            "pairs": len(self.results),
            "evaluated": len(self.results) - self.no_face,
            "same_pairs": sum(r.pair.same for r in self.results),
            "different_pairs": sum(not r.pair.same for r in self.results),
            "no_face": self.no_face,
            "threshold": self.threshold,
            "accuracy": self.accuracy,
            "far": self.far,
            "frr": self.frr,
            "best_threshold": self.best_threshold,
            "best_accuracy": self.best_accuracy,
            "rules": [rule.as_dict() for rule in self.rules],
            "results": [r.as_dict() for r in self.results],
        }


# Reading pair files.


def read_pairs(path: str | Path, *, images: str | Path | None = None) -> list[Pair]:
    """The pairs of an LFW ``pairs.txt`` or a CSV file (see the module docstring).

    A ``.csv`` file is read as CSV; any other file as LFW when its first line holds one or two
    integers, else as CSV. Raises ``UsageError`` naming the file and line for a malformed file,
    ``ImageError`` when it cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, expected a pairs file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file (expected LFW pairs.txt or CSV)") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    root = Path(images) if images is not None else path.parent
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise UsageError(f"{path}: empty pairs file")
    if path.suffix.lower() != ".csv" and all(f.isdigit() for f in _FIELDS.split(first.strip())):
        pairs = _read_lfw(path, lines, root)
    else:
        pairs = _read_csv(path, lines, root)
    if not pairs:
        raise UsageError(f"{path}: no pairs in the file")
    return pairs


def _malformed(path: Path, line: int, why: str) -> UsageError:
    return UsageError(f"{path}, line {line}: {why}")


def _read_lfw(path: Path, lines: list[str], root: Path) -> list[Pair]:
    numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    (header_line, header), body = numbered[0], numbered[1:]
    counts = [int(f) for f in _FIELDS.split(header)]
    if len(counts) > 2 or 0 in counts:
        raise _malformed(path, header_line, f"bad header {header!r} (expected 'N' or 'SETS N')")
    expected = 2 * int(np.prod(counts))
    pairs = []
    for number, line in body:
        fields = _FIELDS.split(line)
        try:
            if len(fields) == 3:
                name, a, b = fields
                pairs.append(
                    Pair(_lfw_image(root, name, a), _lfw_image(root, name, b), True, number)
                )
            elif len(fields) == 4:
                name_a, a, name_b, b = fields
                pairs.append(
                    Pair(_lfw_image(root, name_a, a), _lfw_image(root, name_b, b), False, number)
                )
            else:
                raise ValueError(
                    f"expected 'name n1 n2' or 'name1 n1 name2 n2', got {len(fields)} fields"
                )
        except ValueError as exc:
            raise _malformed(path, number, str(exc)) from None
    if len(pairs) != expected:
        raise _malformed(
            path,
            header_line,
            f"the header {header!r} announces {expected} pairs, the file has {len(pairs)}",
        )
    return pairs


def _lfw_image(root: Path, name: str, number: str) -> Path:
    """LFW's file layout: ``name/name_0001.jpg``."""
    if not number.isdigit() or int(number) < 1:
        raise ValueError(f"image number must be a positive integer, got {number!r}")
    if name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"bad person name {name!r}")
    return root / name / f"{name}_{int(number):04d}.jpg"


def _read_csv(path: Path, lines: list[str], root: Path) -> list[Pair]:
    pairs = []
    for number, row in enumerate(csv.reader(lines), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if len(cells) != 3:
            raise _malformed(
                path, number, f"expected 3 columns (image, image, label), got {len(cells)}"
            )
        first, second, label = cells
        same = LABELS.get(label.lower())
        if number == _first_row(lines) and (same is None or not _is_image(first, second)):
            continue  # a header row, such as "image1,image2,same"
        if same is None:
            raise _malformed(path, number, f"unknown label {label!r} (use {'/'.join(LABELS)})")
        if not first or not second:
            raise _malformed(path, number, "empty image path")
        pairs.append(Pair(root / first, root / second, same, number))
    return pairs


def _is_image(*names: str) -> bool:
    """Whether any of ``names`` ends like an image file (a header cell does not)."""
    return any(Path(name).suffix.lower() in IMAGE_SUFFIXES for name in names)


def _first_row(lines: list[str]) -> int:
    """The line number of the first non-blank line."""
    return next(n for n, line in enumerate(lines, start=1) if line.strip())


# Evaluating.


Embedder = Callable[[Path], "FaceMeasure | np.ndarray"]
Progress = Callable[[int, int, str], None]


def evaluate_pairs(
    pairs: Sequence[Pair],
    embed: Embedder,
    rule: DecisionRule,
    *,
    progress: Progress | None = None,
) -> Evaluation:
    """Measure every image once, then each pair's distances, and score the predictions of the
    site's ``rule`` (at its threshold) and of each encoder alone.

    ``embed(path)`` returns a :class:`FaceMeasure` of an image's face (or just its dlib
    embedding, ``float32 (128,)``) and raises ``NoFaceError`` when there is none (the pair is
    then skipped); any other ``GatekeeperError`` (an unreadable image) stops the run. Every
    image is checked to exist before the first is measured, so a wrong ``--images`` folder
    fails at once. ``progress(done, total, path)`` is called after each image.
    """
    images = list(dict.fromkeys(p for pair in pairs for p in (pair.first, pair.second)))
    for pair in pairs:
        for image in (pair.first, pair.second):
            if not image.is_file():
                raise ImageError(f"{image}: no such file (pair on line {pair.line})")
    measures: dict[Path, FaceMeasure | str] = {}
    for done, image in enumerate(images, start=1):
        try:
            measured = embed(image)
        except NoFaceError as exc:
            measures[image] = str(exc)
        else:
            if not isinstance(measured, FaceMeasure):
                measured = FaceMeasure({DLIB_MODEL: np.asarray(measured, dtype=np.float32)})
            measures[image] = measured
        if progress is not None:
            progress(done, len(images), str(image))
    results = []
    for pair in pairs:
        a, b = measures[pair.first], measures[pair.second]
        if isinstance(a, str) or isinstance(b, str):
            results.append(PairResult(pair, None, a if isinstance(a, str) else b))
            continue
        evidence = a.evidence(b)
        tier = rule.tier_for(evidence.distances)
        score_ = None if tier is None else float(tier.score(evidence))
        problem = None if tier is not None else "no encoder of the rule measured both faces"
        low = a.low_quality or b.low_quality
        results.append(PairResult(pair, score_, problem, dict(evidence.distances), low))
    evaluation = score(results, rule.threshold)
    return replace(evaluation, rules=tuple(compare_rules(results, rule)))


def compare_rules(results: list[PairResult], rule: DecisionRule) -> list[RuleResult]:
    """Score the site's rule and each of its encoders alone on the same measured pairs:

    - ``site``: the shipped rule (``gatekeeper.decision``) at the site's threshold;
    - one row per encoder: its distance alone, at the threshold fitted for it on the
      validation sources at the rule's target (``SINGLE_THRESHOLDS``).

    Pairs an encoder could not measure count for the other rows only.
    """
    measured = [r for r in results if r.distance is not None]
    rows = [
        _rule_result(
            "site",
            "the site's decision rule (" + " / ".join(t.name for t in rule.tiers) + ")",
            "rule score",
            rule.threshold,
            [(r.distance, r.pair.same) for r in measured],
        )
    ]
    for model_id in rule.models:
        scored = [(r.distances[model_id], r.pair.same) for r in measured if model_id in r.distances]
        if scored:
            rows.append(
                _rule_result(
                    model_id,
                    f"{model_id}'s distance alone",
                    f"{model_id} L2",
                    SINGLE_THRESHOLDS[model_id],
                    scored,
                )
            )
    return rows


def threshold_curve(results: list[PairResult]) -> list[tuple[float, float | None, float | None]]:
    """The site rule's ``(threshold, FAR, FRR)`` at every threshold of the sane range, in
    steps of 0.01: what moving the operator's knob would do."""
    low, high = THRESHOLD_RANGE
    measured = [r for r in results if r.distance is not None]
    curve = []
    for step in range(round(low * 100), round(high * 100) + 1):
        accepted = [(r.distance <= step / 100, r.pair.same) for r in measured]
        far = _rate(sum(a and not s for a, s in accepted), sum(not s for _, s in accepted))
        frr = _rate(sum(s and not a for a, s in accepted), sum(s for _, s in accepted))
        curve.append((step / 100, far, frr))
    return curve


def evaluation_file(settings: Settings) -> Path:
    """Where the last ``evaluate`` of the site's pairs keeps its FAR/FRR curve."""
    return settings.data_dir / "evaluation.json"


def save_evaluation(settings: Settings, evaluation: Evaluation, pairs: str) -> None:
    """Keep the site rule's FAR and FRR at every dlib threshold of the sane range, measured
    by ``evaluation`` (see :func:`threshold_curve`), in the site's :func:`evaluation_file`."""
    curve = threshold_curve(evaluation.results)
    document = {"pairs": pairs, "time": datetime.now(UTC).isoformat(), "curve": curve}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    target = evaluation_file(settings)
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    temporary.replace(target)


def expected_rates(
    settings: Settings, threshold: float
) -> tuple[float | None, float | None, str] | None:
    """(FAR, FRR, where from) at ``threshold``: what the site's last saved evaluation
    measured (nearest point of its curve), else the shipped rule's held-out calibration
    (FAR against each probe's nearest stranger); ``None`` off both."""
    try:
        curve = json.loads(evaluation_file(settings).read_text(encoding="utf-8"))["curve"]
    except (OSError, ValueError, KeyError, TypeError):
        curve = None
    if curve:
        point = min(curve, key=lambda row: abs(row[0] - threshold))
        return point[1], point[2], "this site's last evaluate"
    shipped = calibrated_rates(threshold)
    if shipped is None:
        return None
    return shipped["far_hard"], shipped["frr"], "held-out validation, nearest strangers"


def _span(points: np.ndarray, upper: np.ndarray, chosen: np.ndarray) -> tuple[float, float] | None:
    """``[low, high)``: from the first chosen point to where the last chosen one's outcome ends
    (``high`` is ``inf`` when it never does)."""
    indexes = np.flatnonzero(chosen)
    if len(indexes) == 0:
        return None
    return float(points[indexes[0]]), float(upper[indexes[-1]])


def _rule_result(
    name: str, description: str, unit: str, operating: float, scored: list[tuple[float, bool]]
) -> RuleResult:
    scores = np.array([value for value, _ in scored], dtype=np.float64)
    same = np.array([label for _, label in scored], dtype=bool)
    accepted = scores <= operating
    accuracy = _rate(np.count_nonzero(accepted == same), len(scored))
    far = _rate(np.count_nonzero(accepted & ~same), np.count_nonzero(~same))
    frr = _rate(np.count_nonzero(~accepted & same), np.count_nonzero(same))
    finite = np.unique(scores[np.isfinite(scores)])
    if len(finite) == 0 or not same.any() or same.all():
        return RuleResult(
            name, description, unit, operating, len(scored), accuracy, far, frr,
            None, None, None, None,
        )  # fmt: skip
    points = np.concatenate([[finite[0] - 1e-9], finite])
    accepted_at = scores[None, :] <= points[:, None]
    fars = np.count_nonzero(accepted_at & ~same, axis=1) / np.count_nonzero(~same)
    frrs = np.count_nonzero(~accepted_at & same, axis=1) / np.count_nonzero(same)
    accuracies = np.count_nonzero(accepted_at == same, axis=1) / len(scored)
    # Accepting at points[i] is the same as at any t in [points[i], points[i + 1]).
    upper = np.append(points[1:], np.inf)
    best = int(np.argmax(accuracies))
    best_t = (points[best] + upper[best]) / 2 if np.isfinite(upper[best]) else points[best]
    near = _span(points, upper, accuracies >= accuracies[best] - 0.005)
    passing = _span(points, upper, (fars <= TARGET_FAR) & (frrs <= TARGET_FRR))
    return RuleResult(
        name=name,
        description=description,
        unit=unit,
        operating=operating,
        evaluated=len(scored),
        accuracy=accuracy,
        far=far,
        frr=frr,
        best=float(best_t),
        best_accuracy=float(accuracies[best]),
        near_best=near,
        passing=passing,
        roc=tuple(
            (float(t), float(a), float(r)) for t, a, r in zip(points, fars, frrs, strict=True)
        ),
    )


def score(results: list[PairResult], threshold: float) -> Evaluation:
    """Accuracy, FAR and FRR at ``threshold`` and the best threshold, from measured pairs."""
    measured = [r for r in results if r.distance is not None]
    distances = np.array([r.distance for r in measured], dtype=np.float64)
    same = np.array([r.pair.same for r in measured], dtype=bool)
    accepted = distances <= threshold
    accuracy = _rate(np.count_nonzero(accepted == same), len(measured))
    far = _rate(np.count_nonzero(accepted & ~same), np.count_nonzero(~same))
    frr = _rate(np.count_nonzero(~accepted & same), np.count_nonzero(same))
    best_threshold, best_accuracy = _best_threshold(distances, same, threshold)
    if best_accuracy is None:
        best_accuracy = accuracy
    return Evaluation(results, threshold, accuracy, far, frr, best_threshold, best_accuracy)


def _rate(count: int, total: int) -> float | None:
    return None if total == 0 else count / total


def _best_threshold(
    distances: np.ndarray, same: np.ndarray, current: float
) -> tuple[float, float | None]:
    """Sweep the midpoints between consecutive distinct sorted distances.

    With the distances sorted, a threshold between items ``i - 1`` and ``i`` accepts the first
    ``i``: correct are the same-person pairs among them plus the different ones after them —
    one cumulative sum gives every candidate's accuracy at once.
    """
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    cut = np.flatnonzero(np.diff(d) > 0) + 1
    if len(cut) == 0:
        return current, None
    same_before = np.cumsum(s)[cut - 1]
    different_after = np.count_nonzero(~s) - np.cumsum(~s)[cut - 1]
    accuracy = (same_before + different_after) / len(d)
    midpoints = (d[cut - 1] + d[cut]) / 2
    best = np.flatnonzero(accuracy == accuracy.max())
    chosen = best[np.argmin(np.abs(midpoints[best] - current))]
    return float(midpoints[chosen]), float(accuracy[chosen])


def plot_histograms(evaluation: Evaluation, path: str | Path) -> Path:
    """Draw the distance histograms of same-person and different-people pairs, with the current
    and best thresholds as vertical lines, and, when rules were compared, every rule's ROC curve
    (FRR against FAR, operating points marked), to a PNG file (matplotlib's Agg backend).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    measured = [r for r in evaluation.results if r.distance is not None]
    same = [r.distance for r in measured if r.pair.same]
    different = [r.distance for r in measured if not r.pair.same]
    figure = Figure(figsize=(13 if evaluation.rules else 8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 2, 1) if evaluation.rules else figure.add_subplot()
    top = max([*same, *different, evaluation.threshold, evaluation.best_threshold]) * 1.05
    bins = np.linspace(0.0, top, 41)
    axes.hist(same, bins=bins, alpha=0.6, label=f"same person ({len(same)})", color="tab:green")
    axes.hist(
        different,
        bins=bins,
        alpha=0.6,
        label=f"different people ({len(different)})",
        color="tab:red",
    )
    axes.axvline(
        evaluation.threshold,
        color="black",
        linestyle="--",
        label=f"threshold {evaluation.threshold:.3f}",
    )
    if evaluation.best_threshold != evaluation.threshold:
        axes.axvline(
            evaluation.best_threshold,
            color="tab:blue",
            linestyle=":",
            label=f"best threshold {evaluation.best_threshold:.3f}",
        )
    axes.set_xlabel("the site rule's score of the two faces (same person at most the threshold)")
    axes.set_ylabel("pairs")
    axes.set_title("Pair scores by class")
    axes.legend()
    if evaluation.rules:
        _plot_roc(figure.add_subplot(1, 2, 2), evaluation.rules)
    figure.tight_layout()
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise GatekeeperError(f"cannot write the plot {path}: {exc.strerror or exc}") from None
    return path


def _plot_roc(axes, rules: Sequence[RuleResult]) -> None:
    """FRR against FAR (log scale) for every rule, its operating point as a dot."""
    for rule in rules:
        if not rule.roc:
            continue
        fars = [max(far, 1e-4) for _, far, _ in rule.roc]
        frrs = [frr for _, _, frr in rule.roc]
        (line,) = axes.step(fars, frrs, where="post", label=rule.name)
        if rule.far is not None and rule.frr is not None:
            axes.plot([max(rule.far, 1e-4)], [rule.frr], "o", color=line.get_color())
    axes.axvline(TARGET_FAR, color="grey", linestyle=":", label=f"FAR {100 * TARGET_FAR:g} %")
    axes.axhline(TARGET_FRR, color="grey", linestyle="--", label=f"FRR {100 * TARGET_FRR:g} %")
    axes.set_xscale("log")
    axes.set_xlim(1e-4, 1)
    axes.set_ylim(0, 0.5)
    axes.set_xlabel("false accept rate (different pairs accepted)")
    axes.set_ylabel("false reject rate (same pairs rejected)")
    axes.set_title("ROC of each rule (dots: operating points)")
    axes.legend()
