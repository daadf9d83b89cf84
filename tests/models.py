"""Tiny real classifiers for tests: Keras models whose answer is plain arithmetic on the image's mean
colour, exported to TFLite in the serving layout so that the web code runs them as it runs trained ones.

Used by the prediction fixtures (tests/classifier/conftest.py) and the browser tests.
"""

import numpy as np

MODEL_SIZE = 16
# Each class is a colour; a model's logit for it is LOGIT_SCALE × cosine(mean RGB, the colour).
COLOURS = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0)}
LOGIT_SCALE = 6.0
PRIMARY_CLASSES = ("red", "green", "blue")
# Another version's classes: some shared with PRIMARY_CLASSES, in another order, plus one of its own.
OTHER_CLASSES = ("blue", "yellow", "red")


def _unit(vector) -> np.ndarray:
    array = np.asarray(vector, dtype="float32")
    return array / np.linalg.norm(array)


def colour_model_tflite(class_names: tuple[str, ...], folder, *, int8: bool = False) -> bytes:
    """A model in the serving layout (nested feature extractor under a softmax head) whose embedding
    is the image's mean colour in [0, 1] and whose head scores each class's colour by hand-set weights.
    ``folder`` is where the export is written on the way; ``int8`` quantizes it (``export_tflite_int8``)."""
    import keras

    from classifier.ml.export import export_tflite, serving_model
    from classifier.ml.quantize import export_tflite_int8

    image = keras.Input((MODEL_SIZE, MODEL_SIZE, 3), name="image")
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(image))
    extractor = keras.Model(image, pooled, name="features")
    outer = keras.Input((MODEL_SIZE, MODEL_SIZE, 3), name="image")
    head = keras.layers.Dense(len(class_names), name="logits")
    probabilities = keras.layers.Softmax(name="probabilities")(head(extractor(outer)))
    weights = LOGIT_SCALE * np.stack([_unit(COLOURS[name]) for name in class_names], axis=1)
    head.set_weights([weights, np.zeros(len(class_names), dtype="float32")])
    path = folder / "model.tflite"
    if int8:
        # Calibrated on noise around each class's colour: the pictures the model will be shown.
        rng = np.random.default_rng(0)
        colours = [255 * np.array(COLOURS[name]) for name in class_names for _ in range(8)]
        images = np.stack([np.clip(c + rng.normal(0, 30, (MODEL_SIZE, MODEL_SIZE, 3)), 0, 255) for c in colours])
        export_tflite_int8(serving_model(keras.Model(outer, probabilities)), path, images.astype("float32"))
    else:
        export_tflite(serving_model(keras.Model(outer, probabilities)), path)
    return path.read_bytes()
