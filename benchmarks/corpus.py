"""The validation corpus measured once: every photo of ``benchmarks/validation/manifest.csv``
through the pipeline's detector and every installed encoder, cached by the photo's sha256.

The measures (embeddings of public photos) are kept in a cache file outside the repository
(``--cache``, default ``/work/validation/measures.npz``); a photo, an encoder or the detector
that changed is measured again. ``load_corpus`` gives a :class:`gatekeeper.heldout.Corpus`.

Which face of a photo: the largest, as an enrolment photo; for LFW's photos, whose labelled
person is the face in the middle of the 250×250 crop (LFW's own detector centred it; other
people often stand beside), the face nearest the centre.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gatekeeper.heldout import Corpus

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "benchmarks" / "validation" / "manifest.csv"
PHOTOS = Path("/work/validation/photos")
CACHE = Path("/work/validation/measures.npz")
#: Sources whose labelled face is the one nearest the image centre.
CENTRED_SOURCES = ("lfw",)


def read_manifest(path: Path = MANIFEST) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _key(row: dict[str, str]) -> str:
    """A photo's cache key: its source's sha256 and its file (a degraded copy shares the
    source's sha256)."""
    return f"{row['sha256']}:{row['file']}"


def _centred(row: dict[str, str]) -> bool:
    return row["source"].startswith(CENTRED_SOURCES) and "lfw" in row["source_repo"]


def _pipeline_id(engine) -> str:
    """What the measures depend on: the detector and every encoder's model id."""
    parts = [type(engine.detector).__name__, engine.model_id]
    parts += [encoder.model_id for encoder in _extra_encoders(engine).values()]
    return "|".join(parts)


def _extra_encoders(engine) -> dict[str, object]:
    """Encoders beyond dlib, by short name, that the engine has."""
    found = {"sface": engine.sface, "facenet": engine.facenet}
    return {name: encoder for name, encoder in found.items() if encoder is not None}


def measure_photo(engine, rgb: np.ndarray, *, centred: bool) -> dict[str, object] | None:
    """The chosen face of ``rgb``: each encoder's embedding, its width and whether it is below
    the enrolment bar; None without a face."""
    from gatekeeper.vision.quality import measure_quality

    faces = engine.detect(rgb)
    if not faces:
        return None
    face = faces[0]
    if centred:
        h, w = rgb.shape[:2]
        face = min(
            faces,
            key=lambda f: (
                (f.box[0] + f.box[2] / 2 - w / 2) ** 2 + (f.box[1] + f.box[3] / 2 - h / 2) ** 2
            ),
        )
    (embedded,) = engine.embed_faces(rgb, [face])
    measures: dict[str, object] = {}
    sface = engine.sface_embed(rgb, [face])
    if sface is not None:
        measures["sface"] = sface[0]
    measures["dlib"] = embedded.embedding
    facenet = engine.facenet_embed(rgb, [face])
    if facenet is not None:
        measures["facenet"] = facenet[0]
    quality = measure_quality(embedded.face, embedded.chip)
    measures.update(width=float(face.box[2]), low=bool(quality.low))
    return measures


def measure_corpus(
    rows: list[dict[str, str]],
    photos: Path,
    cache: Path,
    *,
    weights: Path,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, object] | None]:
    """The measures of every row's photo by its key (None: no face), from ``cache`` where it
    holds them for this pipeline, else measured (and the cache rewritten)."""
    from gatekeeper.vision.engine import FaceEngine
    from gatekeeper.vision.image import load_image

    engine = FaceEngine(weights)
    pipeline = _pipeline_id(engine)
    known: dict[str, dict[str, object] | None] = {}
    if cache.exists():
        stored = np.load(cache, allow_pickle=True)
        if str(stored["pipeline"]) == pipeline:
            known = stored["measures"].item()
    missing = [row for row in rows if _key(row) not in known]
    for done, row in enumerate(missing, start=1):
        path = photos / row["file"]
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if row["kind"] == "web" else None
        if digest is not None and digest != row["sha256"]:
            raise SystemExit(f"{path}: sha256 differs from the manifest (re-run fetch.py)")
        known[_key(row)] = measure_photo(engine, load_image(path), centred=_centred(row))
        if progress is not None:
            progress(done, len(missing))
    if missing:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, pipeline=np.array(pipeline), measures=np.array(known, dtype=object))
    return known


def load_corpus(rows: list[dict[str, str]], measures: dict[str, dict | None]) -> Corpus:
    """The measured photos (those with a face) as a :class:`Corpus`."""
    found = [(row, measures[_key(row)]) for row in rows if measures[_key(row)]]
    encoders = [k for k in found[0][1] if k not in ("width", "low")]
    return Corpus(
        identity=np.array([f"{row['source']}:{row['identity']}" for row, _ in found]),
        source=np.array([row["source"] for row, _ in found]),
        embeddings={
            name: np.stack([m[name] for _, m in found]).astype(np.float32) for name in encoders
        },
        width=np.array([m["width"] for _, m in found], dtype=np.float64),
        low_quality=np.array([m["low"] for _, m in found], dtype=bool),
    )
