"""Phase 2: fine-tuning the backbone's top with the head on the cached feature maps of its bottom,
AdamW with warm-up then cosine decay, planned to end within the time budget."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from classifier.ml import arrays
from classifier.ml.training.cached_features import FeatureData, RunFeatures
from classifier.ml.training.loop import compile_model, fit
from classifier.ml.training.observer import PHASE_FINE_TUNE, PHASE_HEAD, notify
from classifier.ml.training.schedule import Schedule
from classifier.ml.training.state import Run, one_hot

if TYPE_CHECKING:
    import keras

# A training step (forward, backward, update) of the backbone's top costs about this many times its
# inference pass, which computing the head's features measured: the first fine-tuning epoch's
# estimate, before it can be timed.
TRAIN_STEP_COST = 3.0
# Below this batch size BatchNorm statistics are too noisy to adapt: they stay ImageNet's.
MIN_BATCH_FOR_BATCHNORM = 16


def fine_tune(
    run: Run,
    features: RunFeatures,
    head: keras.Model,
    data: FeatureData,
    train_y: NDArray[np.int64],
    val_y: NDArray[np.int64],
) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
    """The backbone's top and the head on the cached maps. Returns the final model's pooled train/val
    features, or None if phase 1 stayed best (the top is then back to its own weights)."""
    keras, config = run.keras, run.config
    if features.split is None or data.train_maps is None or data.val_maps is None:
        raise ValueError("fine-tuning needs a split backbone and its cached feature maps")
    top = features.split.top
    original_top = top.get_weights()
    batch_norm_adapts = config.batch_size >= MIN_BATCH_FOR_BATCHNORM
    # Layer by layer: a model made from the middle of another does not pass `trainable` on to the
    # layers it shares with it.
    top.trainable = True
    for layer in top.layers:
        layer.trainable = batch_norm_adapts or not isinstance(layer, keras.layers.BatchNormalization)
    maps = keras.Input(data.train_maps.shape[2:], dtype="float32", name="maps")
    tuned = keras.Model(maps, head(top(maps)), name="top_and_head")
    optimizer = keras.optimizers.AdamW(learning_rate=config.fine_tune_learning_rate, weight_decay=config.weight_decay)
    compile_model(keras, tuned, optimizer, config.label_smoothing)
    steps_per_epoch = -(-len(train_y) // config.batch_size)
    schedule = Schedule(run, optimizer, steps_per_epoch)
    fit(
        run,
        tuned,
        PHASE_FINE_TUNE,
        epochs=config.fine_tune_epochs,
        data=arrays.feed(
            data.train_maps, one_hot(train_y, run.class_count), config.batch_size,
            shuffle_seed=config.seed + 1, random_view=True, views=data.used_views,
        ),
        validation_data=arrays.feed(data.val_maps, one_hot(val_y, run.class_count), config.batch_size),
        schedule=schedule,
    )
    # Judged on accuracy: a model stopped early in its schedule may be less sure (a higher loss) yet
    # more often right, and calibration fixes the former afterwards.
    tuned_epochs = [entry for entry in run.history if entry["phase"] == PHASE_FINE_TUNE]
    head_epochs = [entry for entry in run.history if entry["phase"] == PHASE_HEAD]
    if not tuned_epochs or _score(tuned_epochs) <= _score(head_epochs):
        top.set_weights(original_top)
        head.set_weights(run.head_weights)
        return None
    return (
        features.pooled("tuned-train", top, data.train_maps[:, 0]),
        features.pooled("tuned-val", top, data.val_maps),
    )


def fine_tuning_fits(run: Run, data: FeatureData, train_count: int) -> bool:
    """Plan the fine-tuning epochs from the measured speed of the backbone's top before the first one
    starts, so the warm-up and decay are laid out for the epochs that fit; False when not one does
    (the head's model is then the result, and the budget is kept)."""
    if run.fine_tune_epochs <= 0:
        return False
    if run.resume_for(PHASE_FINE_TUNE) is not None or not math.isfinite(run.time_left()):
        # A resumed phase was planned when it started; an unbounded one needs no plan.
        return True
    epoch = data.top_seconds_per_row * (TRAIN_STEP_COST * train_count + len(data.val))
    fits = int(run.time_left() // max(epoch, 1e-6))
    if fits < 1:
        notify(run.observer, "on_note", f"No fine-tuning: an epoch would take about {epoch:.0f} s and the budget "
               f"had {max(0.0, run.time_left()):.0f} s left; the head on the frozen backbone is the model.")
        run.replan(0, None)
        return False
    if fits < run.fine_tune_epochs:
        run.replan(fits, epoch)
    return True


def _score(epochs: list[dict[str, Any]]) -> tuple[float, float]:
    best = min(epochs, key=lambda entry: entry["val_loss"])
    return (max(entry["val_accuracy"] for entry in epochs), -best["val_loss"])
