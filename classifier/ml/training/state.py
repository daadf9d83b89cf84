"""What the steps of one training run share (its configuration, observer, history, time budget and the
checkpoint it goes on from), and how a run is recognised among saved checkpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classifier.ml.checkpoint import CheckpointStore, TrainingCheckpoint, run_fingerprint
from classifier.ml.config import TrainingConfig
from classifier.ml.training.observer import PHASE_HEAD, TrainingObserver, notify
from classifier.ml.training.records import ImageRecord

logger = logging.getLogger(__name__)


@dataclass
class Run:
    """What the steps of one `train` call share."""

    # The keras module, imported by `train` (never at module import: see the package's docstring).
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
    head_weights: list[NDArray[Any]] = field(default_factory=list)
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
        notify(self.observer, "on_plan", head_epochs + fine_tune_epochs, epoch_seconds)


def training_fingerprint(
    config: TrainingConfig,
    train_images: Sequence[ImageRecord],
    train_y: NDArray[np.int64],
    val_images: Sequence[ImageRecord],
    val_y: NDArray[np.int64],
) -> str:
    # Where the weights are read from does not change what is trained.
    settings = {key: value for key, value in config.to_dict().items() if key != "weights_dir"}
    if layer_precision() != "float32":
        # A mixed-precision run's optimizer carries loss-scaling state a float32 run's has not: a checkpoint
        # written on a GPU worker is ignored (started over) on a CPU one, and the other way round, instead
        # of failing to load. Float32 fingerprints stay as they were, so older checkpoints still resume.
        settings["precision"] = layer_precision()
    images = [f"train:{r.sha256}" for r in train_images] + [f"val:{r.sha256}" for r in val_images]
    return run_fingerprint(settings, images, np.concatenate([train_y, val_y]))


def layer_precision() -> str:
    """The precision layers built now compute in: "float32", or "mixed_float16" inside a GPU placement."""
    import keras

    return str(keras.mixed_precision.global_policy().name)


def checkpoint_load(store: CheckpointStore | None, fingerprint: str) -> TrainingCheckpoint | None:
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


def one_hot(labels: NDArray[np.int64], class_count: int) -> NDArray[np.float32]:
    return np.eye(class_count, dtype=np.float32)[labels]
