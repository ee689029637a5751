"""Use cases shared by the command line and the console: one ``Gatekeeper`` per site.

``Gatekeeper`` joins the store (people, encodings, the access log) and the recognition engine
(loaded lazily: TensorFlow takes seconds to import, and commands such as ``log`` or ``export``
never need it). Inputs are validated before the engine is loaded or anything is written, so a
bad argument fails fast and leaves the database unchanged. Embeddings never leave this layer in
printable form.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

import numpy as np

from gatekeeper.config import Settings
from gatekeeper.decision import DLIB_MODEL, validate_threshold
from gatekeeper.errors import GatekeeperError, ImageError, NoFaceError, UsageError
from gatekeeper.recognition import Gallery, Match
from gatekeeper.store import (
    AttemptFilter,
    RemovalReport,
    Store,
    export_csv,
    open_store,
    validate_name,
)
from gatekeeper.vision.image import decode_image, read_image_bytes

#: Image file suffixes that ``import`` picks up.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Camera id recorded for attempts made from the command line.
CLI_CAMERA = "cli"


@dataclass(frozen=True)
class SourceImage:
    """An image to enrol or identify: its bytes (kept as evidence), decoded pixels, identity."""

    label: str
    data: bytes
    rgb: np.ndarray
    suffix: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @classmethod
    def from_path(cls, path: str | Path) -> SourceImage:
        path = Path(path)
        data = read_image_bytes(path)
        suffix = path.suffix.lower() if path.suffix.lower() in IMAGE_SUFFIXES else ".img"
        return cls(str(path), data, decode_image(data, name=str(path)), suffix)


@dataclass(frozen=True)
class Identification:
    """One face of an identified image: where, who (``None``: unknown), how close.

    ``distance`` is the L2 distance to the closest enrolled person (``None`` with an empty
    gallery), ``margin`` the runner-up's distance minus it; ``decision`` is ``granted``,
    ``denied`` (recognised but deactivated) or ``unknown``.
    """

    box: tuple[int, int, int, int]
    identity: str | None
    distance: float | None
    threshold: float
    margin: float | None
    decision: str
    attempt_id: int | None = None

    def as_dict(self) -> dict:
        return {
            "identity": self.identity,
            "distance": self.distance,
            "threshold": self.threshold,
            "margin": self.margin,
            "decision": self.decision,
            "box": list(self.box),
        }


@dataclass(frozen=True)
class EnrolResult:
    name: str
    added: int
    duplicates: int


@dataclass
class ImportReport:
    """What ``import_folder`` did: encodings added per person, files skipped and why."""

    enrolled: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ReencodeReport:
    """What ``reencode`` did: photos re-encoded with ``model_id``, photos that failed and why."""

    model_id: str
    reencoded: int = 0
    people: set[str] = field(default_factory=set)
    failed: list[tuple[str, str]] = field(default_factory=list)


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO-8601 date or date-time as an aware UTC datetime.

    Without a UTC offset the time is local. A bare date is midnight (local) at its start, or
    with ``end_of_day`` at its end (the next midnight). Raises ``ValueError`` for other text.
    """
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
    else:
        moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time())
    return moment.astimezone(UTC)


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


class Gatekeeper:
    """One site's store and recognition engine, and the operations on them.

    Thread safety: store calls may come from any thread (each opens its own connection); the
    engine is used under a lock, since TensorFlow models here are driven from one thread at a
    time.
    """

    def __init__(self, settings: Settings, *, store: Store | None = None, engine=None):
        self.settings = settings
        self.store = store or open_store(
            settings.database,
            images_dir=settings.images_dir,
            busy_timeout_s=settings.busy_timeout_s,
            audit_key=settings.audit_key,
        )
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._gallery: tuple[int, Gallery, frozenset[int]] | None = None
        self._gallery_lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gatekeeper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # The engine, lazily.

    @property
    def engine(self):
        """The :class:`~gatekeeper.vision.engine.FaceEngine`, loaded on first use (seconds)."""
        with self._engine_lock:
            if self._engine is None:
                from gatekeeper.vision.engine import FaceEngine

                self._engine = FaceEngine(self.settings.weights_dir)
            return self._engine

    @contextlib.contextmanager
    def engine_in_use(self) -> Iterator:
        """The engine, held for this thread alone for the block (loaded first if needed): the
        console's recognition worker and an enrolment in another thread take turns."""
        engine = self.engine
        with self._engine_lock:
            yield engine

    @property
    def model_id(self) -> str:
        from gatekeeper.vision.encoder import MODEL_ID

        return self._engine.model_id if self._engine is not None else MODEL_ID

    # Threshold.

    @property
    def threshold(self) -> float:
        """The site's L2 distance threshold: set with ``set_threshold``, else the settings'."""
        return self.store.get_threshold(self.settings.threshold)

    def set_threshold(self, value: float) -> None:
        """Set the site's threshold after :func:`~gatekeeper.decision.validate_threshold`."""
        self.store.set_threshold(validate_threshold(value, model_id=DLIB_MODEL))

    # Gallery.

    def gallery(self) -> tuple[Gallery, frozenset[int]]:
        """The enrolled templates of everyone, and the ids of the *active* people.

        Rebuilt only when the store's data version changes (one cheap query per call), and
        swapped as one object: a reader never sees a half-updated gallery, and a person enrolled
        or removed from another process is matched or forgotten without a restart.
        """
        version = self.store.data_version()
        with self._gallery_lock:
            if self._gallery is None or self._gallery[0] != version:
                data = self.store.gallery(self.model_id, include_inactive=True)
                gallery = Gallery(
                    data.names, data.embeddings, model_id=self.model_id, person_ids=data.person_ids
                )
                active = frozenset(
                    pid for pid, ok in zip(data.person_ids, data.active, strict=True) if ok
                )
                self._gallery = (data.version, gallery, active)
            return self._gallery[1], self._gallery[2]

    # Enrolment.

    def enrol(
        self,
        name: str,
        images: Sequence[str | Path | SourceImage],
        *,
        largest: bool = False,
        whole_image: bool = False,
    ) -> EnrolResult:
        """Enrol ``name`` from images that each show exactly one face (or the largest one).

        Every image is read and encoded before anything is written: one bad image fails the
        whole call and leaves the store unchanged. An image already enrolled for this person
        (same sha256) is counted as a duplicate, not stored twice.
        """
        name = validate_name(name)
        if not images:
            raise UsageError("no images given")
        sources = [i if isinstance(i, SourceImage) else SourceImage.from_path(i) for i in images]
        encoded = []
        for source in sources:
            face = self._single(source, largest=largest, whole_image=whole_image)
            encoded.append((source, face.embedding))
        added = 0
        for source, embedding in encoded:
            added += self.store.add_encoding(
                name,
                model_id=self.model_id,
                embedding=embedding,
                image_sha256=source.sha256,
                photo=source.data,
                photo_ext=source.suffix,
            )
        return EnrolResult(name, added, len(encoded) - added)

    def enrol_frame(self, name: str, rgb: np.ndarray) -> EnrolResult:
        """Enrol ``name`` from a camera frame (RGB array) showing exactly one face."""
        import cv2

        ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
        if not ok:
            raise ImageError("cannot encode the camera frame")
        return self.enrol(name, [SourceImage("camera frame", png.tobytes(), rgb, ".png")])

    def embedding(
        self, image: str | Path, *, largest: bool = False, whole_image: bool = False
    ) -> np.ndarray:
        """The ``float32 (128,)`` embedding of an image's one face (or its largest, with
        ``largest``), for measurements such as pair evaluation; nothing is stored."""
        source = SourceImage.from_path(image)
        return self._single(source, largest=largest, whole_image=whole_image).embedding

    def _single(self, source: SourceImage, *, largest: bool, whole_image: bool):
        with self.engine_in_use() as engine:
            return engine.single(
                source.rgb, largest=largest, whole_image=whole_image, name=source.label
            )

    def import_folder(
        self,
        folder: str | Path,
        *,
        exclude: Sequence[str] = (),
        progress: Callable[[int, int, str], None] | None = None,
    ) -> ImportReport:
        """The tutorial's ``prepare_database``: each image's file stem is the identity.

        ``folder/NAME.jpg`` enrols NAME; ``folder/NAME/*.jpg`` enrols NAME from every photo in
        the sub-folder. Images are face crops or photos with one face; the whole-image fallback
        is allowed (the tutorial's crops are tight). Each file stands alone: a bad one is
        skipped with its reason and the rest are imported. Entries whose name matches one of
        the ``exclude`` glob patterns (e.g. ``camera_*``) are left out. ``progress(done, total,
        path)`` is called after each file.
        """
        root = Path(folder)
        if not root.is_dir():
            raise UsageError(f"{root}: not a directory")
        jobs = []
        for entry in sorted(root.iterdir()):
            if any(fnmatch.fnmatch(entry.name, pattern) for pattern in exclude):
                continue
            if entry.is_dir():
                photos = sorted(p for p in entry.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                jobs += [(entry.name, p) for p in photos]
            elif entry.suffix.lower() in IMAGE_SUFFIXES:
                jobs.append((entry.stem, entry))
        report = ImportReport()
        for done, (name, path) in enumerate(jobs, start=1):
            try:
                result = self.enrol(name, [path], whole_image=True)
            except GatekeeperError as exc:
                report.skipped.append((str(path), str(exc)))
            else:
                if result.added:
                    report.enrolled[result.name] = (
                        report.enrolled.get(result.name, 0) + result.added
                    )
                if result.duplicates:
                    report.duplicates.append(str(path))
            if progress is not None:
                progress(done, len(jobs), str(path))
        self.store.log_admin_event(
            "import",
            f"{root}: {sum(report.enrolled.values())} encodings for {len(report.enrolled)} "
            f"people, {len(report.skipped)} skipped",
        )
        return report

    def reencode(
        self, *, progress: Callable[[int, int, str], None] | None = None
    ) -> ReencodeReport:
        """Re-encode every kept enrolment photo with the current model (after a model change).

        Each photo stands alone: one that is missing, unreadable or shows no face any more is
        reported in ``failed`` and the rest are re-encoded; an encoding of the same model and
        image is replaced, the kept photo is reused. ``progress(done, total, path)`` is called
        after each photo. Records a ``reencode`` event.
        """
        photos = self.store.list_photos()
        report = ReencodeReport(self.model_id)
        for done, photo in enumerate(photos, start=1):
            try:
                embedding = self.embedding(photo.path, largest=True, whole_image=True)
            except (ImageError, NoFaceError) as exc:
                report.failed.append((str(photo.path), str(exc)))
            else:
                report.model_id = self.model_id
                self.store.add_encoding(
                    photo.name,
                    model_id=report.model_id,
                    embedding=embedding,
                    image_sha256=photo.image_sha256,
                    photo=None,
                    replace=True,
                )
                report.reencoded += 1
                report.people.add(photo.name)
            if progress is not None:
                progress(done, len(photos), str(photo.path))
        self.store.log_admin_event(
            "reencode",
            f"{report.reencoded} photos of {len(report.people)} people re-encoded with "
            f"{report.model_id}, {len(report.failed)} failed",
        )
        return report

    def remove(self, name: str) -> RemovalReport:
        """Erase a person's encodings and kept photos; their attempts stay in the log."""
        return self.store.remove_person(name)

    # Recognition.

    def match_embeddings(
        self, embeddings: np.ndarray, *, threshold: float | None = None
    ) -> list[tuple[Match, str]]:
        """Match ``(N, 128)`` embeddings against the gallery → (match, decision) per face.

        The decision is ``unknown`` above ``threshold`` (default: the site's), ``denied`` for a
        deactivated person, else ``granted``. (The console's worker adds its K-of-N vote on top
        of this, and passes the threshold it records with the attempts.)
        """
        if len(embeddings) == 0:
            return []
        gallery, active = self.gallery()
        if threshold is None:
            threshold = self.threshold
        matches = gallery.match(np.asarray(embeddings), model_id=self.model_id)
        return [
            (
                m,
                "unknown"
                if not m.is_known(threshold)
                else "granted"
                if m.person_id in active
                else "denied",
            )
            for m in matches
        ]

    def identify(
        self, image: str | Path | SourceImage, *, camera_id: str = CLI_CAMERA, record: bool = True
    ) -> list[Identification]:
        """The tutorial's ``who_is_it`` for every face of an image, each recorded as an attempt."""
        source = image if isinstance(image, SourceImage) else SourceImage.from_path(image)
        with self.engine_in_use() as engine:
            faces = engine.analyze(source.rgb)
        threshold = self.threshold
        embeddings = np.stack([f.embedding for f in faces]) if faces else []
        matched = self.match_embeddings(embeddings, threshold=threshold)
        results = []
        for face, (match, decision) in zip(faces, matched, strict=True):
            identity = match.name if decision != "unknown" else None
            attempt_id = None
            if record:
                attempt_id = self.store.record_attempt(
                    camera_id=camera_id,
                    name=identity,
                    person_id=match.person_id if identity else None,
                    distance=_finite(match.distance),
                    threshold=threshold,
                    decision=decision,
                    model_id=self.model_id,
                    box=face.face.box,
                )
            results.append(
                Identification(
                    box=face.face.box,
                    identity=identity,
                    distance=_finite(match.distance),
                    threshold=threshold,
                    margin=_finite(match.margin),
                    decision=decision,
                    attempt_id=attempt_id,
                )
            )
        return results

    def verify(self, first: str | Path, second: str | Path) -> tuple[float, float, bool]:
        """L2 distance between the single faces of two images, the threshold, and same-person."""
        a, b = SourceImage.from_path(first), SourceImage.from_path(second)
        ea = self._single(a, largest=False, whole_image=False).embedding
        eb = self._single(b, largest=False, whole_image=False).embedding
        distance = float(np.linalg.norm(ea - eb))
        threshold = self.threshold
        return distance, threshold, distance <= threshold

    # The log.

    def export(self, out: TextIO, filter: AttemptFilter, *, destination: str | None = None) -> int:
        """Write the access log as CSV (see :func:`gatekeeper.store.export_csv`); row count."""
        return export_csv(self.store, filter, out, destination=destination)
