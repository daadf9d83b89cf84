import numpy as np
import pytest

from classifier.ml.calibration import softmax
from classifier.ml.export import (
    ExportMismatch,
    export_tflite,
    load_keras,
    save_keras,
    serving_model,
    with_temperature,
)


@pytest.fixture(scope="module")
def model():
    """Raw [0, 255] RGB in, probabilities out, with the layer kinds real backbones use."""
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((24, 24, 3), name="image")
    hidden = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
    hidden = keras.layers.Conv2D(8, 3, strides=2)(hidden)
    hidden = keras.layers.BatchNormalization()(hidden)
    hidden = keras.layers.Activation("hard_swish")(hidden)
    hidden = keras.layers.DepthwiseConv2D(3, padding="same")(hidden)
    features = keras.layers.GlobalAveragePooling2D()(hidden)
    logits = keras.layers.Dense(3)(keras.layers.Dropout(0.2)(features))
    return keras.Model(image, keras.layers.Softmax(name="probabilities")(logits))


@pytest.fixture
def photo():
    return np.random.default_rng(1).integers(0, 256, (1, 24, 24, 3)).astype(np.float32)


def test_tflite_export_runs_in_litert_and_matches_keras(model, photo, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / "model.tflite"
    difference = export_tflite(model, path)

    assert difference <= 1e-4
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    assert source["dtype"] == np.float32
    assert list(source["shape_signature"]) == [-1, 24, 24, 3]
    interpreter.set_tensor(source["index"], photo)
    interpreter.invoke()
    served = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(served, model.predict_on_batch(photo), atol=1e-4)


def test_mismatching_export_raises_and_writes_nothing(model, tmp_path):
    path = tmp_path / "model.tflite"
    with pytest.raises(ExportMismatch):
        export_tflite(model, path, tolerance=-1.0)
    assert not path.exists()


def test_keras_archive_round_trip(model, photo, tmp_path):
    path = tmp_path / "model.keras"
    save_keras(model, path)
    np.testing.assert_allclose(load_keras(path).predict_on_batch(photo), model.predict_on_batch(photo), atol=1e-6)


def test_keras_archive_needs_the_keras_suffix(model, tmp_path):
    with pytest.raises(ValueError, match=".keras"):
        save_keras(model, tmp_path / "model.h5")


def test_temperature_is_folded_into_the_model(model, photo, tmp_path):
    calibrated = with_temperature(model, 2.5)

    probabilities = model.predict_on_batch(photo)
    expected = softmax(np.log(probabilities), 2.5)
    np.testing.assert_allclose(calibrated.predict_on_batch(photo), expected, atol=1e-6)
    assert export_tflite(calibrated, tmp_path / "calibrated.tflite") <= 1e-4


def test_temperature_needs_the_probabilities_layer():
    import keras

    features = keras.Input((4,))
    plain = keras.Model(features, keras.layers.Dense(2, activation="softmax")(features))
    with pytest.raises(ValueError, match="'probabilities'"):
        with_temperature(plain, 2.0)


@pytest.fixture(scope="module")
def trained_shape():
    """A model shaped like training.train's: a nested feature extractor, then a nested head."""
    import keras

    keras.utils.set_random_seed(0)
    pixels = keras.Input((24, 24, 3), name="pixels")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(pixels)
    hidden = keras.layers.Conv2D(8, 3, strides=2, activation="relu6")(scaled)
    extractor = keras.Model(pixels, keras.layers.GlobalAveragePooling2D()(hidden), name="tiny_features")
    features = keras.Input((8,), name="features")
    head = keras.Model(features, keras.layers.Dense(3)(features), name="head")
    image = keras.Input((24, 24, 3), name="image")
    return extractor, keras.Model(image, keras.layers.Softmax(name="probabilities")(head(extractor(image))))


def test_serving_model_answers_probabilities_and_the_extractors_embeddings(trained_shape, photo):
    extractor, model = trained_shape
    calibrated = with_temperature(model, 1.7)

    outputs = serving_model(calibrated).predict_on_batch(photo)

    np.testing.assert_allclose(outputs["probabilities"], calibrated.predict_on_batch(photo), atol=1e-6)
    np.testing.assert_allclose(outputs["embeddings"], extractor.predict_on_batch(photo), atol=1e-6)


def test_multi_output_tflite_matches_keras_on_every_output(trained_shape, photo, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    served = serving_model(with_temperature(trained_shape[1], 1.7))
    path = tmp_path / "serving.tflite"

    assert export_tflite(served, path) <= 1e-4

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    answer = runner(image=photo)
    expected = served.predict_on_batch(photo)
    assert set(answer) == {"probabilities", "embeddings"}
    for name in answer:
        np.testing.assert_allclose(answer[name], expected[name], atol=1e-4)


def test_serving_model_needs_a_nested_feature_extractor(model):
    with pytest.raises(ValueError, match="feature extractor"):
        serving_model(model)


def test_serving_model_of_a_stored_archive(trained_shape, photo, tmp_path):
    extractor, model = trained_shape
    save_keras(with_temperature(model, 1.7), tmp_path / "model.keras")

    outputs = serving_model(load_keras(tmp_path / "model.keras")).predict_on_batch(photo)

    np.testing.assert_allclose(outputs["embeddings"], extractor.predict_on_batch(photo), atol=1e-6)
