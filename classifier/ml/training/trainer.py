"""`train`: the two phases of one run, from checked input to the float32 model that answers on raw pixels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from classifier.ml import arrays, backbones
from classifier.ml.backbone_registry import get_backbone_spec
from classifier.ml.calibration import softmax
from classifier.ml.checkpoint import CheckpointStore
from classifier.ml.config import TrainingConfig
from classifier.ml.export import PROBABILITIES_LAYER
from classifier.ml.features import FeatureCache, MemoryFeatureCache, extract_in_batches
from classifier.ml.training.cached_features import RunFeatures, image_loader, views_to_use
from classifier.ml.training.fine_tuning import fine_tune, fine_tuning_fits
from classifier.ml.training.loop import compile_model, fit
from classifier.ml.training.observer import (
    PHASE_FINE_TUNE,
    PHASE_HEAD,
    SilentObserver,
    TrainingObserver,
    notify,
)
from classifier.ml.training.records import ImageRecord, TrainingResult
from classifier.ml.training.state import Run, checkpoint_load, one_hot, training_fingerprint

if TYPE_CHECKING:
    import keras

# Training embeddings returned for the unknown-image detector, at most (a sample beyond that).
MAX_EMBEDDINGS = 10_000

Labels = Sequence[int] | NDArray[np.integer[Any]]


def train(
    config: TrainingConfig,
    train_images: Sequence[ImageRecord],
    train_labels: Labels,
    val_images: Sequence[ImageRecord],
    val_labels: Labels,
    class_names: Sequence[str],
    observer: TrainingObserver | None = None,
    *,
    feature_cache: FeatureCache | None = None,
    checkpoints: CheckpointStore | None = None,
    time_budget: float | None = None,
    scratch_dir: str | None = None,
) -> TrainingResult:
    """Train a classifier for `class_names`; labels are indices into it.

    It runs on this machine's GPUs (several: mirrored, in mixed precision) or its CPU, as
    `devices.training_placement` chooses, and returns a float32 model whatever it ran on.

    `feature_cache` keeps backbone features between runs (e.g. a `DirectoryFeatureCache` shared by
    all versions of a dataset); without one they live only for this call. `checkpoints` receives a
    checkpoint after every epoch, and one it already holds for this configuration and these images
    is gone on from (a checkpoint of anything else is ignored: the run starts over). `time_budget`
    bounds the seconds this training may take (its checkpointed epochs included): fine-tuning plans
    its epochs to end within it. `scratch_dir` holds the run's feature files (default: the system's).
    Raises whatever the observer raises to cancel, ValueError on bad input, and the backbone modules'
    UnknownBackbone / WeightsUnavailable.
    """
    from classifier.ml import devices

    # An untrained backbone's pooled features are tiny (around 1e-10): float16 rounds them to zero, and
    # the head would learn nothing. Only pretrained backbones train in mixed precision.
    placement = devices.training_placement(mixed_precision_allowed=config.weights == "imagenet")
    with placement.scope():
        result = _train(
            config,
            train_images,
            train_labels,
            val_images,
            val_labels,
            class_names,
            observer,
            feature_cache=feature_cache,
            checkpoints=checkpoints,
            time_budget=time_budget,
            scratch_dir=scratch_dir,
        )
    if placement.mixed_precision or placement.replicas > 1:
        # Exported and served in float32 with plain variables, as a model trained on one CPU is.
        result.model = devices.float32_copy(result.model)
    result.devices, result.replicas, result.precision = placement.devices, placement.replicas, placement.precision
    return result


def _train(
    config: TrainingConfig,
    train_images: Sequence[ImageRecord],
    train_labels: Labels,
    val_images: Sequence[ImageRecord],
    val_labels: Labels,
    class_names: Sequence[str],
    observer: TrainingObserver | None,
    *,
    feature_cache: FeatureCache | None,
    checkpoints: CheckpointStore | None,
    time_budget: float | None,
    scratch_dir: str | None,
) -> TrainingResult:
    import tempfile

    import keras

    train_y = _checked_labels("train", train_images, train_labels, len(class_names))
    val_y = _checked_labels("val", val_images, val_labels, len(class_names))
    if len(class_names) < 2 or len(set(class_names)) != len(class_names):
        raise ValueError(f"need at least two distinct class names, got {list(class_names)}")
    observer = observer or SilentObserver()
    spec = get_backbone_spec(config.backbone)
    size = config.image_size or spec.default_input_size

    keras.utils.set_random_seed(config.seed)
    if config.fine_tuning_enabled:
        extractor, split = backbones.build_split_extractor(
            config.backbone,
            input_size=size,
            weights=config.weights,
            weights_dir=config.weights_dir,
            top_fraction=config.fine_tune_fraction,
            top_layers=config.fine_tune_layers,
        )
    else:
        extractor = backbones.build_feature_extractor(
            config.backbone, input_size=size, weights=config.weights, weights_dir=config.weights_dir
        )
        split = None

    run = Run(keras, config, observer, len(class_names), checkpoints=checkpoints, time_budget=time_budget)
    run.fine_tune_epochs = config.fine_tune_epochs if config.fine_tuning_enabled else 0
    run.fingerprint = training_fingerprint(config, train_images, train_y, val_images, val_y)
    run.resume = checkpoint_load(checkpoints, run.fingerprint)
    if run.resume is not None:
        run.history = [dict(entry) for entry in run.resume.history]
        run.spent_before = sum(entry.get("seconds") or 0.0 for entry in run.history)
        run.fine_tune_epochs = int(run.resume.extra.get("fine_tune_epochs", run.fine_tune_epochs))
        notify(observer, "on_resume", run.resume.epochs_done)
    notify(observer, "on_plan", config.epochs + run.fine_tune_epochs, None)

    with tempfile.TemporaryDirectory(prefix="sightline-train-", dir=scratch_dir) as scratch:
        cache = feature_cache if feature_cache is not None else MemoryFeatureCache()
        features = RunFeatures(run, extractor, split, Path(scratch), cache, size)
        data = features.compute(train_images, val_images)
        data.used_views = views_to_use(run, features.views, data, train_y)
        head = _build_head(keras, data.train_original, len(class_names), config.dropout)
        if run.resume is not None and run.resume.phase == PHASE_FINE_TUNE:
            # The head phase finished before the checkpoint: take its result instead of training again.
            head.set_weights(run.resume.head_weights)
            run.head_weights, run.best_head_loss = run.resume.head_weights, run.resume.best_head_loss
        else:
            optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
            compile_model(keras, head, optimizer, config.label_smoothing)
            views = data.train_views.shape[1]
            head_y = one_hot(train_y[arrays.repeated_rows(len(train_y), views)], len(class_names))
            fit(
                run,
                head,
                PHASE_HEAD,
                epochs=config.epochs,
                data=arrays.feed(
                    data.train_views.reshape(-1, data.train_views.shape[-1]), head_y, config.batch_size,
                    shuffle_seed=config.seed, rows=arrays.view_rows(len(train_y), views, data.used_views),
                ),
                validation_data=(data.val, one_hot(val_y, len(class_names))),
            )
            run.head_weights = head.get_weights()
            run.best_head_loss = min(entry["val_loss"] for entry in run.history)

        train_features, val_features = data.train_original, data.val
        history_for_best = [entry for entry in run.history if entry["phase"] == PHASE_HEAD]
        if split is not None and fine_tuning_fits(run, data, len(train_y)):
            tuned = fine_tune(run, features, head, data, train_y, val_y)
            if tuned is not None:
                history_for_best = [entry for entry in run.history if entry["phase"] == PHASE_FINE_TUNE]
                train_features, val_features = tuned
        best = min(history_for_best, key=lambda entry: entry["val_loss"])
        # An eager call: the head is a single matrix product, not worth tracing a predict function for.
        val_logits = keras.ops.convert_to_numpy(head(np.asarray(val_features), training=False))
        # The embeddings leave the scratch folder: at most MAX_EMBEDDINGS of them (the unknown-image
        # detector samples fewer still), so memory does not grow with the dataset here either.
        kept = _sample_rows(len(train_y), MAX_EMBEDDINGS, config.seed)
        train_features, train_y_kept = np.array(train_features[kept]), train_y[kept]
        val_features = np.array(val_features)

    inputs = keras.Input((size, size, 3), dtype="float32", name="image")
    logits = head(extractor(inputs))
    # float32 under mixed precision too: a softmax in float16 loses small probabilities.
    probabilities = keras.layers.Softmax(name=PROBABILITIES_LAYER, dtype="float32")(logits)
    model = keras.Model(inputs, probabilities, name="classifier")
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
        train_labels=train_y_kept,
        val_embeddings=val_features,
    )


def predict_probabilities(
    model: keras.Model, images: Sequence[ImageRecord], *, image_size: int, batch_size: int = 32
) -> NDArray[np.float32]:
    """Class probabilities (n, classes) from a trained model, loading one batch of images at a time."""
    loaders = [image_loader(record, image_size) for record in images]
    return extract_in_batches(model.predict_on_batch, loaders, batch_size)


def _build_head(keras: Any, train_features: NDArray[np.float32], class_count: int, dropout: float) -> keras.Model:
    # Centre each feature and divide all by one pooled standard deviation, so one learning rate
    # suits every backbone (their features differ in scale by orders of magnitude). One scale for
    # all, not one per feature: features that are near-constant on the training set (common after
    # ReLU) would otherwise be blown up and explode on the first image that activates them.
    mean = train_features.mean(axis=0, dtype=np.float64)
    spread = float(np.sqrt(train_features.var(axis=0, dtype=np.float64).mean())) or 1.0
    features = keras.Input((train_features.shape[1],), name="features")
    # The head stays float32 under mixed precision (it costs nothing beside the backbone): features reach
    # thousands, past what float16 scales safely, and the loss and calibration need exact logits.
    scaled = keras.layers.Rescaling(
        1.0 / spread, offset=(-mean / spread).astype(np.float32), name="feature_scaling", dtype="float32"
    )(features)
    hidden = keras.layers.Dropout(dropout, name="head_dropout", dtype="float32")(scaled)
    # Logits out: the loss is computed from logits (stabler), and calibration needs them.
    logits = keras.layers.Dense(class_count, name="logits", dtype="float32")(hidden)
    return keras.Model(features, logits, name="head")


def _checked_labels(split: str, records: Sequence[ImageRecord], labels: Labels, class_count: int) -> NDArray[np.int64]:
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


def _sample_rows(count: int, limit: int, seed: int) -> NDArray[np.int64]:
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))
