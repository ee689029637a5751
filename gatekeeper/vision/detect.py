"""Face detection with 5 landmarks: OpenCV's YuNet (``cv2.FaceDetectorYN``, a 232 KB ONNX model
shipped in ``gatekeeper/vision/yunet/``), run by OpenCV's own DNN module: no TensorFlow.

YuNet replaced MTCNN (PyPI ``mtcnn``, a TensorFlow package) by measurement
(``benchmarks/bench_detector.py``; docs/DESIGN.md, "Detection and alignment"): it finds every
face MTCNN found on the shared photos, the validation photos and the liveness frames, and more;
its five landmarks are the same points (eye centres, nose tip, mouth corners), and it takes a
few milliseconds a frame where compiled MTCNN took about 50.

Everything downstream was calibrated on MTCNN's boxes (the FaceNet crop, the liveness box map,
the quality gates), and YuNet frames a face differently (a taller box that takes in the
forehead), so :data:`BOX_MAP` maps YuNet's box onto the box MTCNN gives for the same face, by a
fit on the shared photos. ``Face.box`` keeps its meaning; the landmarks are YuNet's own.

Detection runs on a downscaled copy of the frame (the longer side at most ``max_side`` pixels)
and boxes and landmarks are mapped back to the original pixels. Tight face crops such as the
tutorial's 96×96 ``images/`` are handled by the engine's padded retries
(:meth:`gatekeeper.vision.engine.FaceEngine.detect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from gatekeeper.errors import WeightsError
from gatekeeper.vision.weight_cache import sha256_file

#: Longer side, in pixels, of the copy that YuNet sees. Larger inputs are downscaled.
DEFAULT_MAX_SIDE = 400
#: Minimum YuNet confidence for a face.
DEFAULT_MIN_SCORE = 0.83
#: Non-maximum suppression: boxes overlapping a better one by more than this IoU are dropped.
NMS_THRESHOLD = 0.3
#: Most candidate boxes kept before suppression.
TOP_K = 5000
#: The shipped model and its sha256 (``face_detection_yunet_2023mar.onnx``, see its README).
MODEL_FILE = "face_detection_yunet_2023mar.onnx"
MODEL_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


@dataclass(frozen=True)
class Face:
    """A detected face in image pixels.

    ``box`` is ``(x, y, w, h)`` (integers, may extend past the image border for partial faces),
    on MTCNN's framing (see :data:`BOX_MAP`); ``landmarks`` is float32 ``(5, 2)`` (x, y): left
    eye, right eye, nose, mouth left, mouth right, where left/right are as seen in the image;
    ``score`` is the detector's confidence in [0, 1]. ``fallback`` is True when the box is the
    whole image, not a detection.
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    score: float
    fallback: bool = False

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


@dataclass(frozen=True)
class BoxMap:
    """YuNet box → MTCNN box: the centre moves by (``dx``, ``dy``) × YuNet's (w, h) and the
    size is scaled by (``sw``, ``sh``)."""

    dx: float
    dy: float
    sw: float
    sh: float

    def apply(self, x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        cx, cy = x + w / 2 + self.dx * w, y + h / 2 + self.dy * h
        nw, nh = w * self.sw, h * self.sh
        return cx - nw / 2, cy - nh / 2, nw, nh


#: Fitted by ``benchmarks/bench_detector.py --fit`` (medians over the faces both detectors find
#: on the shared photos; the figures are in docs/DESIGN.md).
BOX_MAP = BoxMap(dx=-0.009, dy=-0.005, sw=0.968, sh=0.975)


def model_path() -> Path:
    """Where the shipped YuNet model lies (inside the package)."""
    return Path(str(resources.files("gatekeeper.vision") / "yunet" / MODEL_FILE))


def model_problem() -> str | None:
    """Why the shipped detector model cannot be used (missing or altered), or ``None``."""
    path = model_path()
    if not path.is_file():
        return f"{path} is missing"
    if sha256_file(path) != MODEL_SHA256:
        return f"{path} is not the published YuNet model (sha256 differs)"
    return None


class FaceDetector:
    """YuNet through ``cv2.FaceDetectorYN``. Not thread-safe: use one detector per thread."""

    def __init__(
        self,
        max_side: int = DEFAULT_MAX_SIDE,
        min_score: float = DEFAULT_MIN_SCORE,
        box_map: BoxMap = BOX_MAP,
    ):
        problem = model_problem()
        if problem is not None:
            raise WeightsError(f"face detector: {problem}")
        self.max_side = max_side
        self.min_score = min_score
        self.box_map = box_map
        self._net = cv2.FaceDetectorYN.create(
            str(model_path()), "", (320, 320), min_score, NMS_THRESHOLD, TOP_K
        )

    def raw(self, bgr: np.ndarray, min_score: float) -> np.ndarray:
        """YuNet's output on a BGR ``uint8`` image as it is: float32 ``(N, 15)`` rows of box
        (x, y, w, h), five landmarks (x, y) and score, in the image's pixels."""
        h, w = bgr.shape[:2]
        self._net.setInputSize((w, h))
        self._net.setScoreThreshold(min_score)
        _, found = self._net.detect(bgr)
        return np.zeros((0, 15), np.float32) if found is None else found

    def detect(
        self, rgb: np.ndarray, max_side: int | None = None, min_score: float | None = None
    ) -> list[Face]:
        """Faces in an RGB ``uint8 (H, W, 3)`` image, largest first.

        ``max_side`` overrides the detector's downscaling limit for this call (``0``: none),
        ``min_score`` its confidence cut.
        """
        limit = self.max_side if max_side is None else max_side
        h, w = rgb.shape[:2]
        scale = min(1.0, limit / max(h, w)) if limit else 1.0
        small = rgb
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if min(small.shape[:2]) < 10:  # below YuNet's smallest face: nothing to find
            return []
        bgr = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2BGR)
        found = self.raw(bgr, self.min_score if min_score is None else min_score)
        faces = []
        for row in found:
            bx, by, bw, bh = (v / scale for v in self.box_map.apply(*row[:4]))
            marks = row[4:14].reshape(5, 2).astype(np.float32)
            faces.append(
                Face(
                    box=(round(bx), round(by), round(bw), round(bh)),
                    landmarks=(marks + 0.5) / scale - 0.5,
                    score=float(min(1.0, row[14])),
                )
            )
        return sorted(faces, key=lambda f: f.area, reverse=True)
