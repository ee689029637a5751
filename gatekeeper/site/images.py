"""An image to enrol or identify, as the site takes it: its bytes (kept as evidence), its
decoded pixels and where it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatekeeper.errors import ImageError
from gatekeeper.vision.image import IMAGE_SUFFIXES, decode_image, read_image_bytes


@dataclass(frozen=True)
class SourceImage:
    """An image to enrol or identify: its bytes (kept as evidence), decoded pixels, identity.

    ``live_capture``: the image is a camera's frame of whoever stands in front of it, which the
    liveness check judges; a file an operator chose (a badge photo, a scan, a kept visitor
    crop) is not a presentation to a camera, and liveness never refuses it."""

    label: str
    data: bytes
    rgb: np.ndarray
    suffix: str
    live_capture: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @classmethod
    def from_path(cls, path: str | Path) -> SourceImage:
        path = Path(path)
        data = read_image_bytes(path)
        suffix = path.suffix.lower() if path.suffix.lower() in IMAGE_SUFFIXES else ".img"
        return cls(str(path), data, decode_image(data, name=str(path)), suffix)

    @classmethod
    def from_bytes(cls, label: str, data: bytes, suffix: str) -> SourceImage:
        """An image kept in the store (a visitor crop), called ``label``."""
        return cls(label, data, decode_image(data, name=label), suffix)

    @classmethod
    def from_frame(cls, rgb: np.ndarray) -> SourceImage:
        """A camera frame (RGB ``uint8 (H, W, 3)``), kept as PNG."""
        import cv2

        ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
        if not ok:
            raise ImageError("cannot encode the camera frame")
        return cls("camera frame", png.tobytes(), rgb, ".png", live_capture=True)


def as_source(image: str | Path | SourceImage) -> SourceImage:
    """``image``, read from its path unless it is already a :class:`SourceImage`."""
    return image if isinstance(image, SourceImage) else SourceImage.from_path(image)
