"""Int8 TFLite export: a tiny serving model quantized, checked and run by the web tier's predictor."""

import numpy as np
import pytest

from classifier.ml.export import export_tflite, serving_model
from classifier.ml.predictor import TFLitePredictor, _input_converter
from classifier.ml.quantize import QuantizationFailed, export_tflite_int8, float_int8_comparison, top1_agreement

SIZE = 16


@pytest.fixture(scope="module")
def served():
    """Mean-colour features under a 3-class softmax head: red, green or blue, by hand-set weights."""
    import keras

    image = keras.Input((SIZE, SIZE, 3), name="image")
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(image))
    extractor = keras.Model(image, pooled, name="features")
    outer = keras.Input((SIZE, SIZE, 3), name="image")
    head = keras.layers.Dense(3, name="logits")
    probabilities = keras.layers.Softmax(name="probabilities")(head(extractor(outer)))
    head.set_weights([6.0 * np.eye(3, dtype="float32"), np.zeros(3, dtype="float32")])
    return serving_model(keras.Model(outer, probabilities))


def _colours(count_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), count_per_class)
    pixels = 255 * np.eye(3)[labels][:, None, None, :] + rng.normal(0, 25, (len(labels), SIZE, SIZE, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8), labels


def test_int8_export_runs_in_the_predictor_like_the_float_file(served, tmp_path):
    calibration, _ = _colours(8)
    summary = export_tflite_int8(served, tmp_path / "int8.tflite", calibration)
    export_tflite(served, tmp_path / "float.tflite")

    assert summary.outputs == ["embeddings", "probabilities"]
    assert summary.calibration_images == 24
    assert summary.size_bytes == (tmp_path / "int8.tflite").stat().st_size
    assert summary.probability_sum_error < 1e-3, "the softmax stays float"
    assert summary.calibration_agreement == 1.0
    assert summary.float_ops == [], "int8 throughout, but for the softmax"
    int8 = TFLitePredictor((tmp_path / "int8.tflite").read_bytes())
    float_model = TFLitePredictor((tmp_path / "float.tflite").read_bytes())
    test, labels = _colours(4, seed=1)
    probabilities, embeddings = int8.predict(test)
    expected, expected_embeddings = float_model.predict(test)
    assert probabilities.shape == (12, 3) and embeddings.shape == (12, 3)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), labels)
    np.testing.assert_allclose(probabilities, expected, atol=0.02)
    np.testing.assert_allclose(embeddings, expected_embeddings, atol=0.02)
    assert float_int8_comparison(
        (tmp_path / "float.tflite").read_bytes(), (tmp_path / "int8.tflite").read_bytes(), test, [{y} for y in labels]
    ) == {"accuracy": 1.0, "accuracy_int8": 1.0, "agreement": 1.0, "test_images": 12}


def test_int8_export_without_images_fails_and_writes_nothing(served, tmp_path):
    with pytest.raises(QuantizationFailed, match="no representative images"):
        export_tflite_int8(served, tmp_path / "int8.tflite", np.zeros((0, SIZE, SIZE, 3), np.uint8))
    assert not (tmp_path / "int8.tflite").exists()


def test_images_of_another_size_are_refused(served, tmp_path):
    with pytest.raises(ValueError, match="must be"):
        export_tflite_int8(served, tmp_path / "int8.tflite", np.zeros((2, SIZE + 1, SIZE + 1, 3), np.uint8))


def test_the_predictor_quantizes_pixels_for_an_integer_input():
    to_input = _input_converter({"dtype": np.int8, "quantization": (1.0, -128)})
    pixels = np.array([[0, 128, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(to_input(pixels), np.array([[-128, 0, 127]], dtype=np.int8))
    assert _input_converter({"dtype": np.float32, "quantization": (0.0, 0)})(pixels).dtype == np.float32


def test_top1_agreement_counts_same_answers():
    first = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    second = np.array([[0.7, 0.3], [0.6, 0.4], [0.5, 0.5]])
    assert top1_agreement(first, second) == pytest.approx(2 / 3)
