"""Face encodings and kept photos in the store: enrolling templates, the gallery a console
matches against, and the photos kept for re-encoding.

An enrolment is one ``store.change`` on the ``people`` and ``encodings`` parts (see
``gatekeeper.store.change``): every template of it is stored, or none. Its photos are written
(fsynced) to temporary files ``.NAME.tmp`` inside the transaction, renamed into place once it
has committed, and deleted when it fails; :func:`finish_photos`, run when a store is opened for
writing, finishes what a process killed meanwhile left.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from peewee import Database

from gatekeeper.errors import StoreError
from gatekeeper.store import people
from gatekeeper.store.change import Change
from gatekeeper.store.files import PRIVATE_FILE_MODE, make_private_folders
from gatekeeper.store.models import (
    EMBEDDING_DTYPE,
    EMBEDDING_SIZE,
    GALLERY_VERSION_KEY,
    FaceEncoding,
    Person,
    Setting,
    utc_now,
)
from gatekeeper.store.names import photo_folder, validate_name

if TYPE_CHECKING:
    from gatekeeper.store.store import Store

log = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_PHOTO_EXT_RE = re.compile(r"\.[a-z0-9]{1,10}")
#: The temporary file a kept photo is written to until its rows are committed
#: (``_write_temporary``); the group is the kept photo's name.
_TEMPORARY_PHOTO_RE = re.compile(r"\.([0-9a-f]{64}\.[a-z0-9]{1,10})\.tmp")

#: The ``face_encoding`` columns that hold a template's quality, in order.
QUALITY_COLUMNS = (
    "face_px",
    "sharpness",
    "pose",
    "detector_score",
    "live_score",
    "low_quality",
)


@dataclass(frozen=True)
class GalleryData:
    """The embeddings of one model id, one row per encoding.

    ``embeddings`` is ``float32 (M, 128)``; ``names``, ``person_ids``, ``active`` and
    ``low_quality`` (bool arrays ``(M,)``: the template's face was below the enrolment bar)
    describe each row; ``version`` is the ``data_version()`` this snapshot was read at.
    """

    names: list[str]
    person_ids: list[int]
    embeddings: np.ndarray = field(repr=False)  # biometric data: never in a log line
    active: np.ndarray
    version: int
    low_quality: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Each template's face width in pixels (NaN where not measured, before schema v3).
    face_px: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))


@dataclass(frozen=True)
class KeptPhoto:
    """A kept enrolment photo: whose, the SHA-256 of its source image, and its absolute path."""

    name: str
    image_sha256: str
    path: Path


@dataclass(frozen=True)
class NewEncoding:
    """One template to store with :meth:`Store.add_encodings` (the fields are those of
    :meth:`Store.add_encoding`)."""

    model_id: str
    embedding: np.ndarray = field(repr=False)  # biometric data: never in a log line
    image_sha256: str
    photo: bytes | None = field(default=None, repr=False)
    photo_ext: str = ".jpg"
    quality: Mapping[str, Any] | None = None


def _quality_values(quality: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The quality columns' values (all NULL without ``quality``); refuses unknown keys."""
    if quality is None:
        return (None,) * len(QUALITY_COLUMNS)
    unknown = set(quality) - set(QUALITY_COLUMNS)
    if unknown:
        raise ValueError(f"unknown quality keys: {', '.join(sorted(unknown))}")
    values = [quality.get(column) for column in QUALITY_COLUMNS]
    values[-1] = None if values[-1] is None else bool(values[-1])
    return tuple(values)


def _embedding_blob(embedding: Any) -> bytes:
    array = np.asarray(embedding, dtype=EMBEDDING_DTYPE)
    if array.shape != (EMBEDDING_SIZE,):
        raise ValueError(f"an embedding must have shape ({EMBEDDING_SIZE},), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("an embedding must be finite (no NaN or infinity)")
    return array.tobytes()


def _checked_encoding(
    encoding: NewEncoding,
) -> tuple[str, bytes, str, bytes | None, str, tuple[Any, ...]]:
    """``encoding`` validated: model id, embedding blob, sha256, photo, its extension and
    the quality columns' values; raises ``ValueError`` for what only a caller's bug causes."""
    model_id = encoding.model_id
    if not model_id or model_id != model_id.strip():
        raise ValueError(f"invalid model id {model_id!r}")
    blob = _embedding_blob(encoding.embedding)
    sha = encoding.image_sha256.lower()
    if not _SHA256_RE.fullmatch(sha):
        raise ValueError(f"image_sha256 must be 64 hex digits, got {encoding.image_sha256!r}")
    ext = encoding.photo_ext.lower()
    if encoding.photo is not None and not _PHOTO_EXT_RE.fullmatch(ext):
        raise ValueError(f"invalid photo extension {encoding.photo_ext!r}")
    return model_id, blob, sha, encoding.photo, ext, _quality_values(encoding.quality)


def _write_temporary(path: Path, data: bytes) -> Path:
    """Write ``data`` durably (fsynced) to the temporary file of the photo kept at ``path``,
    ``.NAME.tmp`` beside it, and return that file. Folders made for it are
    ``PRIVATE_FOLDER_MODE``, the file ``PRIVATE_FILE_MODE``."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        make_private_folders(path.parent, [])
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        with open(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"cannot keep photo {path}: {exc.strerror}") from None
    return temporary


def _kept_photo(temporary: Path) -> Path:
    """The kept photo a temporary file of ``_write_temporary`` becomes."""
    return temporary.with_name(temporary.name[1 : -len(".tmp")])


def add_encodings(
    store: Store, name: str, encodings: Sequence[NewEncoding], *, replace: bool
) -> list[bool]:
    """Store several encodings of ``name`` in one transaction (see ``Store.add_encodings``)."""
    name = validate_name(name)
    checked = [_checked_encoding(encoding) for encoding in encodings]
    temporaries: list[Path] = []
    try:
        with store.change("people", "encodings") as tx:
            stored = [
                _add_encoding(tx, store.images_dir, name, *values, replace, temporaries)
                for values in checked
            ]
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise
    for temporary in temporaries:
        try:
            os.replace(temporary, _kept_photo(temporary))
        except OSError as exc:
            log.warning("%s is put in place when the store is next opened: %s", temporary, exc)
    return stored


def _add_encoding(
    tx: Change,
    images_dir: Path,
    name: str,
    model_id: str,
    blob: bytes,
    sha: str,
    photo: bytes | None,
    ext: str,
    quality: tuple[Any, ...],
    replace: bool,
    temporaries: list[Path],
) -> bool:
    db = tx.db
    photo_path = f"{photo_folder(name)}/{sha}{ext}"
    person_id = people.person_id(db, name)
    if person_id is None:
        person_id = people.insert_person(tx, name, None)
    existing = (
        FaceEncoding.select(FaceEncoding.id)
        .where(
            (FaceEncoding.person == person_id)
            & (FaceEncoding.model_id == model_id)
            & (FaceEncoding.image_sha256 == sha)
        )
        .scalar(db)
    )
    if existing is not None and not replace:
        return False
    kept = (
        FaceEncoding.select(FaceEncoding.photo_path)
        .where(
            (FaceEncoding.person == person_id)
            & (FaceEncoding.image_sha256 == sha)
            & FaceEncoding.photo_path.is_null(False)
        )
        .scalar(db)
    )
    if kept is not None:
        stored_path: str | None = kept
    elif photo is not None:
        target = images_dir / photo_path
        if not target.exists():
            temporaries.append(_write_temporary(target, photo))
        stored_path = photo_path
    else:
        stored_path = None
    qualities = dict(zip(QUALITY_COLUMNS, quality, strict=True))
    if existing is not None:
        FaceEncoding.update(embedding=blob, photo_path=stored_path, **qualities).where(
            FaceEncoding.id == existing
        ).execute(db)
        detail = f"{name}: re-encoded image {sha[:12]} ({model_id})"
    else:
        FaceEncoding.insert(
            person=person_id,
            model_id=model_id,
            embedding=blob,
            image_sha256=sha,
            photo_path=stored_path,
            created=utc_now(),
            **qualities,
        ).execute(db)
        detail = f"{name}: added encoding of image {sha[:12]} ({model_id})"
    tx.bump_gallery()
    tx.log("enrol", detail)
    return True


def gallery(store: Store, model_id: str, *, include_inactive: bool) -> GalleryData:
    """All embeddings of ``model_id`` for matching (see ``Store.gallery``)."""
    query = (
        FaceEncoding.select(
            Person.name,
            Person.id,
            Person.active,
            FaceEncoding.embedding,
            FaceEncoding.low_quality,
            FaceEncoding.face_px,
        )
        .join(Person, on=FaceEncoding.person == Person.id)
        .where(FaceEncoding.model_id == model_id)
        .order_by(Person.name, FaceEncoding.id)
    )
    if not include_inactive:
        query = query.where(Person.active)
    db, dialect = store.db, store.dialect
    with dialect.snapshot(db):
        version = data_version(db)
        rows = list(dialect.stream(db, query, 5000))
    embeddings = (
        np.frombuffer(b"".join(row[3] for row in rows), dtype=EMBEDDING_DTYPE)
        .reshape(-1, EMBEDDING_SIZE)
        .astype(np.float32)
    )
    return GalleryData(
        names=[row[0] for row in rows],
        person_ids=[row[1] for row in rows],
        embeddings=embeddings,
        active=np.array([bool(row[2]) for row in rows], dtype=bool),
        version=version,
        low_quality=np.array([bool(row[4]) for row in rows], dtype=bool),
        face_px=np.array([np.nan if row[5] is None else row[5] for row in rows], dtype=float),
    )


def data_version(db: Database) -> int:
    """The gallery counter (see ``Store.data_version``)."""
    return int(Setting.select(Setting.value).where(Setting.key == GALLERY_VERSION_KEY).scalar(db))


def list_photos(store: Store, name: str | None) -> list[KeptPhoto]:
    """Kept enrolment photos, one per source image (see ``Store.list_photos``)."""
    query = (
        FaceEncoding.select(Person.name, FaceEncoding.image_sha256, FaceEncoding.photo_path)
        .distinct()
        .join(Person, on=FaceEncoding.person == Person.id)
        .where(FaceEncoding.photo_path.is_null(False))
        .order_by(Person.name, FaceEncoding.photo_path)
    )
    if name is not None:
        query = query.where(Person.name == validate_name(name))
    rows = store.db.execute(query).fetchall()
    return [KeptPhoto(row[0], row[1], store.images_dir / row[2]) for row in rows]


def finish_photos(store: Store) -> None:
    """Finish the photos of enrolments a killed process left half-done: a temporary photo
    whose rows were committed is renamed into place, one whose rows were not is deleted.
    Photos are written only inside write transactions, so once this holds the write lock
    no enrolment of this database is under way. Best effort: a failure is logged."""
    images_dir = store.images_dir
    try:
        if not _temporary_photos(images_dir):
            return
        with store.dialect.errors(store.db), store.change() as tx:
            named = {
                row[0]
                for row in tx.db.execute(
                    FaceEncoding.select(FaceEncoding.photo_path)
                    .distinct()
                    .where(FaceEncoding.photo_path.is_null(False))
                ).fetchall()
            }
            for temporary in _temporary_photos(images_dir):
                kept = _kept_photo(temporary)
                if f"{kept.parent.name}/{kept.name}" in named:
                    os.replace(temporary, kept)
                    log.warning("kept %s, written by an enrolment that was stopped", kept)
                else:
                    temporary.unlink(missing_ok=True)
                    log.warning("deleted %s, left by an enrolment that was stopped", temporary)
    except (OSError, StoreError) as exc:
        log.warning("cannot finish stopped enrolments in %s: %s", images_dir, exc)


def _temporary_photos(images_dir: Path) -> list[Path]:
    if not images_dir.is_dir():
        return []
    return [
        path
        for folder in images_dir.iterdir()
        if folder.is_dir()
        for path in folder.iterdir()
        if _TEMPORARY_PHOTO_RE.fullmatch(path.name)
    ]
