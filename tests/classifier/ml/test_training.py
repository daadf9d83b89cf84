import hashlib
import time

import numpy as np
import pytest

from classifier.ml.backbones import backbone_layers
from classifier.ml.config import TrainingConfig
from classifier.ml.export import export_tflite, load_keras, save_keras
from classifier.ml.features import MemoryFeatureCache
from classifier.ml.training import (
    EPOCH_LOG_KEYS,
    PHASE_FINE_TUNE,
    PHASE_HEAD,
    ImageRecord,
    predict_probabilities,
    train,
)

CLASS_NAMES = ["red", "blue"]


def square_records(count_per_class: int, seed: int) -> tuple[list[ImageRecord], np.ndarray]:
    """Noisy reddish or bluish 40x40 photos: trivially separable by a head on any features."""
    rng = np.random.default_rng(seed)
    records, labels = [], []
    for label, colour in enumerate([(200, 40, 40), (40, 40, 200)]):
        for _ in range(count_per_class):
            noise = rng.integers(-40, 41, (40, 40, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            digest = hashlib.sha256(pixels.tobytes()).hexdigest()
            records.append(ImageRecord(digest, lambda pixels=pixels: pixels))
            labels.append(label)
    return records, np.array(labels)


@pytest.fixture(scope="module")
def data():
    train_images, train_labels = square_records(12, seed=0)
    val_images, val_labels = square_records(6, seed=1)
    return train_images, train_labels, val_images, val_labels


def config(**overrides) -> TrainingConfig:
    options = {
        "backbone": "mobilenet_v3_small",
        "image_size": 32,
        "epochs": 4,
        "batch_size": 8,
        "learning_rate": 0.01,
        "early_stopping_patience": 10,
        "augment": False,
        "weights": None,
        "dropout": 0.0,
    } | overrides
    return TrainingConfig(**options)


class CancelledByObserver(Exception):
    """What the observer raises to cancel, as the platform's raises its job's cancellation."""


class RecordingObserver:
    def __init__(self, stop_after_batches_into_epoch: int | None = None, stop_at_once: bool = False):
        self.epochs: list[tuple[int, str, dict]] = []
        self.batches = 0
        self.batches_since_epoch = 0
        self.stop_after = stop_after_batches_into_epoch
        self.stop_at_once = stop_at_once

    def on_epoch_end(self, epoch, phase, logs):
        self.epochs.append((epoch, phase, logs))
        self.batches_since_epoch = 0

    def on_batch_end(self):
        self.batches += 1
        self.batches_since_epoch += 1
        stop_now = bool(self.epochs) and self.stop_after is not None and self.batches_since_epoch >= self.stop_after
        if self.stop_at_once or stop_now:
            raise CancelledByObserver()


@pytest.fixture(scope="module")
def trained(data):
    train_images, train_labels, val_images, val_labels = data
    observer = RecordingObserver()
    result = train(config(), train_images, train_labels, val_images, val_labels, CLASS_NAMES, observer)
    return result, observer


def test_head_learns_separable_classes(data, trained):
    train_images, _, val_images, val_labels = data
    result, _ = trained

    assert result.history[-1]["val_accuracy"] == 1.0
    assert (result.val_probabilities.argmax(axis=1) == val_labels).mean() == 1.0
    assert result.best_epoch == min(result.history, key=lambda entry: entry["val_loss"])["epoch"]
    assert result.val_logits.shape == (len(val_images), 2)
    assert result.train_embeddings.shape == (len(train_images), 576)
    assert result.val_embeddings.shape == (len(val_images), 576)
    # The model to save (backbone + head on raw pixels) answers as the cached-feature path did.
    assert result.model.input_shape == (None, 32, 32, 3)
    np.testing.assert_allclose(
        predict_probabilities(result.model, val_images, image_size=32, batch_size=5),
        result.val_probabilities,
        atol=1e-4,
    )


def test_observer_gets_one_call_per_epoch_with_every_log(trained):
    result, observer = trained

    assert [(epoch, phase) for epoch, phase, _ in observer.epochs] == [(n, PHASE_HEAD) for n in (1, 2, 3, 4)]
    for _, _, logs in observer.epochs:
        assert set(logs) == set(EPOCH_LOG_KEYS)
        assert all(isinstance(value, float) for value in logs.values())
    assert observer.epochs[0][2]["learning_rate"] == pytest.approx(0.01)
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3, 4]


def test_trained_model_exports_and_reloads(data, trained, tmp_path):
    _, _, val_images, _ = data
    result, _ = trained

    assert export_tflite(result.model, tmp_path / "model.tflite") <= 1e-4
    save_keras(result.model, tmp_path / "model.keras")
    reloaded = load_keras(tmp_path / "model.keras")
    np.testing.assert_allclose(
        predict_probabilities(reloaded, val_images, image_size=32), result.val_probabilities, atol=1e-5
    )


def test_cached_features_are_reused_and_runs_repeat(data):
    train_images, train_labels, val_images, val_labels = data

    class CountingCache(MemoryFeatureCache):
        puts = 0

        def put(self, key, features):
            CountingCache.puts += 1
            super().put(key, features)

    cache = CountingCache()
    settings = config(epochs=2, augment=True)
    first = train(settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES, feature_cache=cache)
    computed_first = CountingCache.puts
    second = train(settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES, feature_cache=cache)

    # Original and mirrored view of each training image, original of each validation image.
    assert computed_first == 2 * len(train_images) + len(val_images)
    assert CountingCache.puts == computed_first  # second run: every image a hit, the backbone never ran
    assert [entry["loss"] for entry in second.history] == pytest.approx([entry["loss"] for entry in first.history])


def test_an_observer_cancels_within_an_epoch(data):
    train_images, train_labels, val_images, val_labels = data
    observer = RecordingObserver(stop_after_batches_into_epoch=1)

    with pytest.raises(CancelledByObserver):
        train(config(), train_images, train_labels, val_images, val_labels, CLASS_NAMES, observer)

    # 24 images in batches of 8: the second epoch stopped after its first batch, not its third.
    assert len(observer.epochs) == 1
    assert observer.batches_since_epoch == 1


def test_an_observer_cancels_during_feature_extraction(data):
    train_images, train_labels, val_images, val_labels = data
    observer = RecordingObserver(stop_at_once=True)

    with pytest.raises(CancelledByObserver):
        train(config(), train_images, train_labels, val_images, val_labels, CLASS_NAMES, observer)

    assert observer.epochs == []
    assert observer.batches == 1


def test_fine_tuning_continues_epoch_numbering(data):
    train_images, train_labels, val_images, val_labels = data
    observer = RecordingObserver()
    settings = config(epochs=2, fine_tune_layers=2, fine_tune_epochs=2, augment=True)

    result = train(settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES, observer)

    assert [(epoch, phase) for epoch, phase, _ in observer.epochs] == [
        (1, PHASE_HEAD),
        (2, PHASE_HEAD),
        (3, PHASE_FINE_TUNE),
        (4, PHASE_FINE_TUNE),
    ]
    # Warm-up then cosine decay from the fine-tuning rate.
    fine_tune_rates = [logs["learning_rate"] for _, phase, logs in observer.epochs if phase == PHASE_FINE_TUNE]
    assert 0 < fine_tune_rates[-1] < fine_tune_rates[0] <= settings.fine_tune_learning_rate
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3, 4]
    # The top 2 weighted layers (BatchNorm not counted) end at the block boundary before conv_1:
    # only that convolution trains; its BatchNorm keeps ImageNet's statistics at batches of 8.
    extractor = result.model.get_layer("mobilenet_v3_small_features")
    assert [layer.name for layer in backbone_layers(extractor) if layer.trainable] == ["conv_1"]
    # Logits and embeddings come from the final model, fine-tuned or restored.
    np.testing.assert_allclose(
        predict_probabilities(result.model, val_images, image_size=32, batch_size=5),
        result.val_probabilities,
        atol=1e-4,
    )


def test_a_spent_time_budget_still_gives_a_model_from_one_head_epoch(data):
    train_images, train_labels, val_images, val_labels = data
    observer = RecordingObserver()
    settings = config(epochs=10, fine_tune_fraction=0.5, fine_tune_epochs=10)

    result = train(settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES, observer,
                   time_budget=1e-6)

    assert [(epoch, phase) for epoch, phase, _ in observer.epochs] == [(1, PHASE_HEAD)]
    assert result.best_epoch == 1
    assert result.val_probabilities.shape == (len(val_images), 2)


def test_fine_tuning_fits_its_epochs_to_the_time_left(data):
    train_images, train_labels, val_images, val_labels = data
    observer = RecordingObserver()
    plans = []
    observer.on_plan = lambda total, seconds: plans.append(total)
    settings = config(epochs=2, fine_tune_fraction=0.5, fine_tune_epochs=500, early_stopping_patience=1000)
    started = time.monotonic()

    train(settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES, observer, time_budget=10.0)

    elapsed = time.monotonic() - started
    tuned = [epoch for epoch, phase, _ in observer.epochs if phase == PHASE_FINE_TUNE]
    # Re-planned from the measured epochs: far fewer than asked, ending within the budget (plus
    # the features and the one epoch that showed the end, which the budget's reserve absorbs).
    assert 0 < len(tuned) < 500
    assert plans[0] == 502 and plans[-1] == 2 + len(tuned)
    assert elapsed < 10.0 + 15.0


def test_mislabelled_inputs_are_rejected(data):
    train_images, train_labels, val_images, val_labels = data
    with pytest.raises(ValueError, match="0..1"):
        train(config(), train_images, train_labels + 1, val_images, val_labels, CLASS_NAMES)
    with pytest.raises(ValueError, match="val images"):
        train(config(), train_images, train_labels, val_images, val_labels[:3], CLASS_NAMES)


def test_config_round_trips_and_names_bad_fields():
    settings = TrainingConfig(backbone="efficientnet_lite0", fine_tune_layers=20, fine_tune_epochs=5)
    assert TrainingConfig.from_dict(settings.to_dict()) == settings

    with pytest.raises(ValueError, match="unknown training option.*epoch_count"):
        TrainingConfig.from_dict({"epoch_count": 3})
    for field, value in [
        ("epochs", 0),
        ("epochs", True),
        ("learning_rate", -1.0),
        ("dropout", 1.0),
        ("weights", "random"),
        ("image_size", 8),
        ("batch_size", 2.5),
    ]:
        with pytest.raises(ValueError, match=field):
            TrainingConfig.from_dict({field: value})
    with pytest.raises(ValueError, match="fine_tune_epochs"):
        TrainingConfig(fine_tune_layers=10, fine_tune_epochs=0)
    with pytest.raises(ValueError, match="unknown backbone 'alexnet'"):
        TrainingConfig(backbone="alexnet")
    with pytest.raises(ValueError, match="image_size must be at least 71"):
        TrainingConfig(backbone="xception", image_size=64)
