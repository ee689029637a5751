"""Face alignment: map the detector's 5 landmarks onto the chip geometry of the encoder.

The encoder expects dlib's 5-point face chip: 150×150 pixels, padding 0.25. dlib builds that chip
from *its own* 5 landmarks (eye corners and the base of the nose); the detector (YuNet, see
``vision/detect.py``) gives other points (eye centres, nose tip, mouth corners).
:data:`CHIP_TEMPLATE` says where the detector's points fall on dlib's chip. It was fitted from
data by ``scripts/fit_chip_template.py``: on every face of the shared photos, dlib's own pipeline
(HOG detector, 5-point shape predictor, ``get_face_chip``) gives the exact image→chip similarity
transform, the detector's landmarks of the same face are mapped through it, and the template is
their mean. At run time a least-squares similarity transform (rotation,
uniform scale, translation) takes the detected landmarks onto the template.
"""

from __future__ import annotations

import cv2
import numpy as np

from gatekeeper.vision.encoder import CHIP_SIZE

#: YuNet's landmarks (left eye, right eye, nose, mouth left, mouth right; x, y) in dlib's 150×150
#: chip with padding 0.25, fitted by ``scripts/fit_chip_template.py`` (see the module docstring;
#: MTCNN's, before YuNet replaced it, were [46.78, 44.52], [100.82, 44.59], [73.30, 76.82],
#: [47.57, 103.00], [99.42, 102.51]).
CHIP_TEMPLATE = np.array(
    [
        [45.2178, 45.9707],
        [102.1453, 45.0946],
        [73.5523, 78.7681],
        [50.0802, 104.3171],
        [98.8151, 104.5955],
    ],
    dtype=np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama, no reflection) taking ``src`` onto ``dst``.

    ``src`` and ``dst`` are ``(N, 2)`` point sets, N ≥ 2. Returns the ``(2, 3)`` float64 matrix
    ``M`` with ``dst ≈ src @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ d @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (sigma * np.diag(d)).sum() / variance if variance > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def chip_transform(landmarks: np.ndarray, template: np.ndarray = CHIP_TEMPLATE) -> np.ndarray:
    """The ``(2, 3)`` image→chip similarity transform for detected ``landmarks`` ``(5, 2)``
    (``template``: where those points fall on the chip, :data:`CHIP_TEMPLATE`)."""
    return similarity_transform(landmarks, template)


def extract_chip(rgb: np.ndarray, matrix: np.ndarray, size: int = CHIP_SIZE) -> np.ndarray:
    """Warp the image through an image→chip transform into a ``(size, size, 3)`` chip.

    When the face is much larger than the chip, the image is first shrunk with area averaging
    (like dlib's pyramid in ``extract_image_chip``) so that the bilinear warp does not alias.
    Pixels outside the image are black, as in dlib's chips.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        # Shrink only the part of the image the chip covers, to about twice the chip's scale.
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
        region = corners @ inverse.T
        h, w = rgb.shape[:2]
        x0, y0 = np.clip(np.floor(region.min(axis=0)).astype(int) - 2, 0, [w, h])
        x1, y1 = np.clip(np.ceil(region.max(axis=0)).astype(int) + 2, 0, [w, h])
        if x1 > x0 and y1 > y0:
            factor = 2 * scale
            crop = rgb[y0:y1, x0:x1]
            out_size = (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor)))
            rgb = cv2.resize(crop, out_size, interpolation=cv2.INTER_AREA)
            fx, fy = out_size[0] / (x1 - x0), out_size[1] / (y1 - y0)
            # crop-and-resize maps image (x, y) to ((x - x0 + 0.5) * fx - 0.5, ...); compose.
            to_small = np.array([[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5]])
            matrix = matrix @ np.vstack([cv2.invertAffineTransform(to_small), [0, 0, 1]])
    return cv2.warpAffine(
        rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def align_face(
    rgb: np.ndarray, landmarks: np.ndarray, template: np.ndarray = CHIP_TEMPLATE
) -> np.ndarray:
    """The encoder's input chip, uint8 RGB ``(150, 150, 3)``, for one face's landmarks."""
    return extract_chip(rgb, chip_transform(landmarks, template))
