"""Model files: the Keras archive (for retraining and batch inference) and the TFLite file the web
tier serves from with LiteRT. Every TFLite export is checked against Keras before it is kept, and the
calibration temperature can be folded into the model first, so neither file needs it applied again.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

TFLITE_TOLERANCE = 1e-4
# The name training.train gives the model's final Softmax layer.
PROBABILITIES_LAYER = "probabilities"


class ExportMismatch(RuntimeError):
    """The TFLite model's output differs from the Keras model's on the same input."""


def with_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """The same model answering softmax(logits / temperature): calibrated probabilities, no new weights.

    `model` must end in the Softmax layer named "probabilities" that `training.train` builds.
    """
    import keras

    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    try:
        logits = model.get_layer(PROBABILITIES_LAYER).input
    except ValueError as error:
        raise ValueError(f"the model has no {PROBABILITIES_LAYER!r} softmax layer to calibrate") from error
    scaled = keras.layers.Rescaling(1.0 / temperature, name="temperature")(logits)
    probabilities = keras.layers.Softmax(name=PROBABILITIES_LAYER)(scaled)
    return keras.Model(model.inputs, probabilities, name=model.name)


def save_keras(model: keras.Model, path: str | os.PathLike[str]) -> None:
    """Write the whole model (architecture, weights) as a .keras archive."""
    if not str(path).endswith(".keras"):
        raise ValueError(f"a Keras archive path must end in .keras, got {path}")
    model.save(path)


def load_keras(path: str | os.PathLike[str]) -> keras.Model:
    import keras

    return keras.saving.load_model(path)


def export_tflite(model: keras.Model, path: str | os.PathLike[str], *, tolerance: float = TFLITE_TOLERANCE) -> float:
    """Convert to a float32 TFLite model taking raw RGB [0, 255] input, verify it, write it.

    Returns the largest absolute difference from Keras on a probe image; raises ExportMismatch
    (and writes nothing) if it exceeds `tolerance`.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved_model:
        # Keras 3's own SavedModel export, rather than from_keras_model: it traces the inference
        # graph (BatchNorm and Dropout in inference mode) without printing the signature.
        model.export(saved_model, format="tf_saved_model", verbose=False)
        content = tf.lite.TFLiteConverter.from_saved_model(saved_model).convert()
    difference = _largest_difference(model, content)
    if not difference <= tolerance:
        raise ExportMismatch(f"TFLite output differs from Keras by {difference:.3g} (tolerance {tolerance:g})")
    Path(path).write_bytes(content)
    return difference


def _largest_difference(model: keras.Model, content: bytes) -> float:
    from ai_edge_litert.interpreter import Interpreter

    size = model.input_shape[1:]
    # A fixed noise image exercises every channel and the full [0, 255] range.
    probe = np.random.default_rng(0).uniform(0.0, 255.0, (1, *size)).astype(np.float32)
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], probe)
    interpreter.invoke()
    served = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = np.asarray(model.predict_on_batch(probe))
    return float(np.abs(served - expected).max())
