"""Training finds out whether a mirror image keeps its class, from the cached features."""

import hashlib

import numpy as np
import pytest

from classifier.ml.mirror import mirror_check
from classifier.ml.training import ImageRecord, train
from tests.classifier.ml.test_training import RecordingObserver, config


def _features(count: int, swap: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (4, 16))
    labels = np.arange(count) % 4
    original = centres[labels] + rng.normal(0, 1, (count, 16))
    # A mirror image that looks like another class (a mirrored "b" is a "d"), or like itself.
    mirrored_centres = centres[(labels + 1) % 4] if swap else centres[labels]
    mirrored = mirrored_centres + rng.normal(0, 1, (count, 16))
    return original.astype(np.float32), mirrored.astype(np.float32), labels


def test_mirror_images_that_keep_their_class_are_kept():
    original, mirrored, labels = _features(400, swap=False)

    check = mirror_check(original, mirrored, labels, 4)

    assert check.keep
    assert check.checked == 200
    assert abs(check.original_accuracy - check.mirrored_accuracy) < 0.05
    assert check.reason().startswith("Mirror images kept")


def test_mirror_images_that_look_like_another_class_are_left_out():
    original, mirrored, labels = _features(400, swap=True)

    check = mirror_check(original, mirrored, labels, 4)

    assert not check.keep
    assert check.original_accuracy > 0.9 and check.mirrored_accuracy < 0.3
    assert "left out" in check.reason() and "changes what these pictures show" in check.reason()


def test_too_few_images_to_tell_keeps_the_default():
    original, mirrored, labels = _features(30, swap=True)

    assert mirror_check(original, mirrored, labels, 4) is None


def _gradient_records(per_class: int, seed: int):
    """Brightness rising to the right (class 0) or to the left (class 1): a mirror image swaps them."""
    rng = np.random.default_rng(seed)
    ramp = np.tile(np.linspace(30, 220, 32), (32, 1))
    records, labels = [], []
    for label in (0, 1):
        for _ in range(per_class):
            pixels = (ramp if label == 0 else ramp[:, ::-1]) + rng.normal(0, 15, (32, 32))
            pixels = np.repeat(np.clip(pixels, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
            records.append(ImageRecord(hashlib.sha256(pixels.tobytes()).hexdigest(), lambda p=pixels: p))
            labels.append(label)
    return records, np.array(labels)


class NotingObserver(RecordingObserver):
    def __init__(self):
        super().__init__()
        self.notes = []

    def on_note(self, text):
        self.notes.append(text)


@pytest.mark.parametrize(("horizontal_flip", "noted"), [(None, True), (True, False)])
def test_training_leaves_mirror_images_out_where_they_change_the_class_unless_told(horizontal_flip, noted):
    train_images, train_labels = _gradient_records(30, seed=0)
    val_images, val_labels = _gradient_records(5, seed=1)
    observer = NotingObserver()
    settings = config(epochs=3, augment=True, augment_views=2, horizontal_flip=horizontal_flip)

    result = train(settings, train_images, train_labels, val_images, val_labels, ["right", "left"], observer)

    if noted:
        assert len(observer.notes) == 1 and "left out" in observer.notes[0]
    else:
        assert observer.notes == []
    accuracy = float((result.val_probabilities.argmax(axis=1) == val_labels).mean())
    if noted:
        # Trained on the originals only: nothing contradicts them.
        assert accuracy == 1.0


def test_a_small_drop_that_chance_explains_keeps_the_mirrors_and_a_steady_one_does_not():
    original, _, labels = _features(2000, swap=False, seed=3)
    rng = np.random.default_rng(4)

    def mirrored_with(share):
        """The same features, but for a share of the pictures those of the next class's picture."""
        moved = rng.random(len(labels)) < share
        mirrored = original.copy()
        mirrored[moved] = original[(np.arange(len(labels)) + 1) % len(labels)][moved]
        return mirrored

    assert mirror_check(original, mirrored_with(0.002), labels, 4).keep
    steady = mirror_check(original, mirrored_with(0.08), labels, 4)
    assert not steady.keep and 0.03 < steady.original_accuracy - steady.mirrored_accuracy < 0.15
