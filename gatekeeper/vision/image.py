"""Loading images: the one place where file formats and channel orders are dealt with.

Everything downstream works on RGB ``uint8`` arrays of shape ``(H, W, 3)``.

Encoded images are checked before they are decoded: the width and height their header
declares (PNG's IHDR chunk, JPEG's start-of-frame segment, and for the other formats Pillow's
lazy ``Image.open``, which reads the header only) must not exceed :data:`MAX_PIXELS`. A small
file that declares a huge image (a decompression bomb: 30000×30000 pixels in 2.6 MB of PNG)
is refused at once instead of after seconds of decoding into gigabytes. A file whose size
cannot be read that way (not an image, a corrupt one, or a format Pillow does not know, such
as Radiance HDR) is refused too.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from gatekeeper.errors import ImageError
from gatekeeper.vision.stderr import quiet_stderr_fd

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND"
#: Image file suffixes that ``import`` picks up and ``evaluate`` takes for an image's name.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Images larger than this (width × height) are refused, encoded ones before decoding:
#: 100 million pixels decode to 300 MB of RGB; a door camera's frame is under 10 million.
MAX_PIXELS = 100_000_000
#: JPEG start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC), which state the image size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: JPEG markers that stand alone, without a length: TEM, RST0-RST7, SOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})

# libjpeg/libpng warnings must not reach the terminal; decoding failures are raised instead.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


#: What a file that is not a regular one is, by its ``stat`` mode (for the refusal).
_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _special_file(mode: int) -> str | None:
    """What a special file of this ``stat`` mode is (``a FIFO``...), or None for a regular
    file or a folder."""
    return next((what for test, what in _SPECIAL_FILES if test(mode)), None)


def _read_regular_file(p: Path) -> bytes:
    """The bytes of the regular file ``p``. A FIFO, device or socket is refused from its
    ``stat`` before it is opened (reading a FIFO waits for a writer, forever; ``/dev/zero``
    never ends), and again after a non-blocking open, in case it was swapped in between."""
    special = _special_file(p.stat().st_mode)
    if special is None:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as file:
            special = _special_file(os.fstat(fd).st_mode)
            if special is None:
                return file.read()
    raise ImageError(f"{p}: {special}, not a regular file: expected an image file")


def read_image_bytes(path: str | Path) -> bytes:
    """Read an image file's bytes, with a one-line :class:`ImageError` for every failure; a
    file that is not a regular file (FIFO, device, socket) is refused without reading it."""
    p = Path(path)
    try:
        data = _read_regular_file(p)
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{p}: is a directory, expected an image file") from None
    except PermissionError:
        raise ImageError(f"{p}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{p}: empty file")
    return data


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, which must come first."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's first start-of-frame segment, found by walking the
    segments that precede it (each states its length)."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
        elif marker in _JPEG_STANDALONE:
            at += 2
        elif marker in _JPEG_SOF:
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        elif marker == 0xDA:  # start of scan: image data, and no frame header before it
            return None
        else:
            at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    return None


def declared_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` as an encoded image's header declares it, read without decoding any
    pixel; ``None`` when no header can be read (not an image, a corrupt one, an unknown format).

    Raises :class:`ImageError` when Pillow refuses the header itself as a decompression bomb
    (more than twice ``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    if data.startswith(_PNG_MAGIC):
        return _png_size(data)
    if data.startswith(_JPEG_MAGIC):
        return _jpeg_size(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large ({exc})") from None
    except Exception:  # Pillow's parsers raise many types on corrupt headers
        return None


def _check_declared_size(data: bytes, name: str) -> None:
    """Refuse, before decoding, an image whose header declares more than :data:`MAX_PIXELS`
    pixels, or whose header cannot be read."""
    try:
        size = declared_size(data)
    except ImageError as exc:
        raise ImageError(f"{name}: {exc}") from None
    if size is None:
        raise ImageError(f"{name}: not an image, or a corrupt one")
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name}: image too large ({width}×{height} pixels declared; "
            f"at most {MAX_PIXELS:,} pixels)"
        )


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, BMP, TIFF, WebP...) to RGB ``uint8 (H, W, 3)``.

    EXIF orientation is applied for JPEGs; transparent pixels of RGBA/gray+alpha images are
    composited over white; 16-bit images are scaled to 8 bits. A truncated JPEG (no end-of-image
    marker) is refused rather than silently half-decoded, and an image whose header declares
    more than :data:`MAX_PIXELS` pixels before any decoding (see the module docstring).
    """
    if not data:
        raise ImageError(f"{name}: empty file")
    if data.startswith(_JPEG_MAGIC) and _JPEG_END not in data[-1024:]:
        raise ImageError(f"{name}: truncated JPEG (no end-of-image marker)")
    if data.startswith(_PNG_MAGIC) and _PNG_END not in data[-32:]:
        raise ImageError(f"{name}: truncated PNG (no IEND chunk)")
    _check_declared_size(data, name)
    buf = np.frombuffer(data, dtype=np.uint8)
    flags = (
        cv2.IMREAD_UNCHANGED
        if data.startswith(_PNG_MAGIC)
        else cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    )
    try:
        with quiet_stderr_fd():
            decoded = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise ImageError(f"{name}: cannot decode image ({exc.err or 'corrupt data'})") from None
    if decoded is None or decoded.size == 0:
        raise ImageError(f"{name}: not an image, or a corrupt one")
    return to_rgb(decoded, bgr=True)


def to_rgb(image: np.ndarray, *, bgr: bool) -> np.ndarray:
    """Convert an array image to RGB ``uint8 (H, W, 3)``.

    Accepts gray ``(H, W)`` or ``(H, W, 1)``, 3-channel, or 4-channel (with alpha) arrays of
    ``uint8``, ``uint16`` or float (in [0, 1]) type. ``bgr`` says the colour channels are in
    OpenCV's BGR(A) order. A contiguous RGB ``uint8`` array is returned as it is, not copied.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ImageError(f"unsupported image array shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError("empty image array")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageError(f"image too large ({img.shape[1]}×{img.shape[0]} pixels)")
    if img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] == 3):
        # The common case (decoded JPEGs, camera frames, arrays already loaded): no float trip.
        if img.ndim == 2:
            return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
        return np.ascontiguousarray(img[:, :, ::-1] if bgr else img)
    img = _to_unit_float(img) if img.dtype != np.uint8 else img.astype(np.float32) / 255.0
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4]
        img = img[:, :, :3] * alpha + (1.0 - alpha)
    if bgr:
        img = img[:, :, ::-1]
    return np.ascontiguousarray(np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8))


def _to_unit_float(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if np.issubdtype(img.dtype, np.floating):
        if not np.isfinite(img).all():
            raise ImageError("image array contains NaN or infinite values")
        return img.astype(np.float32)
    raise ImageError(f"unsupported image dtype {img.dtype}")


def load_image(source: str | Path | bytes | np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Load an image as RGB ``uint8 (H, W, 3)`` from a path, encoded bytes or an array.

    ``bgr`` applies to arrays only (``True`` for frames straight from OpenCV); files and bytes
    are decoded knowing their own channel order. Raises :class:`ImageError` with a one-line
    message for missing, empty, non-image, truncated or corrupt inputs.
    """
    if isinstance(source, np.ndarray):
        return to_rgb(source, bgr=bgr)
    if isinstance(source, bytes | bytearray | memoryview):
        return decode_image(bytes(source))
    return decode_image(read_image_bytes(source), name=str(source))
