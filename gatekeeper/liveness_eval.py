"""How well the liveness check separates live people from attacks, on labelled images.

The measures are ISO/IEC 30107-3's: **APCER**, the share of attack presentations (``spoof``
images) judged live — the attacks that would get through — and **BPCER**, the share of bona
fide presentations (``live`` images) judged spoof — the real people turned away. Each image
contributes its largest face, as an enrolment photo does; images in which no face is found are
counted apart (``no_face``): they are rejected before liveness is asked, so they cost BPCER at
the door but say nothing about the liveness model.

Results are also given per source: the part of the file name before ``__`` (the shared
liveness set names its frames ``SOURCE__video_fNNNN.jpg``), else the folder. Frames of one
video are correlated, and within a source live and spoof frames often differ in device too, so
per-source figures show where a pooled one comes from.

Pure apart from ``score`` (the caller's image → live score function) and the plot.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatekeeper.decision import is_live
from gatekeeper.errors import UsageError

LABELS = ("live", "spoof")


@dataclass(frozen=True)
class Sample:
    """One labelled image: ``file`` as written in the labels file, its ``path``, its label."""

    file: str
    path: Path
    label: str

    @property
    def source(self) -> str:
        name = Path(self.file).name
        return name.split("__", 1)[0] if "__" in name else Path(self.file).parent.name or "."


@dataclass(frozen=True)
class Scored:
    """A sample and its largest face's live score (``None``: no face found)."""

    sample: Sample
    score: float | None


@dataclass(frozen=True)
class Rates:
    """APCER and BPCER (fractions; ``None`` without attacks or live faces) at ``threshold``,
    over ``attacks`` spoof and ``bona_fide`` live faces."""

    threshold: float
    apcer: float | None
    bpcer: float | None
    attacks: int
    bona_fide: int

    def as_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "apcer": self.apcer,
            "bpcer": self.bpcer,
            "attacks": self.attacks,
            "bona_fide": self.bona_fide,
        }


def read_labels(path: str | Path, images: str | Path | None = None) -> list[Sample]:
    """The ``file,label`` CSV (header row; label ``live`` or ``spoof``), paths relative to
    ``images`` (default: the CSV's folder). A bad label, a missing column or a missing image
    is a ``UsageError`` naming the line."""
    path = Path(path)
    root = Path(images) if images is not None else path.parent
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    samples = []
    for line, row in enumerate(rows, start=2):
        file, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        if not file or label not in LABELS:
            raise UsageError(f"{path}:{line}: expected 'file,label' with label live or spoof")
        image = root / file
        if not image.is_file():
            raise UsageError(f"{path}:{line}: no image {image}")
        samples.append(Sample(file, image, label))
    if not samples:
        raise UsageError(f"{path}: no labelled images")
    return samples


def rates(scored: Sequence[Scored], threshold: float) -> Rates:
    """APCER and BPCER at ``threshold`` over the samples with a face."""
    attacks = [s.score for s in scored if s.score is not None and s.sample.label == "spoof"]
    genuine = [s.score for s in scored if s.score is not None and s.sample.label == "live"]
    apcer = sum(is_live(x, threshold) for x in attacks) / len(attacks) if attacks else None
    bpcer = sum(not is_live(x, threshold) for x in genuine) / len(genuine) if genuine else None
    return Rates(threshold, apcer, bpcer, len(attacks), len(genuine))


def roc(scored: Sequence[Scored]) -> list[Rates]:
    """The rates at every distinct score (and 0 and 1): the whole APCER/BPCER trade-off."""
    scores = sorted({0.0, 1.0, *(s.score for s in scored if s.score is not None)})
    return [rates(scored, t) for t in scores]


def best_threshold(curve: Sequence[Rates]) -> Rates:
    """The point of the curve with the smallest APCER + BPCER (attacks first on a tie: the
    higher threshold)."""
    return min(
        reversed(curve), key=lambda r: (r.apcer or 0.0) + (r.bpcer or 0.0) + 1e-9 * (r.apcer or 0)
    )


@dataclass(frozen=True)
class LivenessEvaluation:
    """Every sample's score, the rates at the site's threshold (pooled and per source), the
    ROC and its best point."""

    scored: list[Scored]
    at_threshold: Rates
    per_source: dict[str, Rates]
    curve: list[Rates]
    best: Rates

    @property
    def no_face(self) -> list[Sample]:
        return [s.sample for s in self.scored if s.score is None]

    def as_dict(self) -> dict:
        return {
            "threshold": self.at_threshold.threshold,
            "at_threshold": self.at_threshold.as_dict(),
            "per_source": {k: v.as_dict() for k, v in self.per_source.items()},
            "best": self.best.as_dict(),
            "roc": [r.as_dict() for r in self.curve],
            "no_face": [s.file for s in self.no_face],
            "images": [
                {"file": s.sample.file, "label": s.sample.label, "live_score": s.score}
                for s in self.scored
            ],
        }


def evaluate_liveness(
    samples: Sequence[Sample],
    score: Callable[[Path], float | None],
    threshold: float,
    progress: Callable[[int, int, str], None] | None = None,
) -> LivenessEvaluation:
    """Score every sample with ``score(path)`` (the largest face's live score, ``None``
    without a face) and measure. ``progress(done, total, file)`` after each."""
    scored = []
    for done, sample in enumerate(samples, start=1):
        scored.append(Scored(sample, score(sample.path)))
        if progress is not None:
            progress(done, len(samples), sample.file)
    sources = sorted({s.sample.source for s in scored})
    per_source = {
        name: rates([s for s in scored if s.sample.source == name], threshold) for name in sources
    }
    curve = roc(scored)
    return LivenessEvaluation(
        scored, rates(scored, threshold), per_source, curve, best_threshold(curve)
    )


def plot_liveness(evaluation: LivenessEvaluation, path: str | Path) -> Path:
    """Draw the live-score histograms of live and spoof images with the threshold, and the ROC
    (BPCER against APCER, the site's point marked), to a PNG (matplotlib's Agg backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    figure = Figure(figsize=(12, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    hist, curve = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    bins = np.linspace(0.0, 1.0, 41)
    for label, colour in (("live", "tab:green"), ("spoof", "tab:red")):
        values = [
            s.score for s in evaluation.scored if s.sample.label == label and s.score is not None
        ]
        hist.hist(values, bins=bins, alpha=0.6, color=colour, label=f"{label} ({len(values)})")
    threshold = evaluation.at_threshold.threshold
    hist.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    hist.set_xlabel("live score")
    hist.set_ylabel("images")
    hist.legend()
    points = [
        (r.apcer, r.bpcer) for r in evaluation.curve if r.apcer is not None and r.bpcer is not None
    ]
    if points:
        apcer, bpcer = zip(*points, strict=True)
        curve.plot(np.array(apcer) * 100, np.array(bpcer) * 100, drawstyle="steps-post")
    site = evaluation.at_threshold
    if site.apcer is not None and site.bpcer is not None:
        curve.plot([site.apcer * 100], [site.bpcer * 100], "ko", label=f"threshold {threshold:.2f}")
        curve.legend()
    curve.set_xlabel("APCER % (attacks accepted)")
    curve.set_ylabel("BPCER % (live people rejected)")
    figure.tight_layout()
    figure.savefig(path)
    return path
