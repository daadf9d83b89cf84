"""The web tier's TFLite predictor: no TensorFlow on import, outputs as Keras gives them, threads, cache."""

import io
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classifier.ml.images import InvalidImage, load_array
from classifier.ml.predictor import PredictorCache, TFLitePredictor, default_num_threads, prepare_image, top_k

SIZE = 16
CLASSES = 3
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny classifier shaped like training.train's (extractor, head), served with and without embeddings."""
    import keras

    from classifier.ml.export import export_tflite, serving_model

    keras.utils.set_random_seed(0)
    pixels = keras.Input((SIZE, SIZE, 3), name="pixels")
    hidden = keras.layers.Conv2D(6, 3, strides=2, activation="relu")(keras.layers.Rescaling(1 / 255)(pixels))
    extractor = keras.Model(pixels, keras.layers.GlobalAveragePooling2D()(hidden), name="tiny_features")
    image = keras.Input((SIZE, SIZE, 3), name="image")
    logits = keras.layers.Dense(CLASSES)(extractor(image))
    classifier = keras.Model(image, keras.layers.Softmax(name="probabilities")(logits))
    folder = tmp_path_factory.mktemp("models")
    served = serving_model(classifier)
    export_tflite(served, folder / "serving.tflite")
    export_tflite(classifier, folder / "plain.tflite")
    return {
        "keras": served,
        "serving": (folder / "serving.tflite").read_bytes(),
        "plain": (folder / "plain.tflite").read_bytes(),
    }


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_importing_the_predictor_leaves_tensorflow_and_keras_out():
    code = (
        "import sys, classifier.ml.predictor\n"
        "print(sorted({'tensorflow', 'keras'} & {name.split('.')[0] for name in sys.modules}))"
    )
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_predictions_match_keras_for_probabilities_and_embeddings(models, images):
    predictor = TFLitePredictor(models["serving"])

    probabilities, embeddings = predictor.predict(images)

    expected = models["keras"].predict_on_batch(images.astype(np.float32))
    np.testing.assert_allclose(probabilities, expected["probabilities"], atol=1e-5)
    np.testing.assert_allclose(embeddings, expected["embeddings"], atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (predictor.input_size, predictor.class_count) == (SIZE, CLASSES)


def test_one_image_without_a_batch_axis(models, images):
    probabilities, embeddings = TFLitePredictor(models["serving"]).predict(images[0])

    assert probabilities.shape == (1, CLASSES)
    assert embeddings.shape == (1, 6)


def test_a_model_without_embeddings_answers_none(models, images):
    probabilities, embeddings = TFLitePredictor(models["plain"]).predict(images)

    assert probabilities.shape == (4, CLASSES)
    assert embeddings is None


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((SIZE + 1, SIZE, 3), np.uint8),
        np.zeros((SIZE, SIZE, 4), np.uint8),
        np.zeros((SIZE, SIZE, 3), np.float32),
        np.zeros((0, SIZE, SIZE, 3), np.uint8),
    ],
    ids=["wrong-size", "rgba", "float", "empty"],
)
def test_pixels_of_the_wrong_shape_or_type_are_refused(models, pixels):
    with pytest.raises(ValueError, match="uint8 RGB"):
        TFLitePredictor(models["serving"]).predict(pixels)


def test_bytes_that_are_no_model_are_refused():
    with pytest.raises(ValueError):
        TFLitePredictor(b"not a model")


def test_concurrent_predictions_from_eight_threads_match_sequential_ones(models):
    predictor = TFLitePredictor(models["serving"], num_threads=1)
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8) for _ in range(8)]
    expected = [predictor.predict(batch) for batch in batches]
    start = threading.Barrier(8)

    def run(index: int):
        start.wait()
        return [predictor.predict(batches[index]) for _ in range(20)]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(run, range(8)))

    for index, repeats in enumerate(answers):
        for probabilities, embeddings in repeats:
            np.testing.assert_array_equal(probabilities, expected[index][0])
            np.testing.assert_array_equal(embeddings, expected[index][1])


def test_default_thread_count_is_capped(monkeypatch):
    monkeypatch.delenv("SIGHTLINE_INTERPRETER_THREADS", raising=False)
    assert 1 <= default_num_threads() <= 4


def test_thread_count_can_be_set_from_the_environment(monkeypatch):
    monkeypatch.setenv("SIGHTLINE_INTERPRETER_THREADS", "1")
    assert default_num_threads() == 1
    monkeypatch.setenv("SIGHTLINE_INTERPRETER_THREADS", "3")
    assert default_num_threads() == 3


def test_prepare_image_gives_the_pixels_training_sees():
    pixels = np.random.default_rng(2).integers(0, 256, (30, 20, 3), dtype=np.uint8)

    prepared = prepare_image(_png(pixels), SIZE)

    assert prepared.shape == (SIZE, SIZE, 3) and prepared.dtype == np.uint8
    np.testing.assert_array_equal(prepared, load_array(_png(pixels), SIZE))


def test_prepare_image_refuses_what_is_not_an_image():
    with pytest.raises(InvalidImage):
        prepare_image(b"<html>", SIZE)


class _CountingLoader:
    def __init__(self, content: bytes, delay: float = 0.0) -> None:
        self.content, self.delay, self.calls = content, delay, 0
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return self.content


def test_cache_loads_once_under_concurrent_first_requests(models):
    cache = PredictorCache()
    load = _CountingLoader(models["serving"], delay=0.2)
    start = threading.Barrier(8)

    def get(_):
        start.wait()
        return cache.get("7:model.tflite", load)

    with ThreadPoolExecutor(8) as pool:
        predictors = list(pool.map(get, range(8)))

    assert load.calls == 1
    assert all(predictor is predictors[0] for predictor in predictors)


def test_cache_drops_the_least_recently_used(models):
    cache = PredictorCache(max_entries=2)
    loads = {key: _CountingLoader(models["plain"]) for key in ("1:a", "2:b", "3:c")}

    for key in ("1:a", "2:b", "1:a", "3:c", "1:a", "2:b"):
        cache.get(key, loads[key])

    assert len(cache) == 2
    assert {key: load.calls for key, load in loads.items()} == {"1:a": 1, "2:b": 2, "3:c": 1}


def test_invalidate_drops_only_keys_with_the_prefix(models):
    cache = PredictorCache()
    loads = {key: _CountingLoader(models["plain"]) for key in ("1:a.tflite", "1:b.tflite", "12:c.tflite")}
    for key, load in loads.items():
        cache.get(key, load)

    cache.invalidate("1:")
    for key, load in loads.items():
        cache.get(key, load)

    assert {key: load.calls for key, load in loads.items()} == {"1:a.tflite": 2, "1:b.tflite": 2, "12:c.tflite": 1}


def test_a_failed_load_is_not_cached(models):
    cache = PredictorCache()

    def broken() -> bytes:
        raise OSError("storage unavailable")

    with pytest.raises(OSError):
        cache.get("5:model.tflite", broken)
    assert len(cache) == 0
    assert cache.get("5:model.tflite", lambda: models["plain"]).class_count == CLASSES


def test_top_k_sorted_most_probable_first_as_plain_floats():
    result = top_k(np.array([0.1, 0.6, 0.3], np.float32), ["cat", "dog", "fox"], 2)

    assert result == [
        {"label": "dog", "probability": pytest.approx(0.6)},
        {"label": "fox", "probability": pytest.approx(0.3)},
    ]
    assert all(type(entry["probability"]) is float for entry in result)


def test_top_k_takes_a_batch_of_one_and_caps_k():
    result = top_k(np.array([[0.5, 0.25, 0.25]]), ["a", "b", "c"], 10)

    # Ties keep the version's class order.
    assert [entry["label"] for entry in result] == ["a", "b", "c"]


@pytest.mark.parametrize(("probabilities", "k"), [(np.ones(3) / 3, 0), (np.ones(2) / 2, 1), (np.ones((2, 3)) / 3, 1)])
def test_top_k_refuses_mismatched_input(probabilities, k):
    with pytest.raises(ValueError):
        top_k(probabilities, ["a", "b", "c"], k)
