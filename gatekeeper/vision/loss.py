"""The triplet loss of the FaceNet paper, as in the deeplearning.ai "Happy House" tutorial.

For an anchor image A, a positive P (same person) and a negative N (someone else), with
embeddings f(·)::

    loss = Σ_i max(‖f(A_i) − f(P_i)‖² − ‖f(A_i) − f(N_i)‖² + alpha, 0)

summed (not averaged) over the m triplets of the batch: training pulls each anchor closer to its
positive than to its negative by at least the margin ``alpha`` (squared-L2 units).

Written with ``keras.ops`` so it runs on any Keras backend, eagerly or inside ``model.fit``.
Gatekeeper's recognition uses the pretrained dlib encoder; this loss is for (re)training.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.vision.tfimport import import_keras

#: The tutorial's margin between positive and negative squared distances.
DEFAULT_ALPHA = 0.2


def triplet_loss(y_true: Any, y_pred: Any, alpha: float = DEFAULT_ALPHA) -> Any:
    """The summed triplet loss of a batch, a scalar tensor.

    ``y_pred`` holds the embeddings of the m triplets, either as the tutorial's sequence
    ``[anchor, positive, negative]`` of three ``(m, D)`` tensors, or as one ``(m, 3, D)`` tensor
    (anchor, positive, negative along axis 1) — the form a Keras 3 model with a single output
    passes to its loss. ``y_true`` is unused: the labels are implicit in the triplet order
    (Keras requires the argument).
    """
    ops = import_keras().ops
    if isinstance(y_pred, list | tuple):
        anchor, positive, negative = y_pred
    else:
        anchor, positive, negative = y_pred[:, 0], y_pred[:, 1], y_pred[:, 2]
    pos_dist = ops.sum(ops.square(anchor - positive), axis=-1)
    neg_dist = ops.sum(ops.square(anchor - negative), axis=-1)
    basic_loss = pos_dist - neg_dist + alpha
    return ops.sum(ops.maximum(basic_loss, 0.0))
