"""Camera frames drawn in the terminal with Unicode half blocks.

Each terminal cell shows two image pixels stacked vertically: the upper half block ``▀`` in the
upper pixel's colour (foreground) over the lower pixel's colour (background). Terminal cells are
about twice as high as wide, so the pixels come out roughly square. It needs nothing but 24-bit
colour, which works over any SSH connection (Rich downgrades it on lesser terminals).

The frame is downscaled first (OpenCV, area interpolation) to at most ``cols × 2·rows`` pixels,
keeping its aspect ratio; face boxes are drawn onto the small copy in their decision's colour
(:mod:`gatekeeper.tui.palette`) and each face is labelled with its name above its box. Colours
are quantised to :data:`COLOUR_BITS` bits per channel so that cells share cached colours and
styles: a 90×40-cell preview of the reference clip takes about 3 ms a frame instead of 35
(``benchmarks/bench_console.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from rich.cells import cell_len, set_cell_size
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from gatekeeper.live import FaceResult
from gatekeeper.tui.palette import decision_rgb

UPPER_HALF = "▀"

#: Bits kept per colour channel: 5 (32 levels) is indistinguishable at this resolution and lets
#: cells share cached styles.
COLOUR_BITS = 5
_COLOUR_MASK = np.uint8((0xFF << (8 - COLOUR_BITS)) & 0xFF)
#: Cached cell styles beyond this many are dropped (about 30 MB at most).
_MAX_STYLES = 100_000
_STYLES: dict[int, Style] = {}
_COLOURS: dict[int, Color] = {}


def _style_keys(rgb: np.ndarray) -> np.ndarray:
    """One int per cell, ``(H/2, W)``: the upper pixel's colour in bits 24–47, the lower one's in
    bits 0–23, each channel quantised to :data:`COLOUR_BITS` bits."""
    quantised = (rgb & _COLOUR_MASK).astype(np.int64)
    packed = quantised[..., 0] << 16 | quantised[..., 1] << 8 | quantised[..., 2]
    return packed[0::2] << 24 | packed[1::2]


def _style(key: int) -> Style:
    """The ``▀`` style for a cell key of :func:`_style_keys`, cached: a frame reuses most of the
    previous frame's colour pairs, and Rich renders a cached style's escape codes only once."""
    style = _STYLES.get(key)
    if style is None:
        if len(_STYLES) >= _MAX_STYLES:
            _STYLES.clear()
        style = Style.from_color(_colour(key >> 24), _colour(key & 0xFFFFFF))
        _STYLES[key] = style
    return style


def _colour(rgb: int) -> Color:
    """The Rich colour of a packed ``0xRRGGBB`` value, cached (at most 2**(3·COLOUR_BITS))."""
    colour = _COLOURS.get(rgb)
    if colour is None:
        colour = _COLOURS[rgb] = Color.from_rgb(rgb >> 16, rgb >> 8 & 0xFF, rgb & 0xFF)
    return colour


def fit(width: int, height: int, cols: int, rows: int) -> tuple[int, int]:
    """The pixel size ``(w, h)`` of a ``width × height`` image scaled to fit ``cols`` cells
    across and ``rows`` cells down (two pixels per cell vertically), aspect kept, ``h`` even;
    ``(0, 0)`` when nothing fits."""
    if width <= 0 or height <= 0 or cols <= 0 or rows <= 0:
        return 0, 0
    scale = min(cols / width, 2 * rows / height)
    w = min(cols, round(width * scale))
    h = min(2 * rows, round(height * scale / 2) * 2)
    return (w, h) if w >= 1 and h >= 2 else (0, 0)


def face_label(face: FaceResult) -> str:
    """What is written above a face box: the name, ``?`` for an unknown face, nothing for a
    face that is not evidence (too small, turned away)."""
    if face.name:
        return face.name
    return "?" if face.verdict == "unknown" else ""


def render_frame(
    image: np.ndarray, faces: Sequence[FaceResult], cols: int, rows: int
) -> list[Strip]:
    """The RGB ``uint8 (H, W, 3)`` ``image`` with its face boxes as at most ``rows`` strips of
    ``cols`` cells, centred horizontally; ``[]`` when the area is too small. Boxes are in the
    image's own pixels (``(x, y, w, h)``)."""
    height, width = image.shape[:2]
    w, h = fit(width, height, cols, rows)
    if not w:
        return []
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    sx, sy = w / width, h / height
    labels: list[tuple[int, int, str, tuple[int, int, int]]] = []
    for face in faces:
        colour = decision_rgb(face.verdict)
        x, y, bw, bh = face.box
        x0, y0 = max(0, round(x * sx)), max(0, round(y * sy))
        x1, y1 = min(w - 1, round((x + bw) * sx) - 1), min(h - 1, round((y + bh) * sy) - 1)
        if x1 < x0 or y1 < y0:
            continue
        cv2.rectangle(small, (x0, y0), (x1, y1), colour, 1)
        row = y0 // 2 - 1 if y0 >= 2 else y1 // 2 + 1
        labels.append((min(row, h // 2 - 1), x0, face_label(face), colour))
    keys = _style_keys(small)
    pad = (cols - w) // 2
    strips = []
    for row, row_keys in enumerate(keys.tolist()):
        cells: list[Segment | None] = [Segment(UPPER_HALF, _style(key)) for key in row_keys]
        for label_row, col, text, colour in labels:
            if label_row == row and text:
                style = Style(color="black", bgcolor=Color.from_rgb(*colour), bold=True)
                _write_label(cells, col, text, style)
        segments = [cell for cell in cells if cell is not None]
        strips.append(Strip([Segment(" " * pad), *segments] if pad else segments, pad + w))
    return strips


def _write_label(cells: list[Segment | None], col: int, text: str, style: Style) -> None:
    """Write ``text`` over the row's ``cells`` (one per cell) from column ``col``, moved left as
    far as needed to end inside the image, and cut with ``…`` only when wider than the image.
    A wide character (CJK) takes its cell and the next, whose entry becomes ``None``."""
    width = len(cells)
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…"
    col = max(0, min(col, width - cell_len(text)))
    for char in text:
        size = cell_len(char)
        if col + size > width:
            break
        for i in range(col, col + size):  # never leave half of a wide character behind
            if cells[i] is None and i > 0 and cells[i - 1] is not None:
                cells[i - 1] = Segment(" ", style)
            if i + 1 < width and cells[i + 1] is None:
                cells[i + 1] = Segment(" ", style)
        cells[col] = Segment(char, style)
        for i in range(col + 1, col + size):
            cells[i] = None
        col += size
