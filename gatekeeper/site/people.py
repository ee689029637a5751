"""The site's people: who is enrolled, enrolment from photos, a camera frame or a folder, the
templates re-encoded, a person (de)activated or removed."""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gatekeeper.decision import DLIB_MODEL, is_live
from gatekeeper.errors import (
    DuplicateFaceError,
    GatekeeperError,
    ImageError,
    LowQualityFaceError,
    NoFaceError,
    SpoofFaceError,
    UsageError,
)
from gatekeeper.recognition import Box
from gatekeeper.site.images import SourceImage, as_source
from gatekeeper.site.recognise import single_face
from gatekeeper.store import NewEncoding, PersonInfo, RemovalReport
from gatekeeper.vision.image import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from gatekeeper.site.core import Site


@dataclass(frozen=True)
class EnrolResult:
    """What ``enrol`` stored: ``added`` photos (``duplicates``: already enrolled, skipped),
    ``encodings`` ``(model id, count)`` the templates they gave, one per photo and encoder,
    and, for each photo whose face is below the enrolment bar, ``(photo, reason)`` in
    ``low_quality`` (stored anyway: ``force``, or an ``import``); ``whole_image``: the photos
    stored through the whole-image fallback (no face detected, the whole crop taken);
    ``live_scores``: ``(photo, live score)`` of each stored photo whose liveness was measured
    (``liveness = "passive"``), recorded with its templates."""

    name: str
    added: int
    duplicates: int
    low_quality: tuple[tuple[str, str], ...] = ()
    whole_image: tuple[str, ...] = ()
    live_scores: tuple[tuple[str, float], ...] = ()
    encodings: tuple[tuple[str, int], ...] = ()

    def summary(self) -> str:
        """What was stored, as the People table counts it: ``1 photo, 2 encodings
        (1 dlib_resnet_v1, 1 facenet_keras_v1)``."""
        return describe_added(self.added, dict(self.encodings))


def describe_added(photos: int, encodings: Mapping[str, int]) -> str:
    """``photos`` enrolled and the ``encodings`` (model id → count) they gave, in words, the
    models in name order: ``2 photos, 4 encodings (2 dlib_resnet_v1, 2 facenet_keras_v1)``;
    ``0 photos`` alone."""
    text = plural(photos, "photo")
    total = sum(encodings.values())
    if total:
        per_model = ", ".join(f"{encodings[m]} {m}" for m in sorted(encodings) if encodings[m])
        text += f", {plural(total, 'encoding')} ({per_model})"
    return text


def plural(count: int, word: str) -> str:
    """``1 photo``, ``2 photos``, ``3 people``."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {'people' if word == 'person' else word + 's'}"


@dataclass
class ImportReport:
    """What ``import_folder`` did: photos enrolled per person, the ``encodings`` they gave (model
    id → count), files skipped and why, and the files enrolled as low-quality templates (with
    why) or through the whole-image fallback."""

    enrolled: dict[str, int] = field(default_factory=dict)
    encodings: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    low_quality: list[tuple[str, str]] = field(default_factory=list)
    whole_image: list[str] = field(default_factory=list)
    live_scores: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class ReencodeReport:
    """What ``reencode`` did: photos re-encoded with ``model_id``, photos that failed and why."""

    model_id: str
    reencoded: int = 0
    people: set[str] = field(default_factory=set)
    failed: list[tuple[str, str]] = field(default_factory=list)


class People:
    """Who is enrolled, and enrolment (``site.people``)."""

    def __init__(self, site: Site):
        self._site = site

    @property
    def _store(self):
        return self._site.store

    def list(self) -> list[PersonInfo]:
        """Everyone, active or not, ordered by name (by code point)."""
        return self._store.list_people()

    def get(self, name: str) -> PersonInfo | None:
        """The person called ``name`` (validated), or None."""
        return self._store.get_person(name)

    def check_name(self, name: str) -> str:
        """``name`` validated, if it names an enrolled person or may name a new one; raises
        ``UsageError`` when a new person may not be called so."""
        return self._store.check_name(name)

    def set_active(self, name: str, active: bool) -> None:
        """(De)activate a person: inactive people stay enrolled, recognised but denied."""
        self._store.set_active(name, active)

    def remove(self, name: str) -> RemovalReport:
        """Erase a person's encodings, kept photos and visitor crops; their attempts stay in
        the log."""
        return self._store.remove_person(name)

    def enrol(
        self,
        name: str,
        images: Sequence[str | Path | SourceImage],
        *,
        largest: bool = False,
        whole_image: bool = False,
        force: bool = False,
        allow_low_quality: bool = False,
    ) -> EnrolResult:
        """Enrol ``name`` from images that each show exactly one face (or the largest one).

        Every image is read, encoded and checked before anything is written: one bad image fails
        the whole call and leaves the store unchanged. The checks, each waived by ``force``:

        - the face must meet the enrolment bar (``vision/quality.py``), else
          :class:`LowQualityFaceError` — a low-detail template matches strangers;
          ``allow_low_quality`` (``import``) stores such faces as low-quality templates instead;
        - the face must not match a person enrolled under another name by the site's rule,
          else :class:`DuplicateFaceError` — one face, one name;
        - with ``liveness = "passive"``, a face from a camera (``SourceImage.live_capture``:
          the console's camera enrolment) must be judged live, else :class:`SpoofFaceError` —
          a template taken from a photo held up to the camera lets whoever holds it in. A photo
          *file* is not a presentation to a camera (a badge photo is a photo): its live score
          is measured and recorded with its templates (``live_scores``), never a refusal.

        The quality is stored with each encoding; with FaceNet available, a FaceNet template of
        each photo is stored too. An image already enrolled for this person (same sha256) is
        counted as a duplicate, not stored twice. Everything is stored in one transaction
        (``Store.add_encodings``): a failure, or a kill, stores nothing.
        """
        from gatekeeper.vision.quality import measure_quality

        site, recognition = self._site, self._site.recognition
        settings = site.settings
        name = self._store.check_name(name)
        if not images:
            raise UsageError("no images given")
        sources = [as_source(i) for i in images]
        encoded = []
        with site.engine_in_use() as engine:
            for source in sources:
                face = single_face(engine, source, largest=largest, whole_image=whole_image)
                quality = measure_quality(face.face, face.chip)
                if quality.low and not (force or allow_low_quality):
                    raise LowQualityFaceError(f"{source.label}: {quality.issue}")
                others = recognition.other_embeddings(engine, source.rgb, face)
                if not force:
                    self._refuse_other_person(name, source, face, others)
                live_score = None
                if settings.liveness == "passive":
                    live_score = float(engine.live_scores(source.rgb, [face.face])[0])
                    live = is_live(live_score, settings.liveness_threshold)
                    if source.live_capture and not live and not force:
                        raise SpoofFaceError(
                            f"{source.label}: the face looks like a photo or a screen, not a "
                            f"live person (live score {live_score:.2f} < "
                            f"{settings.liveness_threshold:.2f})"
                        )
                encoded.append((source, face, quality, others, live_score))
        templates: list[NewEncoding] = []
        firsts = []
        for source, face, quality, others, live_score in encoded:
            record = {**quality.as_record(), "live_score": live_score}
            firsts.append(len(templates))
            templates.append(
                NewEncoding(
                    DLIB_MODEL, face.embedding, source.sha256, source.data, source.suffix, record
                )
            )
            templates += [
                NewEncoding(model_id, vector, source.sha256, quality=record)
                for model_id, vector in others.items()
            ]
        stored = self._store.add_encodings(name, templates)
        new = [entry for entry, i in zip(encoded, firsts, strict=True) if stored[i]]
        per_model = Counter(t.model_id for t, kept in zip(templates, stored, strict=True) if kept)
        return EnrolResult(
            name,
            len(new),
            len(encoded) - len(new),
            tuple(
                (source.label, quality.issue or "")
                for source, _, quality, _, _ in new
                if quality.low
            ),
            tuple(source.label for source, face, _, _, _ in new if face.face.fallback),
            tuple((source.label, score) for source, _, _, _, score in new if score is not None),
            tuple(per_model.items()),
        )

    def _refuse_other_person(
        self, name: str, source: SourceImage, face, others: Mapping[str, np.ndarray]
    ) -> None:
        """Raise :class:`DuplicateFaceError` when ``face`` is, by the site's rule, a person
        enrolled under a name other than ``name``; ``others`` are its other encoders'
        embeddings by model id, already made for its templates (engine held by the caller)."""
        given = {model_id: vector[None] for model_id, vector in others.items()}
        recognition = self._site.recognition
        (verdict,) = recognition.judge(source.rgb, [face], liveness=False, embeddings=given)
        match = verdict.match
        if verdict.decision != "unknown" and match.name != name:
            raise DuplicateFaceError(
                f"{source.label}: this face matches {match.name!r} ({match.distance:.2f})"
            )

    def enrol_frame(self, name: str, rgb: np.ndarray, *, force: bool = False) -> EnrolResult:
        """Enrol ``name`` from a camera frame (RGB array) showing exactly one face."""
        return self.enrol(name, [SourceImage.from_frame(rgb)], force=force)

    def enrolment_face(self, source: SourceImage, *, largest: bool = False) -> Box:
        """The box ``(x, y, w, h)`` of the face :meth:`enrol` would take from ``source`` (with
        the same ``largest``), to show before enrolling; nothing is stored. Raises as
        :meth:`enrol` does for no face or several."""
        with self._site.engine_in_use() as engine:
            face = single_face(engine, source, largest=largest, whole_image=False)
        return face.face.box

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
        is allowed (the tutorial's crops are tight) for crops that still look like a face
        (``FaceEngine.looks_like_a_face_crop``), and such files are listed in ``whole_image``.
        Each file stands alone: a bad one is
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
                result = self.enrol(name, [path], whole_image=True, allow_low_quality=True)
            except GatekeeperError as exc:
                report.skipped.append((str(path), str(exc)))
            else:
                if result.added:
                    report.enrolled[result.name] = (
                        report.enrolled.get(result.name, 0) + result.added
                    )
                for model, count in result.encodings:
                    report.encodings[model] = report.encodings.get(model, 0) + count
                if result.duplicates:
                    report.duplicates.append(str(path))
                report.low_quality += [(str(path), why) for _, why in result.low_quality]
                report.whole_image += [str(path) for _ in result.whole_image]
                report.live_scores += [(str(path), score) for _, score in result.live_scores]
            if progress is not None:
                progress(done, len(jobs), str(path))
        self._store.log_admin_event(
            "import",
            f"{root}: {sum(report.enrolled.values())} encodings for {len(report.enrolled)} "
            f"people ({len(report.low_quality)} low-quality, "
            f"{len(report.whole_image)} whole-image), {len(report.skipped)} skipped",
        )
        return report

    def reencode(
        self, *, progress: Callable[[int, int, str], None] | None = None
    ) -> ReencodeReport:
        """Rebuild every kept enrolment photo's templates with every installed encoder of the
        rule and measure each face's quality (and, with ``liveness = "passive"``, its live
        score) again.

        Each photo stands alone: one that is missing, unreadable or shows no face any more is
        reported in ``failed`` and the rest are re-encoded; an encoding of the same model and
        image is replaced, the kept photo is reused. ``progress(done, total, path)`` is called
        after each photo. Records a ``reencode`` event.
        """
        from gatekeeper.vision.quality import measure_quality

        site = self._site
        photos = self._store.list_photos()
        report = ReencodeReport(site.model_id)
        for done, photo in enumerate(photos, start=1):
            try:
                source = SourceImage.from_path(photo.path)
                with site.engine_in_use() as engine:
                    face = single_face(engine, source, largest=True, whole_image=True)
                    others = site.recognition.other_embeddings(engine, source.rgb, face)
                    live = None
                    if site.settings.liveness == "passive":
                        live = float(engine.live_scores(source.rgb, [face.face])[0])
            except (ImageError, NoFaceError) as exc:
                report.failed.append((str(photo.path), str(exc)))
            else:
                record = {**measure_quality(face.face, face.chip).as_record(), "live_score": live}
                templates = [(DLIB_MODEL, face.embedding), *others.items()]
                self._store.add_encodings(
                    photo.name,
                    [
                        NewEncoding(model_id, embedding, photo.image_sha256, quality=record)
                        for model_id, embedding in templates
                    ],
                    replace=True,
                )
                report.model_id = ", ".join(model_id for model_id, _ in templates)
                report.reencoded += 1
                report.people.add(photo.name)
            if progress is not None:
                progress(done, len(photos), str(photo.path))
        self._store.log_admin_event(
            "reencode",
            f"{report.reencoded} photos of {len(report.people)} people re-encoded with "
            f"{report.model_id}, {len(report.failed)} failed",
        )
        return report
