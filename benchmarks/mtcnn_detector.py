"""MTCNN (PyPI ``mtcnn``, on TensorFlow), the detector Gatekeeper used before YuNet, for the
side-by-side measurement of ``bench_detector.py`` only (needs ``mtcnn`` and TensorFlow, which
the run path no longer imports). Same interface as :class:`gatekeeper.vision.detect.FaceDetector`:
``detect(rgb, max_side=None, min_score=None)`` → faces, largest first; its three networks
compiled with ``tf.function`` as Gatekeeper ran them (three times faster than eager, the same
detections)."""

from __future__ import annotations

import cv2
import numpy as np

from gatekeeper.vision.detect import Face
from gatekeeper.vision.tfimport import import_tf

#: Where MTCNN's landmarks fall on dlib's chip (``scripts/fit_chip_template.py`` with MTCNN).
CHIP_TEMPLATE = np.array(
    [[46.7815, 44.5204], [100.8200, 44.5934], [73.3048, 76.8166], [47.5650, 102.9991],
     [99.4215, 102.5139]],
    dtype=np.float32,
)  # fmt: skip
MAX_SIDE = 400
MIN_FACE = 20
MIN_SCORE = 0.9
_KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MtcnnDetector:
    def __init__(self, max_side: int = MAX_SIDE, min_score: float = MIN_SCORE) -> None:
        tf = import_tf()
        from mtcnn import MTCNN

        self.max_side = max_side
        self.min_score = min_score
        self._mtcnn = MTCNN(device="CPU:0")
        spec = tf.TensorSpec((None, None, None, 3), tf.float32)
        for stage in self._mtcnn.stages:
            stage._model = tf.function(stage.model, input_signature=[spec])

    def detect(self, rgb, max_side=None, min_score=None) -> list[Face]:
        limit = self.max_side if max_side is None else max_side
        h, w = rgb.shape[:2]
        scale = min(1.0, limit / max(h, w)) if limit else 1.0
        small = rgb
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if min(small.shape[:2]) < 12:
            return []
        found = self._mtcnn.detect_faces(
            np.ascontiguousarray(small),
            min_face_size=MIN_FACE,
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
