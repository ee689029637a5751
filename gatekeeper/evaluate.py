"""How well does the pipeline tell people apart? Accuracy on labelled image pairs.

A *pair* is two image paths and a label: the same person or two different people. The pipeline
embeds the (largest) face of each image; a pair is predicted "same" when the L2 distance between
the two embeddings is at most the threshold (the convention of :mod:`gatekeeper.recognition`).

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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatekeeper.errors import GatekeeperError, ImageError, NoFaceError, UsageError
from gatekeeper.service import IMAGE_SUFFIXES

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
    """A pair and the L2 distance between its two faces (``None`` when a face was not found;
    ``problem`` then says where)."""

    pair: Pair
    distance: float | None
    problem: str | None = None

    def as_dict(self) -> dict:
        return {
            "first": str(self.pair.first),
            "second": str(self.pair.second),
            "same": self.pair.same,
            "distance": self.distance,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Evaluation:
    """The outcome of :func:`evaluate_pairs` at ``threshold`` (an L2 distance).

    Rates are fractions in [0, 1] over the pairs that have a distance (``None`` when there are
    none of the kind): ``accuracy`` of the same/different prediction, ``far`` (false accepts /
    different pairs) and ``frr`` (false rejects / same pairs). ``best_threshold`` is the midpoint
    between two consecutive sorted distances with the highest accuracy (the closest to
    ``threshold`` among ties; ``threshold`` itself when there are fewer than two distinct
    distances), and ``best_accuracy`` its accuracy.
    """

    results: list[PairResult]
    threshold: float
    accuracy: float | None
    far: float | None
    frr: float | None
    best_threshold: float
    best_accuracy: float | None

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


Embedder = Callable[[Path], np.ndarray]
Progress = Callable[[int, int, str], None]


def evaluate_pairs(
    pairs: Sequence[Pair],
    embed: Embedder,
    threshold: float,
    *,
    progress: Progress | None = None,
) -> Evaluation:
    """Embed every image once, measure each pair's distance and score the predictions.

    ``embed(path)`` returns the ``float32 (128,)`` embedding of an image's face and raises
    ``NoFaceError`` when there is none (the pair is then skipped); any other
    ``GatekeeperError`` (an unreadable image) stops the run. Every image is checked to exist
    before the first is embedded, so a wrong ``--images`` folder fails at once.
    ``progress(done, total, path)`` is called after each image.
    """
    images = list(dict.fromkeys(p for pair in pairs for p in (pair.first, pair.second)))
    for pair in pairs:
        for image in (pair.first, pair.second):
            if not image.is_file():
                raise ImageError(f"{image}: no such file (pair on line {pair.line})")
    embeddings: dict[Path, np.ndarray | str] = {}
    for done, image in enumerate(images, start=1):
        try:
            embeddings[image] = np.asarray(embed(image), dtype=np.float32)
        except NoFaceError as exc:
            embeddings[image] = str(exc)
        if progress is not None:
            progress(done, len(images), str(image))
    results = []
    for pair in pairs:
        a, b = embeddings[pair.first], embeddings[pair.second]
        if isinstance(a, str) or isinstance(b, str):
            results.append(PairResult(pair, None, a if isinstance(a, str) else b))
        else:
            results.append(PairResult(pair, float(np.linalg.norm(a - b))))
    return score(results, threshold)


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
    and best thresholds as vertical lines, to a PNG file (matplotlib's Agg backend, no display).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    measured = [r for r in evaluation.results if r.distance is not None]
    same = [r.distance for r in measured if r.pair.same]
    different = [r.distance for r in measured if not r.pair.same]
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
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
    axes.set_xlabel("L2 distance between the two faces")
    axes.set_ylabel("pairs")
    axes.set_title("Pair distances by class")
    axes.legend()
    figure.tight_layout()
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise GatekeeperError(f"cannot write the plot {path}: {exc.strerror or exc}") from None
    return path
