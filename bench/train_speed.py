"""Head training on cached features vs. the tutorials' way (backbone run on every image, every epoch).

Same data, backbone, head, epochs and batch size for both:
  (a) baseline: keras.Model(image -> frozen backbone -> Dropout -> Dense), model.fit on the images;
  (b) `classifier.ml.training.train` with an empty feature cache (features computed once, then head
      epochs on the features), and (b') again with the cache filled, as a retrained version would.
Data: scikit-image's LFW subset, 100 faces vs 100 non-faces (25x25 greyscale), split 60/20/20.
Prints wall times, their ratio and both test accuracies.

    .venv/bin/python bench/train_speed.py [--epochs 20] [--backbone efficientnet_lite0] [--image-size 224]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# Before TensorFlow is imported: keep its start-up chatter out of the figures.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from classifier.ml.config import TrainingConfig  # noqa: E402
from classifier.ml.features import MemoryFeatureCache  # noqa: E402
from classifier.ml.images import resize_array  # noqa: E402
from classifier.ml.training import ImageRecord, train  # noqa: E402

if TYPE_CHECKING:
    import keras

CLASS_NAMES = ["face", "not_face"]
# One split's images and their labels.
Split = tuple[list[ImageRecord], np.ndarray]


def load_dataset(seed: int) -> dict[str, Split]:
    from skimage.data import lfw_subset

    # 200 images: the first 100 are faces, the rest are not.
    greyscale = (lfw_subset() * 255).round().astype(np.uint8)  # type: ignore[no-untyped-call]  # scikit-image leaves it unannotated
    pixels = np.repeat(greyscale[..., None], 3, axis=-1)
    labels = np.array([0] * 100 + [1] * 100)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = {"train": order[:120], "val": order[120:160], "test": order[160:]}
    return {split: (_records(pixels[indices]), labels[indices]) for split, indices in cut.items()}


def _records(pixels: np.ndarray) -> list[ImageRecord]:
    return [ImageRecord(hashlib.sha256(image.tobytes()).hexdigest(), _constant(image)) for image in pixels]


def _constant(image: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: image


def _stack(records: list[ImageRecord], size: int) -> np.ndarray:
    return np.stack([resize_array(record.load(), size) for record in records]).astype(np.float32)


def baseline(config: TrainingConfig, data: dict[str, Split]) -> tuple[float, float]:
    """The tutorials' loop: the frozen backbone sees every image again in every epoch."""
    import keras

    size = config.image_size
    assert size is not None, "main() sets the image size"

    from classifier.ml.backbones import build_feature_extractor

    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    extractor = build_feature_extractor(config.backbone, input_size=config.image_size, weights=config.weights)
    extractor.trainable = False
    image = keras.Input((config.image_size, config.image_size, 3))
    features = extractor(image, training=False)
    logits = keras.layers.Dense(len(CLASS_NAMES))(keras.layers.Dropout(config.dropout)(features))
    model = keras.Model(image, keras.layers.Softmax()(logits))
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    (train_records, train_labels), (val_records, val_labels) = data["train"], data["val"]
    model.fit(
        _stack(train_records, size),
        train_labels,
        validation_data=(_stack(val_records, size), val_labels),
        epochs=config.epochs,
        batch_size=config.batch_size,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    return seconds, _accuracy(model, data["test"], size)


def cached(config: TrainingConfig, data: dict[str, Split], cache: MemoryFeatureCache) -> tuple[float, float]:
    size = config.image_size
    assert size is not None, "main() sets the image size"
    started = time.perf_counter()
    (train_records, train_labels), (val_records, val_labels) = data["train"], data["val"]
    result = train(config, train_records, train_labels, val_records, val_labels, CLASS_NAMES, feature_cache=cache)
    seconds = time.perf_counter() - started
    return seconds, _accuracy(result.model, data["test"], size)


def _accuracy(model: keras.Model, split: Split, size: int) -> float:
    import keras

    records, labels = split
    probabilities = keras.ops.convert_to_numpy(model(_stack(records, size), training=False))
    return float((probabilities.argmax(axis=1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--image-size", type=int, help="default: the backbone's own input size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    import keras

    from classifier.ml.backbone_registry import get_backbone_spec
    from classifier.ml.backbone_weights import WeightsUnavailable
    from classifier.ml.backbones import build_feature_extractor

    image_size = arguments.image_size or get_backbone_spec(arguments.backbone).default_input_size
    try:
        build_feature_extractor(arguments.backbone, input_size=image_size, weights="imagenet")
        weights = "imagenet"
    except WeightsUnavailable as error:
        print(f"no ImageNet weights ({error}); using random weights")
        weights = None
    config = TrainingConfig(
        backbone=arguments.backbone,
        image_size=image_size,
        epochs=arguments.epochs,
        batch_size=arguments.batch_size,
        learning_rate=arguments.learning_rate,
        # Both sides run every epoch on the same images, so the times compare like for like.
        early_stopping_patience=arguments.epochs,
        augment=False,
        weights=weights,
        seed=arguments.seed,
    )
    data = load_dataset(arguments.seed)
    print(
        f"{config.backbone} ({weights or 'random'} weights) at {config.image_size}px, {config.epochs} epochs, "
        f"batch {config.batch_size}; train/val/test {len(data['train'][1])}/{len(data['val'][1])}/"
        f"{len(data['test'][1])} images, {os.cpu_count()} CPUs"
    )

    baseline_seconds, baseline_accuracy = baseline(config, data)
    keras.backend.clear_session()
    cache = MemoryFeatureCache()
    cold_seconds, cold_accuracy = cached(config, data, cache)
    keras.backend.clear_session()
    warm_seconds, warm_accuracy = cached(config, data, cache)

    print(f"(a) backbone every epoch (baseline): {baseline_seconds:7.1f} s  test accuracy {baseline_accuracy:.3f}")
    print(f"(b) train(), empty feature cache:    {cold_seconds:7.1f} s  test accuracy {cold_accuracy:.3f}")
    print(f"(b') train(), filled feature cache:   {warm_seconds:7.1f} s  test accuracy {warm_accuracy:.3f}")
    print(
        f"speed-up (a)/(b): {baseline_seconds / cold_seconds:.1f}x   (a)/(b'): {baseline_seconds / warm_seconds:.1f}x"
    )


if __name__ == "__main__":
    main()
