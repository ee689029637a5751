"""The triplet loss on hand-made embeddings whose distances are known, and inside Keras fit."""

import numpy as np
import pytest

from gatekeeper.vision.loss import triplet_loss
from gatekeeper.vision.tfimport import import_keras


def loss_value(y_pred, alpha=0.2):
    keras = import_keras()
    tensors = [keras.ops.convert_to_tensor(np.asarray(t, dtype=np.float32)) for t in y_pred]
    return float(keras.ops.convert_to_numpy(triplet_loss(None, tensors, alpha)))


def test_one_triplet_by_hand():
    # ‖a−p‖² = 1² = 1, ‖a−n‖² = 0.5² = 0.25 → max(1 − 0.25 + 0.2, 0) = 0.95
    anchor, positive, negative = [[0.0, 0.0]], [[1.0, 0.0]], [[0.0, 0.5]]
    assert loss_value([anchor, positive, negative]) == pytest.approx(0.95)


def test_zero_loss_when_the_negative_is_far_enough():
    # ‖a−p‖² = 0.01, ‖a−n‖² = 4 → 0.01 − 4 + 0.2 < 0 → 0
    anchor, positive, negative = [[0.0, 0.0]], [[0.1, 0.0]], [[2.0, 0.0]]
    assert loss_value([anchor, positive, negative]) == 0.0


def test_margin_decides_at_the_boundary():
    # ‖a−p‖² = 1, ‖a−n‖² = 1.2: exactly alpha = 0.2 apart → 0; alpha = 0.5 → 0.3
    anchor, positive, negative = [[0.0, 0.0]], [[1.0, 0.0]], [[0.0, np.sqrt(1.2)]]
    assert loss_value([anchor, positive, negative]) == pytest.approx(0.0, abs=1e-6)
    assert loss_value([anchor, positive, negative], alpha=0.5) == pytest.approx(0.3)


def test_batch_of_128_d_triplets_is_summed_and_negative_terms_clip_to_zero():
    dim = 128
    anchor = np.zeros((3, dim))
    positive = np.zeros((3, dim))
    negative = np.zeros((3, dim))
    positive[0, :4] = 0.5  # ‖a−p‖² = 4 × 0.25 = 1
    negative[0, 0] = 0.5  # ‖a−n‖² = 0.25 → 1 − 0.25 + 0.2 = 0.95
    positive[1, :] = 0.1  # ‖a−p‖² = 128 × 0.01 = 1.28
    negative[1, :] = 0.1  # ‖a−n‖² = 1.28 → 0 + 0.2 = 0.2
    negative[2, :2] = 1.0  # ‖a−p‖² = 0, ‖a−n‖² = 2 → −1.8 → 0
    assert loss_value([anchor, positive, negative]) == pytest.approx(0.95 + 0.2 + 0.0)


def test_stacked_tensor_form_equals_the_list_form():
    keras = import_keras()
    rng = np.random.default_rng(0)
    anchor, positive, negative = rng.normal(size=(3, 5, 128)).astype(np.float32)
    stacked = keras.ops.convert_to_tensor(np.stack([anchor, positive, negative], axis=1))

    value = float(keras.ops.convert_to_numpy(triplet_loss(None, stacked)))

    assert value == pytest.approx(loss_value([anchor, positive, negative]), rel=1e-5)


def test_works_as_the_loss_of_a_keras_model_for_one_training_step():
    keras = import_keras()
    inputs = keras.Input(shape=(3, 8))  # a triplet of 8-d "images"
    embeddings = keras.layers.Dense(4)(inputs)  # → (batch, 3, 4)
    model = keras.Model(inputs, embeddings)
    model.compile(optimizer="sgd", loss=triplet_loss)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3, 8)).astype(np.float32)
    before = float(keras.ops.convert_to_numpy(triplet_loss(None, model(x))))

    history = model.fit(x, np.zeros((6, 3, 4), np.float32), epochs=1, batch_size=6, verbose=0)

    # the step's reported loss is the summed loss of the batch with the weights before the step
    assert history.history["loss"] == [pytest.approx(before, rel=1e-5)]
    assert before > 0
