"""Transfer-learning training: a head on cached backbone features, then fine-tuning of the backbone's
top on cached features of its bottom.

Phase 1 ("head") trains a small head (feature scaling, Dropout, Dense) on pooled features of the frozen
backbone, computed once per image and view (see `features`), so its epochs cost almost nothing.
Phase 2 ("fine_tune"), when configured, splits the backbone at a block boundary (see `split`): the
bottom's feature maps of every view of every image are computed once and cached, and the top with the
head trains on them, AdamW with warm-up then cosine decay, BatchNorm adapting when batches are big
enough. Features live in memory-mapped files in a scratch folder (see `arrays`), so memory does not
grow with the dataset. Given a time budget, fine-tuning shortens itself to fit what the first epochs
show is left. TensorFlow is imported inside `train`, never at module import.

Given a `CheckpointStore`, every epoch ends with a checkpoint (see `checkpoint`), and a later call
with the same configuration and images goes on from the last one: a lost worker costs one epoch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from classifier.ml import arrays
from classifier.ml.calibration import softmax
from classifier.ml.checkpoint import CheckpointStore, PlateauControl, TrainingCheckpoint, run_fingerprint
from classifier.ml.config import TrainingConfig
from classifier.ml.export import PROBABILITIES_LAYER
from classifier.ml.features import FeatureCache, FeatureKey, MemoryFeatureCache, extract_in_batches
from classifier.ml.images import resize_array
from classifier.ml.mirror import mirror_check
from classifier.ml.views import MIRRORED, ORIGINAL, view_loader, view_names

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

PHASE_HEAD = "head"
PHASE_FINE_TUNE = "fine_tune"
__all__ = ["MIRRORED", "ORIGINAL"]
# Warm-up share of the fine-tuning steps (at least one epoch's worth of them is never needed).
WARMUP_SHARE = 0.15
# Training embeddings returned for the unknown-image detector, at most (a sample beyond that).
MAX_EMBEDDINGS = 10_000
# A training step (forward, backward, update) of the backbone's top costs about this many times its
# inference pass, which computing the head's features measured: the first fine-tuning epoch's
# estimate, before it can be timed.
TRAIN_STEP_COST = 3.0
# Below this batch size BatchNorm statistics are too noisy to adapt: they stay ImageNet's.
MIN_BATCH_FOR_BATCHNORM = 16
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

    def on_plan(self, total_epochs: int, epoch_seconds: float | None) -> None:
        """The run's epochs in all (head plus fine-tuning), whenever the time left changes it."""

    def on_note(self, text: str) -> None:
        """A choice training made from the data (e.g. leaving mirror images out), for the user."""


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
    # Where it trained (``devices.TrainingPlacement``): devices such as ["GPU:0", "GPU:1"] or ["CPU:0"],
    # replicas in sync, and the precision layers computed in.
    devices: list[str] = field(default_factory=list)
    replicas: int = 1
    precision: str = "float32"


class _SilentObserver:
    def on_epoch_end(self, epoch: int, phase: str, logs: dict[str, float]) -> None:
        pass

    def on_batch_end(self) -> None:
        pass

    def should_stop(self) -> bool:
        return False

    def on_resume(self, epochs_done: int) -> None:
        pass

    def on_plan(self, total_epochs: int, epoch_seconds: float | None) -> None:
        pass

    def on_note(self, text: str) -> None:
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
    # Seconds the training steps may take in all (None: no budget), and those already spent.
    time_budget: float | None = None
    started: float = field(default_factory=time.monotonic)
    spent_before: float = 0.0
    # Fine-tuning epochs planned: the config's cap, lowered once measured epochs show the budget's end.
    fine_tune_epochs: int = 0

    def time_left(self) -> float:
        if self.time_budget is None:
            return float("inf")
        return self.time_budget - self.spent_before - (time.monotonic() - self.started)

    def resume_for(self, phase: str) -> TrainingCheckpoint | None:
        return self.resume if self.resume is not None and self.resume.phase == phase else None

    def replan(self, fine_tune_epochs: int, epoch_seconds: float | None) -> None:
        """Fewer fine-tuning epochs than planned, told to the observer as the run's epochs in all."""
        self.fine_tune_epochs = fine_tune_epochs
        head_epochs = sum(1 for entry in self.history if entry["phase"] == PHASE_HEAD)
        _notify(self.observer, "on_plan", head_epochs + fine_tune_epochs, epoch_seconds)


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
    Raises TrainingCancelled when `observer.should_stop()` turns true, ValueError on bad input,
    and the backbones module's UnknownBackbone / WeightsUnavailable.
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
    train_labels: Sequence[int] | np.ndarray,
    val_images: Sequence[ImageRecord],
    val_labels: Sequence[int] | np.ndarray,
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

    from classifier.ml import backbones

    train_y = _checked_labels("train", train_images, train_labels, len(class_names))
    val_y = _checked_labels("val", val_images, val_labels, len(class_names))
    if len(class_names) < 2 or len(set(class_names)) != len(class_names):
        raise ValueError(f"need at least two distinct class names, got {list(class_names)}")
    observer = observer or _SilentObserver()
    spec = backbones.get_backbone_spec(config.backbone)
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

    run = _Run(keras, config, observer, len(class_names), checkpoints=checkpoints, time_budget=time_budget)
    run.fine_tune_epochs = config.fine_tune_epochs if config.fine_tuning_enabled else 0
    run.fingerprint = _fingerprint(config, train_images, train_y, val_images, val_y)
    run.resume = _checkpoint_load(checkpoints, run.fingerprint)
    if run.resume is not None:
        run.history = [dict(entry) for entry in run.resume.history]
        run.spent_before = sum(entry.get("seconds") or 0.0 for entry in run.history)
        run.fine_tune_epochs = int(run.resume.extra.get("fine_tune_epochs", run.fine_tune_epochs))
        _notify(observer, "on_resume", run.resume.epochs_done)
    _notify(observer, "on_plan", config.epochs + run.fine_tune_epochs, None)

    with tempfile.TemporaryDirectory(prefix="sightline-train-", dir=scratch_dir) as scratch:
        cache = feature_cache if feature_cache is not None else MemoryFeatureCache()
        features = _Features(run, extractor, split, Path(scratch), cache, size)
        data = features.compute(train_images, val_images)
        data.used_views = _views_to_use(run, features.views, data, train_y)
        head = _build_head(keras, data.train_original, len(class_names), config.dropout)
        if run.resume is not None and run.resume.phase == PHASE_FINE_TUNE:
            # The head phase finished before the checkpoint: take its result instead of training again.
            head.set_weights(run.resume.head_weights)
            run.head_weights, run.best_head_loss = run.resume.head_weights, run.resume.best_head_loss
        else:
            _compile(keras, head, keras.optimizers.Adam(learning_rate=config.learning_rate), config.label_smoothing)
            views = data.train_views.shape[1]
            head_y = _one_hot(train_y[arrays.repeated_rows(len(train_y), views)], len(class_names))
            _fit(
                run,
                head,
                PHASE_HEAD,
                epochs=config.epochs,
                data=arrays.feed(
                    data.train_views.reshape(-1, data.train_views.shape[-1]), head_y, config.batch_size,
                    shuffle_seed=config.seed, rows=arrays.view_rows(len(train_y), views, data.used_views),
                ),
                validation_data=(data.val, _one_hot(val_y, len(class_names))),
            )
            run.head_weights = head.get_weights()
            run.best_head_loss = min(entry["val_loss"] for entry in run.history)

        train_features, val_features = data.train_original, data.val
        history_for_best = [entry for entry in run.history if entry["phase"] == PHASE_HEAD]
        if split is not None and _fine_tuning_fits(run, data, len(train_y)):
            tuned = _fine_tune(run, features, head, data, train_y, val_y)
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


@dataclass
class _Data:
    """One run's features, in memory-mapped files of its scratch folder."""

    scratch: Path
    # Pooled features of the frozen backbone: (n, views, d) for training, (n, d) for validation.
    train_views: np.ndarray
    val: np.ndarray
    # Fine-tuning only: the bottom's feature maps, (n, views, h, w, c) and (n, h, w, c).
    train_maps: np.ndarray | None = None
    val_maps: np.ndarray | None = None
    # The views training uses (indices into the views axis): all, or all but the mirror images.
    used_views: list[int] = field(default_factory=lambda: [0])
    # Seconds the backbone's top took per row of maps in inference (fine-tuning only).
    top_seconds_per_row: float = 0.0

    @property
    def train_original(self) -> np.ndarray:
        return self.train_views[:, 0]


class _Features:
    """Computes (or reads from the cache) every feature a run needs, one batch at a time."""

    def __init__(self, run: _Run, extractor: Any, split: Any, scratch: Path, cache: FeatureCache, size: int) -> None:
        config = run.config
        self.run, self.extractor, self.split, self.scratch, self.cache, self.size = (
            run, extractor, split, scratch, cache, size
        )
        self.views = view_names(
            augment=config.augment, horizontal_flip=config.horizontal_flip, count=config.augment_views
        )
        # An untrained backbone's features depend on the seed that initialised it; features computed in
        # mixed precision differ slightly from float32 ones, so each precision keeps its own.
        self.weights_id = "imagenet" if config.weights == "imagenet" else f"random-seed{config.seed}"
        if _precision() != "float32":
            self.weights_id += f"@{_precision()}"

    def check_stop(self) -> None:
        self.run.observer.on_batch_end()
        if self.run.observer.should_stop():
            raise TrainingCancelled(len(self.run.history))

    def compute(self, train_images: Sequence[ImageRecord], val_images: Sequence[ImageRecord]) -> _Data:
        if self.split is None:
            train_views = self._stacked_views(train_images, self.views, self.extractor, "", "train-pooled")
            val = self._stacked_views(val_images, [ORIGINAL], self.extractor, "", "val-pooled")[:, 0]
            return _Data(self.scratch, train_views, val)
        cut = f"@{self.split.cut}"
        train_maps = self._stacked_views(train_images, self.views, self.split.bottom, cut, "train-maps", np.float16)
        val_maps = self._stacked_views(val_images, [ORIGINAL], self.split.bottom, cut, "val-maps", np.float16)[:, 0]
        # The frozen top over the cached maps gives the head its pooled features: no second pass
        # over the images.
        flat = train_maps.reshape(-1, *train_maps.shape[2:])
        started = time.monotonic()
        train_views = self.pooled("train-pooled", flat)
        per_row = (time.monotonic() - started) / max(1, len(flat))
        val = self.pooled("val-pooled", val_maps)
        views = train_views.reshape(len(train_images), len(self.views), -1)
        return _Data(self.scratch, views, val, train_maps, val_maps, top_seconds_per_row=per_row)

    def pooled(self, name: str, maps: np.ndarray) -> np.ndarray:
        """The top's pooled features (inference) over cached maps, into a file of the scratch folder."""
        out = arrays.disk_array(self.scratch, name, (len(maps), int(self.split.top.output.shape[-1])), np.float32)
        return arrays.map_in_batches(out, self.split.top.predict_on_batch, maps, self.run.config.batch_size,
                                     self.check_stop)

    def _stacked_views(
        self,
        records: Sequence[ImageRecord],
        views: list[str],
        model: Any,
        suffix: str,
        name: str,
        dtype: Any = np.float32,
    ) -> np.ndarray:
        """(n, views, …) features of `model` for every view of every record."""
        config = self.run.config
        shape = tuple(int(dim) for dim in model.output.shape[1:])
        out = arrays.disk_array(self.scratch, name, (len(records), len(views), *shape), dtype)
        for position, view in enumerate(views):
            keys = [
                FeatureKey(record.sha256, config.backbone, self.size, self.weights_id, f"{view}{suffix}")
                for record in records
            ]
            loaders = [view_loader(_loader(record, self.size), view, sha256=record.sha256) for record in records]
            arrays.fill_features(
                out[:, position], model.predict_on_batch, loaders, keys, self.cache, config.batch_size, self.check_stop
            )
        return out


def _views_to_use(run: _Run, views: list[str], data: _Data, train_y: np.ndarray) -> list[int]:
    """Every view, unless mirroring was left to training to decide and it changes the pictures' class
    (see `mirror`). Decided from the cached features alone, so a resumed run decides the same."""
    used = list(range(len(views)))
    if run.config.horizontal_flip is not None or MIRRORED not in views:
        return used
    mirror = views.index(MIRRORED)
    check = mirror_check(data.train_views[:, 0], data.train_views[:, mirror], train_y, run.class_count,
                         seed=run.config.seed)
    if check is None:
        return used
    _notify(run.observer, "on_note", check.reason())
    return used if check.keep else [view for view in used if view != mirror]


def predict_probabilities(
    model: keras.Model, images: Sequence[ImageRecord], *, image_size: int, batch_size: int = 32
) -> np.ndarray:
    """Class probabilities (n, classes) from a trained model, loading one batch of images at a time."""
    loaders = [_loader(record, image_size) for record in images]
    return extract_in_batches(model.predict_on_batch, loaders, batch_size)


def _fine_tune(
    run: _Run, features: _Features, head: Any, data: _Data, train_y: np.ndarray, val_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Phase 2: the backbone's top and the head on the cached maps. Returns the final model's pooled
    train/val features, or None if phase 1 stayed best (the top is then back to its own weights)."""
    keras, config = run.keras, run.config
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
    _compile(keras, tuned, optimizer, config.label_smoothing)
    steps_per_epoch = -(-len(train_y) // config.batch_size)
    schedule = _Schedule(run, optimizer, steps_per_epoch)
    _fit(
        run,
        tuned,
        PHASE_FINE_TUNE,
        epochs=config.fine_tune_epochs,
        data=arrays.feed(
            data.train_maps, _one_hot(train_y, run.class_count), config.batch_size,
            shuffle_seed=config.seed + 1, random_view=True, views=data.used_views,
        ),
        validation_data=arrays.feed(data.val_maps, _one_hot(val_y, run.class_count), config.batch_size),
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
    return features.pooled("tuned-train", data.train_maps[:, 0]), features.pooled("tuned-val", data.val_maps)


def _fine_tuning_fits(run: _Run, data: _Data, train_count: int) -> bool:
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
        _notify(run.observer, "on_note", f"No fine-tuning: an epoch would take about {epoch:.0f} s and the budget "
                f"had {max(0.0, run.time_left()):.0f} s left; the head on the frozen backbone is the model.")
        run.replan(0, None)
        return False
    if fits < run.fine_tune_epochs:
        run.replan(fits, epoch)
    return True


def _score(epochs: list[dict[str, Any]]) -> tuple[float, float]:
    best = min(epochs, key=lambda entry: entry["val_loss"])
    return (max(entry["val_accuracy"] for entry in epochs), -best["val_loss"])


class _Schedule:
    """Warm-up then cosine decay over the planned fine-tuning steps; the plan may shorten as epochs
    are measured, and the decay follows."""

    def __init__(self, run: _Run, optimizer: Any, steps_per_epoch: int) -> None:
        self.run, self.optimizer, self.steps_per_epoch = run, optimizer, steps_per_epoch
        self.peak = run.config.fine_tune_learning_rate

    def rate_at(self, step: int) -> float:
        total = max(1, self.run.fine_tune_epochs * self.steps_per_epoch)
        warmup = max(1, int(total * WARMUP_SHARE))
        if step < warmup:
            return self.peak * (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return self.peak * 0.5 * (1.0 + math.cos(math.pi * progress))

    def batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        step = int(self.run.keras.ops.convert_to_numpy(self.optimizer.iterations))
        self.optimizer.learning_rate = self.rate_at(step)

    def epoch_end(self, done_in_phase: int, seconds: float) -> bool:
        """After an epoch of `seconds`: lower the planned epochs to what the time left allows; True to
        stop now."""
        run = self.run
        left = run.time_left()
        fits = done_in_phase + max(0, int(left // max(seconds, 1e-6))) if math.isfinite(left) else run.fine_tune_epochs
        if fits < run.fine_tune_epochs:
            run.replan(max(done_in_phase, fits), seconds)
        return done_in_phase >= run.fine_tune_epochs


def _fit(
    run: _Run,
    model: keras.Model,
    phase: str,
    *,
    epochs: int,
    data: Any,
    validation_data: Any,
    schedule: _Schedule | None = None,
) -> None:
    """model.fit with early stopping, LR reduction (or `schedule`), checkpoints and the observer;
    appends to `run.history`. Goes on from `run.resume` when it is a checkpoint of this phase; ends
    with the best weights, and early when the time budget runs out."""
    config = run.config
    control = PlateauControl(
        patience=config.early_stopping_patience,
        # Lower the rate well before early stopping gives up, so it gets a chance to help; a schedule
        # sets the rate itself.
        lr_patience=max(1, config.early_stopping_patience // 2) if schedule is None else 10**9,
        min_lr=config.learning_rate * 1e-3,
    )
    reporter = _Reporter(run, model, phase, control, schedule)
    resume = run.resume_for(phase)
    done = 0
    if resume is not None:
        reporter.restore(resume)
        done = resume.epochs_done_in(phase)
    if done < epochs and not control.stopped and not reporter.out_of_time(done):
        model.fit(
            data,
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

    def __init__(
        self, run: _Run, model: keras.Model, phase: str, control: PlateauControl, schedule: _Schedule | None = None
    ) -> None:
        self.run = run
        self.model = model
        self.phase = phase
        self.control = control
        self.schedule = schedule
        self.best_weights: list[np.ndarray] | None = None
        self.cancelled = False
        self.started = 0.0

    def callback(self) -> Any:
        return self.run.keras.callbacks.LambdaCallback(
            on_epoch_begin=self.epoch_begin,
            on_epoch_end=self.epoch_end,
            on_train_batch_begin=self.schedule.batch_begin if self.schedule is not None else None,
            on_train_batch_end=self.batch_end,
        )

    def out_of_time(self, done_in_phase: int) -> bool:
        """Whether the budget leaves no room for another epoch of this phase."""
        if self.phase == PHASE_HEAD and done_in_phase == 0:
            # Without one head epoch there is no model at all: a budget spent on features still gets it.
            return False
        if self.run.time_left() <= 0:
            return True
        return self.phase == PHASE_FINE_TUNE and done_in_phase >= self.run.fine_tune_epochs

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
        elif self.phase == PHASE_FINE_TUNE and self.run.time_left() <= 0:
            # The budget ends mid-epoch: Keras validates what it has, and that counts as the last
            # epoch (kept only if it beats the best so far).
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
        done_in_phase = sum(1 for e in self.run.history if e["phase"] == self.phase) + 1
        out_of_time = (
            self.schedule.epoch_end(done_in_phase, entry["seconds"])
            if self.schedule is not None
            else self.run.time_left() < entry["seconds"]
        )
        if self.control.stopped or out_of_time:
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
            extra={"fine_tune_epochs": self.run.fine_tune_epochs},
        )
        self.run.checkpoints.save(checkpoint.to_bytes())


def _sample_rows(count: int, limit: int, seed: int) -> np.ndarray:
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def _notify(observer: Any, hook: str, *arguments: Any) -> None:
    # on_resume and on_plan are optional: an observer written before them still works.
    method = getattr(observer, hook, None)
    if method is not None:
        method(*arguments)


def _fingerprint(
    config: TrainingConfig,
    train_images: Sequence[ImageRecord],
    train_y: np.ndarray,
    val_images: Sequence[ImageRecord],
    val_y: np.ndarray,
) -> str:
    # Where the weights are read from does not change what is trained.
    settings = {key: value for key, value in config.to_dict().items() if key != "weights_dir"}
    if _precision() != "float32":
        # A mixed-precision run's optimizer carries loss-scaling state a float32 run's has not: a checkpoint
        # written on a GPU worker is ignored (started over) on a CPU one, and the other way round, instead
        # of failing to load. Float32 fingerprints stay as they were, so older checkpoints still resume.
        settings["precision"] = _precision()
    images = [f"train:{r.sha256}" for r in train_images] + [f"val:{r.sha256}" for r in val_images]
    return run_fingerprint(settings, images, np.concatenate([train_y, val_y]))


def _precision() -> str:
    """The precision layers built now compute in: "float32", or "mixed_float16" inside a GPU placement."""
    import keras

    return str(keras.mixed_precision.global_policy().name)


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
    # The head stays float32 under mixed precision (it costs nothing beside the backbone): features reach
    # thousands, past what float16 scales safely, and the loss and calibration need exact logits.
    scaled = keras.layers.Rescaling(
        1.0 / spread, offset=(-mean / spread).astype(np.float32), name="feature_scaling", dtype="float32"
    )(features)
    hidden = keras.layers.Dropout(dropout, name="head_dropout", dtype="float32")(scaled)
    # Logits out: the loss is computed from logits (stabler), and calibration needs them.
    logits = keras.layers.Dense(class_count, name="logits", dtype="float32")(hidden)
    return keras.Model(features, logits, name="head")


def _compile(keras: Any, model: keras.Model, optimizer: Any, label_smoothing: float) -> None:
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def _loader(record: ImageRecord, size: int) -> Callable[[], np.ndarray]:
    return lambda: resize_array(record.load(), size)


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
