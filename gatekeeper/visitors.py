"""Unknown visitors: the face crops the console keeps for review, off the recognition thread.

With ``[visitors] keep = true`` the live worker keeps, for every recorded ``unknown``,
``spoof`` and ``denied`` attempt, the crop of its face (:func:`face_crop`: the face box with
:data:`CROP_MARGIN` around it, at most :data:`MAX_CROP_PX` on its longer side, JPEG). Cutting
and encoding cost the worker well under a millisecond (``benchmarks/bench_visitors.py``); the
database write, a durable commit, is a :class:`VisitorKeeper`'s, on a thread of its own, so the
next frame never waits for it. A crop whose write fails (the database is locked or down) waits
in the keeper and is tried again, as the worker's unrecorded attempts are.

The operator reviews the crops in the console's Visitors screen or with ``gatekeeper
visitors``: enrols one as a person (through ``site.people.enrol``, with
all its checks) or dismisses it. Crops are biometric data: kept only when configured, deleted
on dismissal and once older than ``retention_days`` (``site.visitors.expire``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np

from gatekeeper.recognition import Box
from gatekeeper.store import Store
from gatekeeper.store.queued import QueuedWriter

#: Room kept around the face box on each side, as a fraction of the box's width (left, right)
#: and height (top, bottom): the whole head and a little of the shoulders, enough for the
#: operator to recognise someone and for enrolment to find the face again.
CROP_MARGIN = 0.5
#: The longest side of a kept crop, in pixels; larger crops are scaled down (area
#: interpolation). The face then keeps at least half of it: 200 px, well above the enrolment
#: bar of 80 px.
MAX_CROP_PX = 400
#: JPEG quality of kept crops (OpenCV's scale, 0–100).
JPEG_QUALITY = 90
#: Crops waiting for the database beyond this many: the oldest is dropped (and logged).
MAX_PENDING = 200
#: Seconds between two tries to write crops the store refused.
RETRY_INTERVAL_S = 1.0


@dataclass(frozen=True)
class FaceCrop:
    """A face cut from a camera frame, as kept: ``jpeg`` bytes of ``width`` × ``height``
    pixels."""

    jpeg: bytes = field(repr=False)  # biometric data: never in a log line
    width: int
    height: int


def crop_region(shape: tuple[int, ...], box: Box) -> tuple[int, int, int, int]:
    """The part of an image of ``shape`` (H, W, ...) kept for the face ``box`` (x, y, w, h
    pixels): the box grown by :data:`CROP_MARGIN` on each side and clipped to the image, as
    ``(x0, y0, x1, y1)`` (x1, y1 exclusive); empty when the box lies outside the image."""
    height, width = shape[:2]
    x, y, w, h = box
    dx, dy = CROP_MARGIN * w, CROP_MARGIN * h
    x0, y0 = max(0, math.floor(x - dx)), max(0, math.floor(y - dy))
    x1, y1 = min(width, math.ceil(x + w + dx)), min(height, math.ceil(y + h + dy))
    return x0, y0, max(x0, x1), max(y0, y1)


def face_crop(image: np.ndarray, box: Box) -> FaceCrop | None:
    """The crop kept of the face ``box`` (x, y, w, h pixels) of an RGB ``uint8 (H, W, 3)``
    camera frame (see :func:`crop_region`), scaled down to at most :data:`MAX_CROP_PX` on its
    longer side, as JPEG; ``None`` when nothing of the box is inside the frame."""
    x0, y0, x1, y1 = crop_region(image.shape, box)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    bgr = np.ascontiguousarray(image[y0:y1, x0:x1, ::-1])
    scale = MAX_CROP_PX / max(bgr.shape[:2])
    if scale < 1:
        size = (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        return None
    return FaceCrop(encoded.tobytes(), bgr.shape[1], bgr.shape[0])


@dataclass(frozen=True)
class _Pending:
    attempt_id: int
    crop: FaceCrop
    kept: datetime


class VisitorKeeper(QueuedWriter[_Pending]):
    """Writes kept crops to the store on its own thread, in the order they were handed over.

    :meth:`keep` only queues (the caller, the recognition worker, never waits for the
    database). A write the store refuses (:class:`StoreError`: locked, down, disk full) is tried
    again every :data:`RETRY_INTERVAL_S` seconds; a crop the store rejects for good (its attempt
    is not a kept decision...) is logged and dropped. At most :data:`MAX_PENDING` wait: beyond
    that the oldest is dropped and counted in :attr:`dropped`. :meth:`close` writes what it can
    and logs how many crops could not be recorded. Crops are never described in the log.
    """

    def __init__(self, store: Store, *, retry_interval_s: float = RETRY_INTERVAL_S) -> None:
        super().__init__(
            lambda item: store.keep_visitor(
                item.attempt_id, item.crop.jpeg, item.crop.width, item.crop.height, kept=item.kept
            ),
            name="visitor-keeper",
            what="visitor crops",
            max_pending=MAX_PENDING,
            retry_s=retry_interval_s,
        )

    def keep(self, attempt_id: int, crop: FaceCrop, kept: datetime) -> None:
        """Queue the ``crop`` of the recorded attempt ``attempt_id``, captured at ``kept``
        (UTC-aware); returns at once."""
        self.put(_Pending(attempt_id, crop, kept))
