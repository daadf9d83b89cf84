"""Transfer-learning training: a head on cached backbone features, then optional fine-tuning.

Phase 1 ("head") trains a small head (feature scaling, Dropout, Dense) on features the frozen
backbone computes once per image (see `features`), so its epochs cost almost nothing. Phase 2
("fine_tune"), when configured, unfreezes the top layers of the backbone (BatchNorm stays frozen)
and trains the whole model on images at a tenth of the learning rate. TensorFlow is imported inside
`train`, never at module import.

Given a `CheckpointStore`, every epoch ends with a checkpoint (see `checkpoint`), and a later call
with the same configuration and images goes on from the last one: a lost worker costs one epoch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from classifier.ml.calibration import softmax
from classifier.ml.checkpoint import CheckpointStore, PlateauControl, TrainingCheckpoint, run_fingerprint
from classifier.ml.config import TrainingConfig
from classifier.ml.export import PROBABILITIES_LAYER
from classifier.ml.features import (
    ORIGINAL,
    FeatureCache,
    FeatureKey,
    MemoryFeatureCache,
    compute_features,
    extract_in_batches,
)
from classifier.ml.images import resize_array

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

PHASE_HEAD = "head"
PHASE_FINE_TUNE = "fine_tune"
# The one augmentation phase 1 can use: a mirror image is a fixed view of the image, so its
# features can be cached like the original's.
MIRRORED = "mirrored"
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1
EPOCH_LOG_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


@dataclass(frozen=True)
class ImageRecord:
    """An image known by its content hash, read only when its pixels are needed.

    `load` returns RGB uint8 (h, w, 3) of any size (e.g. `images.load_array` on the stored file);
    training resizes it. Fully cached images are never loaded in phase 1.
    """

    sha256: str
    load: Callable[[], np.ndarray]


class TrainingObserver(Protocol):
    def on_epoch_end(self, epoch: int, phase: str, logs: dict[str, float]) -> None:
        """`epoch` counts from 1 across both phases; `logs` has every key in EPOCH_LOG_KEYS."""

    def on_batch_end(self) -> None:
        """Called after every training batch and every batch of feature extraction."""

    def should_stop(self) -> bool:
        """Checked after every batch; True ends training with TrainingCancelled."""

    def on_resume(self, epochs_done: int) -> None:
        """Called before anything else when training goes on from a checkpoint of `epochs_done` epochs."""


class TrainingCancelled(Exception):
    def __init__(self, epochs_completed: int) -> None:
        super().__init__(f"training cancelled after {epochs_completed} epoch(s)")
        self.epochs_completed = epochs_completed


@dataclass
class TrainingResult:
    # Raw RGB float32 [0, 255] (None, s, s, 3) in, class probabilities out.
    model: keras.Model
    class_names: list[str]
    image_size: int
    # One dict per epoch: epoch, phase and EPOCH_LOG_KEYS.
    history: list[dict[str, Any]]
    # The epoch whose weights `model` holds (lowest validation loss), counted from 1.
    best_epoch: int
    val_logits: np.ndarray
    val_probabilities: np.ndarray
    val_labels: np.ndarray
    # The backbone's pooled features (the head's input) from the final model, original views only:
    # the reference points for telling unknown images apart later.
    train_embeddings: np.ndarray
    train_labels: np.ndarray
    val_embeddings: np.ndarray


class _SilentObserver:
    def on_epoch_end(self, epoch: int, phase: str, logs: dict[str, float]) -> None:
        pass

    def on_batch_end(self) -> None:
        pass

    def should_stop(self) -> bool:
        return False

    def on_resume(self, epochs_done: int) -> None:
        pass


@dataclass
class _Run:
    """What the steps of one `train` call share."""

    keras: Any
    config: TrainingConfig
    observer: TrainingObserver
    class_count: int
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: CheckpointStore | None = None
    fingerprint: str = ""
    # The checkpoint this call goes on from, if any.
    resume: TrainingCheckpoint | None = None
    # Fine-tuning only: what its checkpoints carry of the head phase.
    head_weights: list[np.ndarray] = field(default_factory=list)
    best_head_loss: float | None = None

    def resume_for(self, phase: str) -> TrainingCheckpoint | None:
        return self.resume if self.resume is not None and self.resume.phase == phase else None


def train(
    config: TrainingConfig,
    train_images: Sequence[ImageRecord],
    train_labels: Sequence[int] | np.ndarray,
    val_images: Sequence[ImageRecord],
    val_labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    observer: TrainingObserver | None = None,
    *,
    feature_cache: FeatureCache | None = None,
    checkpoints: CheckpointStore | None = None,
) -> TrainingResult:
    """Train a classifier for `class_names`; labels are indices into it.

    `feature_cache` keeps backbone features between runs (e.g. a `DirectoryFeatureCache` shared by
    all versions of a dataset); without one they live only for this call. `checkpoints` receives a
    checkpoint after every epoch, and one it already holds for this configuration and these images
    is gone on from (a checkpoint of anything else is ignored: the run starts over).
    Raises TrainingCancelled when `observer.should_stop()` turns true, ValueError on bad input,
    and the backbones module's UnknownBackbone / WeightsUnavailable.
    """
    import keras

    from classifier.ml import backbones

    train_y = _checked_labels("train", train_images, train_labels, len(class_names))
    val_y = _checked_labels("val", val_images, val_labels, len(class_names))
    if len(class_names) < 2 or len(set(class_names)) != len(class_names):
        raise ValueError(f"need at least two distinct class names, got {list(class_names)}")
    observer = observer or _SilentObserver()
    spec = backbones.get_backbone_spec(config.backbone)
    size = config.image_size or spec.default_input_size

    keras.utils.set_random_seed(config.seed)
    extractor = backbones.build_feature_extractor(
        config.backbone, input_size=size, weights=config.weights, weights_dir=config.weights_dir
    )
    # An untrained backbone's features depend on the seed that initialised it.
    weights_id = "imagenet" if config.weights == "imagenet" else f"random-seed{config.seed}"
    cache = feature_cache if feature_cache is not None else MemoryFeatureCache()

    run = _Run(keras, config, observer, len(class_names), checkpoints=checkpoints)
    run.fingerprint = _fingerprint(config, train_images, train_y, val_images, val_y)
    run.resume = _checkpoint_load(checkpoints, run.fingerprint)
    if run.resume is not None:
        run.history = [dict(entry) for entry in run.resume.history]
        observer.on_resume(run.resume.epochs_done)

    def check_stop() -> None:
        observer.on_batch_end()
        if observer.should_stop():
            raise TrainingCancelled(len(run.history))

    def features_of(records: Sequence[ImageRecord], variant: str) -> np.ndarray:
        keys = [FeatureKey(r.sha256, config.backbone, size, weights_id, variant) for r in records]
        loaders = [_loader(record, size, mirrored=variant == MIRRORED) for record in records]
        return compute_features(
            extractor.predict_on_batch, loaders, config.batch_size, cache, keys, on_batch_end=check_stop
        )

    train_features = features_of(train_images, ORIGINAL)
    val_features = features_of(val_images, ORIGINAL)
    head_x, head_y = train_features, train_y
    if config.augment:
        head_x = np.concatenate([train_features, features_of(train_images, MIRRORED)])
        head_y = np.concatenate([train_y, train_y])

    head = _build_head(keras, train_features, len(class_names), config.dropout)
    if run.resume is not None and run.resume.phase == PHASE_FINE_TUNE:
        # The head phase finished before the checkpoint: take its result instead of training again.
        head.set_weights(run.resume.head_weights)
        run.head_weights, run.best_head_loss = run.resume.head_weights, run.resume.best_head_loss
    else:
        _compile(keras, head, config.learning_rate, config.label_smoothing)
        _fit(
            run,
            head,
            PHASE_HEAD,
            epochs=config.epochs,
            data=(head_x, _one_hot(head_y, len(class_names))),
            validation_data=(val_features, _one_hot(val_y, len(class_names))),
        )
        run.head_weights = head.get_weights()
        run.best_head_loss = min(entry["val_loss"] for entry in run.history)

    inputs = keras.Input((size, size, 3), dtype="float32", name="image")
    logits = head(extractor(inputs))
    model = keras.Model(inputs, keras.layers.Softmax(name=PROBABILITIES_LAYER)(logits), name="classifier")
    # Same layers and weights, trained from logits in phase 2 like the head in phase 1.
    logits_model = keras.Model(inputs, logits, name="classifier_logits")

    if config.fine_tuning_enabled:
        head_epochs = sum(1 for entry in run.history if entry["phase"] == PHASE_HEAD)
        fine_tuned = _fine_tune(
            run, backbones, logits_model, extractor, (train_images, train_y), (val_images, val_y), size
        )
        if fine_tuned is None:
            # The backbone is back to its frozen weights, so the cached features still hold.
            history_for_best = run.history[:head_epochs]
        else:
            history_for_best = run.history[head_epochs:]
            train_features, val_features = fine_tuned
    else:
        history_for_best = run.history

    best = min(history_for_best, key=lambda entry: entry["val_loss"])
    # An eager call: the head is a single matrix product, not worth tracing a predict function for.
    val_logits = keras.ops.convert_to_numpy(head(val_features, training=False))
    return TrainingResult(
        model=model,
        class_names=list(class_names),
        image_size=size,
        history=run.history,
        best_epoch=best["epoch"],
        val_logits=val_logits,
        val_probabilities=softmax(val_logits),
        val_labels=val_y,
        train_embeddings=train_features,
        train_labels=train_y,
        val_embeddings=val_features,
    )


def predict_probabilities(
    model: keras.Model, images: Sequence[ImageRecord], *, image_size: int, batch_size: int = 32
) -> np.ndarray:
    """Class probabilities (n, classes) from a trained model, loading one batch of images at a time."""
    loaders = [_loader(record, image_size) for record in images]
    return extract_in_batches(model.predict_on_batch, loaders, batch_size)


def _fine_tune(
    run: _Run,
    backbones: Any,
    logits_model: keras.Model,
    extractor: keras.Model,
    train_split: tuple[Sequence[ImageRecord], np.ndarray],
    val_split: tuple[Sequence[ImageRecord], np.ndarray],
    size: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Phase 2. Returns the final model's train/val features, or None if phase 1 stayed best."""
    import tensorflow as tf

    keras, config = run.keras, run.config
    (train_images, train_y), (val_images, val_y) = train_split, val_split
    _unfreeze_top(keras, extractor, backbones.backbone_layers(extractor), config.fine_tune_layers)
    best_head_loss = run.best_head_loss
    # The frozen backbone and the head phase's head: what the model falls back to.
    head_weights = logits_model.get_weights()

    # Decoded once and kept as uint8: every fine-tuning epoch needs every image.
    train_x = np.stack([_loader(record, size)() for record in train_images])
    val_x = np.stack([_loader(record, size)() for record in val_images])
    augmenter = _augmenter(keras, config.seed) if config.augment else None

    def prepare(images: Any, labels: Any) -> tuple[Any, Any]:
        images = tf.cast(images, tf.float32)
        if augmenter is not None:
            images = augmenter(images, training=True)
        return images, labels

    train_data = (
        tf.data.Dataset.from_tensor_slices((train_x, _one_hot(train_y, run.class_count)))
        .shuffle(len(train_x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    val_data = (
        tf.data.Dataset.from_tensor_slices((val_x, _one_hot(val_y, run.class_count)))
        .batch(config.batch_size)
        .map(lambda images, labels: (tf.cast(images, tf.float32), labels))
    )
    _compile(keras, logits_model, config.learning_rate * FINE_TUNE_LEARNING_RATE_FACTOR, config.label_smoothing)
    _fit(run, logits_model, PHASE_FINE_TUNE, epochs=config.fine_tune_epochs, data=train_data, validation_data=val_data)
    fine_tune_losses = [entry["val_loss"] for entry in run.history if entry["phase"] == PHASE_FINE_TUNE]
    if min(fine_tune_losses) >= best_head_loss:
        logits_model.set_weights(head_weights)
        return None
    return (
        extract_in_batches(extractor.predict_on_batch, _array_loaders(train_x), config.batch_size),
        extract_in_batches(extractor.predict_on_batch, _array_loaders(val_x), config.batch_size),
    )


def _fit(run: _Run, model: keras.Model, phase: str, *, epochs: int, data: Any, validation_data: Any) -> None:
    """model.fit with early stopping, LR reduction, checkpoints and the observer; appends to `run.history`.

    Goes on from `run.resume` when it is a checkpoint of this phase; ends with the best weights."""
    config = run.config
    control = PlateauControl(
        patience=config.early_stopping_patience,
        # Lower the rate well before early stopping gives up, so it gets a chance to help.
        lr_patience=max(1, config.early_stopping_patience // 2),
        min_lr=config.learning_rate * 1e-3,
    )
    reporter = _Reporter(run, model, phase, control)
    resume = run.resume_for(phase)
    done = 0
    if resume is not None:
        reporter.restore(resume)
        done = resume.epochs_done_in(phase)
    if done < epochs and not control.stopped:
        if isinstance(data, tuple):
            fit_arguments = {"x": data[0], "y": data[1], "batch_size": config.batch_size, "shuffle": True}
        else:
            # Already batched and shuffled by tf.data.
            fit_arguments = {"x": data, "shuffle": False}
        model.fit(
            **fit_arguments,
            validation_data=validation_data,
            epochs=epochs,
            initial_epoch=done,
            callbacks=[reporter.callback()],
            verbose=0,
        )
    if reporter.cancelled:
        raise TrainingCancelled(len(run.history))
    if reporter.best_weights is not None:
        model.set_weights(reporter.best_weights)


class _Reporter:
    """Feeds the observer from Keras callbacks, stops fit between batches when asked, applies the
    plateau control and saves a checkpoint at every epoch's end."""

    def __init__(self, run: _Run, model: keras.Model, phase: str, control: PlateauControl) -> None:
        self.run = run
        self.model = model
        self.phase = phase
        self.control = control
        self.best_weights: list[np.ndarray] | None = None
        self.cancelled = False
        self.started = 0.0

    def callback(self) -> Any:
        return self.run.keras.callbacks.LambdaCallback(
            on_epoch_begin=self.epoch_begin,
            on_epoch_end=self.epoch_end,
            on_train_batch_end=self.batch_end,
        )

    def restore(self, checkpoint: TrainingCheckpoint) -> None:
        """Weights, optimizer state and plateau control as they were at the checkpoint."""
        self.model.set_weights(checkpoint.weights)
        optimizer = self.model.optimizer
        optimizer.build(self.model.trainable_variables)
        if len(optimizer.variables) != len(checkpoint.optimizer):
            raise ValueError("the checkpoint's optimizer state does not fit this model")
        for variable, value in zip(optimizer.variables, checkpoint.optimizer, strict=True):
            variable.assign(value)
        self.control = PlateauControl.from_state(checkpoint.control)
        self.best_weights = checkpoint.best_weights

    def epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.run.observer.on_batch_end()
        if self.run.observer.should_stop():
            self.cancelled = True
            self.model.stop_training = True

    def epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # Keras still validates and ends the epoch it was stopped in; that partial epoch is not one.
        if self.cancelled:
            return
        keras = self.run.keras
        logs = logs or {}
        entry = {
            "loss": float(logs["loss"]),
            "accuracy": float(logs["accuracy"]),
            "val_loss": float(logs["val_loss"]),
            "val_accuracy": float(logs["val_accuracy"]),
            # The rate this epoch used, read before the plateau control lowers it.
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "seconds": time.perf_counter() - self.started,
        }
        improved, next_rate = self.control.update(entry["val_loss"], entry["learning_rate"])
        if improved:
            self.best_weights = self.model.get_weights()
        if next_rate != entry["learning_rate"]:
            self.model.optimizer.learning_rate = next_rate
        if self.control.stopped:
            self.model.stop_training = True
        number = len(self.run.history) + 1
        self.run.history.append({"epoch": number, "phase": self.phase, **entry})
        # Saved before the observer hears of the epoch, so every epoch it records is one a resumed
        # run will not repeat.
        self._checkpoint_save()
        self.run.observer.on_epoch_end(number, self.phase, entry)

    def _checkpoint_save(self) -> None:
        if self.run.checkpoints is None:
            return
        checkpoint = TrainingCheckpoint(
            fingerprint=self.run.fingerprint,
            phase=self.phase,
            history=self.run.history,
            control=self.control.state(),
            weights=self.model.get_weights(),
            best_weights=self.best_weights,
            optimizer=[self.run.keras.ops.convert_to_numpy(v) for v in self.model.optimizer.variables],
            head_weights=self.run.head_weights if self.phase == PHASE_FINE_TUNE else [],
            best_head_loss=self.run.best_head_loss if self.phase == PHASE_FINE_TUNE else None,
        )
        self.run.checkpoints.save(checkpoint.to_bytes())


def _fingerprint(
    config: TrainingConfig,
    train_images: Sequence[ImageRecord],
    train_y: np.ndarray,
    val_images: Sequence[ImageRecord],
    val_y: np.ndarray,
) -> str:
    # Where the weights are read from does not change what is trained.
    settings = {key: value for key, value in config.to_dict().items() if key != "weights_dir"}
    images = [f"train:{r.sha256}" for r in train_images] + [f"val:{r.sha256}" for r in val_images]
    return run_fingerprint(settings, images, np.concatenate([train_y, val_y]))


def _checkpoint_load(store: CheckpointStore | None, fingerprint: str) -> TrainingCheckpoint | None:
    """The newest readable checkpoint of this run; None to start from the beginning."""
    for data in store.saved() if store is not None else ():
        try:
            checkpoint = TrainingCheckpoint.from_bytes(data)
        except Exception:
            # Any damage (a truncated zip from a crash while saving) means: try the previous one.
            logger.warning("A damaged training checkpoint was skipped.", exc_info=True)
            continue
        # The newest one decides: an older checkpoint of the same run is never newer information.
        return checkpoint if checkpoint.fingerprint == fingerprint else None
    return None


def _build_head(keras: Any, train_features: np.ndarray, class_count: int, dropout: float) -> keras.Model:
    # Centre each feature and divide all by one pooled standard deviation, so one learning rate
    # suits every backbone (their features differ in scale by orders of magnitude). One scale for
    # all, not one per feature: features that are near-constant on the training set (common after
    # ReLU) would otherwise be blown up and explode on the first image that activates them.
    mean = train_features.mean(axis=0, dtype=np.float64)
    spread = float(np.sqrt(train_features.var(axis=0, dtype=np.float64).mean())) or 1.0
    features = keras.Input((train_features.shape[1],), name="features")
    scaled = keras.layers.Rescaling(1.0 / spread, offset=(-mean / spread).astype(np.float32), name="feature_scaling")(
        features
    )
    hidden = keras.layers.Dropout(dropout, name="head_dropout")(scaled)
    # Logits out: the loss is computed from logits (stabler), and calibration needs them.
    logits = keras.layers.Dense(class_count, name="logits")(hidden)
    return keras.Model(features, logits, name="head")


def _compile(keras: Any, model: keras.Model, learning_rate: float, label_smoothing: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def _unfreeze_top(keras: Any, extractor: keras.Model, layers: list[Any], count: int) -> None:
    extractor.trainable = True
    for position, layer in enumerate(layers):
        top = position >= len(layers) - count
        # Frozen BatchNorm keeps its ImageNet statistics (Keras runs it in inference mode);
        # updating them from small fine-tuning batches wrecks the features.
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)


def _augmenter(keras: Any, seed: int) -> keras.Sequential:
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.05, seed=seed + 1),
            keras.layers.RandomZoom(0.1, seed=seed + 2),
            keras.layers.RandomContrast(0.1, seed=seed + 3),
        ],
        name="augmentation",
    )


def _array_loaders(images: np.ndarray) -> list[Callable[[], np.ndarray]]:
    return [lambda image=image: image for image in images]


def _loader(record: ImageRecord, size: int, *, mirrored: bool = False) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        pixels = resize_array(record.load(), size)
        return pixels[:, ::-1] if mirrored else pixels

    return load


def _checked_labels(
    split: str, records: Sequence[ImageRecord], labels: Sequence[int] | np.ndarray, class_count: int
) -> np.ndarray:
    array = np.asarray(labels)
    if len(records) == 0:
        raise ValueError(f"no {split} images")
    if array.shape != (len(records),):
        raise ValueError(f"{len(records)} {split} images but labels of shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{split} labels must be class indices (integers), got {array.dtype}")
    if array.min() < 0 or array.max() >= class_count:
        raise ValueError(f"{split} labels must lie in 0..{class_count - 1}")
    return array.astype(np.int64)


def _one_hot(labels: np.ndarray, class_count: int) -> np.ndarray:
    return np.eye(class_count, dtype=np.float32)[labels]
