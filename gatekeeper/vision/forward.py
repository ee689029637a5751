"""A network's inference pass: eager while that is cheaper, compiled once compiling pays.

Tracing a Keras network into a graph (``tf.function``) costs seconds on its first call and makes
every later call about ten times faster. Measured on FaceNet, one crop, on the 2-core machine:
the first traced call 1.85 s, later ones 0.03 s; eagerly 0.51 s, then 0.32 s. A command that
looks at one or two photos (``enroll``, ``identify``) would spend most of its time tracing five
networks it then calls once; a console looks at thousands of frames. So a :class:`Forward` runs
its first :data:`EAGER_CALLS` calls eagerly and traces on the next one, and a console compiles
everything while it warms up (:meth:`Forward.compile`), before the first camera frame.

Both paths compute the same function with the same kernels (FaceNet: identical outputs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gatekeeper.vision.tfimport import import_tf

#: Calls run eagerly before the network is traced (about where tracing starts to pay).
EAGER_CALLS = 3


class Forward:
    """``fn`` (a network's forward pass) called eagerly at first, then through one
    ``tf.function`` traced for ``input_signature``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        input_signature: Sequence[Any],
        eager_calls: int = EAGER_CALLS,
    ) -> None:
        tf = import_tf()
        self._fn = fn
        self._traced = tf.function(fn, input_signature=list(input_signature), jit_compile=False)
        self._eager_left = eager_calls
        self._lock = threading.Lock()

    @property
    def compiled(self) -> bool:
        """Whether calls now go through the traced graph."""
        with self._lock:
            return self._eager_left <= 0

    @property
    def traces(self) -> int:
        """How many times the graph has been traced (once, after it is first called)."""
        return self._traced.experimental_get_tracing_count()

    def compile(self) -> None:
        """Go through the traced graph from the next call on (which traces it)."""
        with self._lock:
            self._eager_left = 0

    def __call__(self, *args: Any) -> Any:
        with self._lock:
            eager = self._eager_left > 0
            if eager:
                self._eager_left -= 1
        return self._fn(*args) if eager else self._traced(*args)


def of_images(fn: Callable[..., Any], side: int, inputs: int = 1) -> Forward:
    """A :class:`Forward` of ``fn`` taking ``inputs`` batches of float32 ``side``×``side`` RGB
    (or BGR) images."""
    tf = import_tf()
    return Forward(fn, [tf.TensorSpec((None, side, side, 3), tf.float32)] * inputs)


def image_batch(images: np.ndarray, side: int, what: str) -> np.ndarray:
    """``images`` as a batch ``(N, side, side, 3)``: one image ``(side, side, 3)`` becomes a
    batch of one; any other shape is a ``ValueError`` naming ``what`` the images are."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] != (side, side, 3):
        raise ValueError(f"expected {what} of shape (N, {side}, {side}, 3), got {images.shape}")
    return images
