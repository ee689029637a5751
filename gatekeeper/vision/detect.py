"""Face detection with 5 landmarks: MTCNN (PyPI ``mtcnn``, TensorFlow, weights in the package).

Detection runs on a downscaled copy of the frame (the longer side at most ``max_side`` pixels)
and boxes and landmarks are mapped back to the original pixels; a 640×480 camera frame is thus
detected at 400×300, which is what keeps detection within the frame budget (see
docs/MEASUREMENTS.md). Tight face crops such as the tutorial's 96×96 ``images/`` are handled by
the engine's padded retries (:meth:`gatekeeper.vision.engine.FaceEngine.detect`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gatekeeper.vision.forward import Forward
from gatekeeper.vision.tfimport import import_tf

#: Longer side, in pixels, of the copy that MTCNN sees. Larger inputs are downscaled.
DEFAULT_MAX_SIDE = 400
#: Smallest face side MTCNN looks for, in pixels of the downscaled copy.
DEFAULT_MIN_FACE = 20
#: Minimum final (ONet) confidence for a face.
DEFAULT_MIN_SCORE = 0.9
_KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Face:
    """A detected face in image pixels.

    ``box`` is ``(x, y, w, h)`` (integers, may extend past the image border for partial faces);
    ``landmarks`` is float32 ``(5, 2)`` (x, y): left eye, right eye, nose, mouth left, mouth
    right, where left/right are as seen in the image; ``score`` is MTCNN's confidence in [0, 1].
    ``fallback`` is True when the box is the whole image, not a detection.
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    score: float
    fallback: bool = False

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


class FaceDetector:
    """MTCNN wrapper. Not thread-safe: use one detector per worker thread."""

    def __init__(
        self,
        max_side: int = DEFAULT_MAX_SIDE,
        min_face: int = DEFAULT_MIN_FACE,
        min_score: float = DEFAULT_MIN_SCORE,
    ):
        tf = import_tf()
        from mtcnn import MTCNN

        self.max_side = max_side
        self.min_face = min_face
        self.min_score = min_score
        self._mtcnn = MTCNN(device="CPU:0")
        # mtcnn runs its three Keras networks eagerly, layer by layer; compiling each one into a
        # graph (one trace each, whatever the input size) makes detection about three times
        # faster with the same detections (benchmarks/bench_vision.py,
        # tests/vision/test_engine.py::test_compiled_mtcnn_gives_what_eager_mtcnn_gives), once
        # the trace has paid for itself (see Forward).
        spec = tf.TensorSpec((None, None, None, 3), tf.float32)
        self.forwards = [Forward(stage.model, [spec]) for stage in self._mtcnn.stages]
        for stage, forward in zip(self._mtcnn.stages, self.forwards, strict=True):
            stage._model = forward

    def detect(
        self, rgb: np.ndarray, max_side: int | None = None, min_score: float | None = None
    ) -> list[Face]:
        """Faces in an RGB ``uint8 (H, W, 3)`` image, largest first.

        ``max_side`` overrides the detector's downscaling limit for this call (``0``: none),
        ``min_score`` its ONet confidence cut.
        """
        limit = self.max_side if max_side is None else max_side
        h, w = rgb.shape[:2]
        scale = min(1.0, limit / max(h, w)) if limit else 1.0
        small = rgb
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if min(small.shape[:2]) < 12:  # below PNet's receptive field: nothing to find
            return []
        found = self._mtcnn.detect_faces(
            np.ascontiguousarray(small),
            min_face_size=self.min_face,
            threshold_onet=self.min_score if min_score is None else min_score,
        )
        faces = []
        for item in found:
            bx, by, bw, bh = (v / scale for v in item["box"])
            marks = np.array([item["keypoints"][k] for k in _KEYPOINTS], dtype=np.float32)
            faces.append(
                Face(
                    box=(round(bx), round(by), round(bw), round(bh)),
                    landmarks=(marks + 0.5) / scale - 0.5,
                    score=float(item["confidence"]),
                )
            )
        return sorted(faces, key=lambda f: f.area, reverse=True)
