"""Model files: the Keras archive (for retraining and batch inference) and the TFLite file the web
tier serves from with LiteRT. Every TFLite export is checked against Keras before it is kept, and the
calibration temperature can be folded into the model first, so neither file needs it applied again.
The served model (`serving_model`) also answers the image's embedding, for telling unknown images apart.
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
# The serving model's outputs; the names reach the TFLite file's signature, which is how
# `predictor.TFLitePredictor` tells them apart (LiteRT's plain output list has no fixed order).
PROBABILITIES_OUTPUT = "probabilities"
EMBEDDINGS_OUTPUT = "embeddings"


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


def serving_model(model: keras.Model) -> keras.Model:
    """The same model answering {"probabilities": (n, classes), "embeddings": (n, features)}.

    The embeddings are the pooled image features the classifier's head reads: the output of the
    model's first nested model, which is the feature extractor in a `training.train` model (also
    after `with_temperature`) and the backbone in `backbones.build_efficientnet_lite_classifier`.
    Same layers and weights, no copy.
    """
    import keras

    extractor = next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)
    if extractor is None or len(model.outputs) != 1:
        raise ValueError("expected a single-output classifier around a nested feature extractor")
    # A nested model's `.output` is its own inner output, not the tensor its call made in `model`;
    # that one is on the call's node, and there must be exactly one call to be unambiguous.
    if len(extractor._inbound_nodes) != 1:
        raise ValueError(f"the feature extractor {extractor.name!r} is called more than once")
    (embeddings,) = extractor._inbound_nodes[0].output_tensors
    if len(embeddings.shape) != 2:
        raise ValueError(f"the feature extractor {extractor.name!r} gives {embeddings.shape}, not pooled features")
    outputs = {PROBABILITIES_OUTPUT: model.outputs[0], EMBEDDINGS_OUTPUT: embeddings}
    return keras.Model(model.inputs, outputs, name=f"{model.name}_serving")


def save_keras(model: keras.Model, path: str | os.PathLike[str]) -> None:
    """Write the whole model (architecture, weights) as a .keras archive."""
    if not str(path).endswith(".keras"):
        raise ValueError(f"a Keras archive path must end in .keras, got {path}")
    model.save(path)


def export_savedmodel_zip(model: keras.Model, path: str | os.PathLike[str]) -> None:
    """Write the model as a TensorFlow SavedModel (for TF Serving and TF tooling), zipped into one file.

    The archive holds a single top folder, `savedmodel/`, whose `serve` signature takes float32 RGB
    pixels in [0, 255] and answers the model's outputs.
    """
    import shutil

    if not str(path).endswith(".zip"):
        raise ValueError(f"a SavedModel archive path must end in .zip, got {path}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "savedmodel"
        model.export(str(folder), format="tf_saved_model", verbose=False)
        archive = shutil.make_archive(str(Path(scratch) / "archive"), "zip", root_dir=scratch, base_dir="savedmodel")
        shutil.move(archive, path)


def load_keras(path: str | os.PathLike[str]) -> keras.Model:
    import keras

    return keras.saving.load_model(path)


def export_tflite(model: keras.Model, path: str | os.PathLike[str], *, tolerance: float = TFLITE_TOLERANCE) -> float:
    """Convert to a float32 TFLite model taking raw RGB [0, 255] input, verify it, write it.

    A model with several (named) outputs, such as `serving_model`'s, keeps them under its signature's
    output names. Returns the largest absolute difference from Keras over every output on a probe
    image; raises ExportMismatch (and writes nothing) if it exceeds `tolerance`.
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
    runner = Interpreter(model_content=content).get_signature_runner()
    (input_name,) = runner.get_input_details()
    served = runner(**{input_name: probe})
    expected = model.predict_on_batch(probe)
    if not isinstance(expected, dict):
        # Keras names a signature's unnamed outputs output_0, output_1… in order.
        arrays = expected if isinstance(expected, list | tuple) else [expected]
        expected = {f"output_{index}": array for index, array in enumerate(arrays)}
    if set(served) != set(expected):
        raise ExportMismatch(f"TFLite outputs {sorted(served)} differ from Keras outputs {sorted(expected)}")
    return max(float(np.abs(served[name] - np.asarray(expected[name])).max()) for name in served)
