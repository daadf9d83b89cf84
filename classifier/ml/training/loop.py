"""One phase's Keras fit: early stopping and learning-rate reduction on a plateau (or the fine-tuning
schedule), a checkpoint at every epoch's end, the observer told of every batch and epoch, and an end
within the time budget."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from numpy.typing import NDArray

from classifier.ml.checkpoint import PlateauControl, TrainingCheckpoint
from classifier.ml.training.observer import PHASE_FINE_TUNE, PHASE_HEAD
from classifier.ml.training.schedule import Schedule
from classifier.ml.training.state import Run

if TYPE_CHECKING:
    import keras


def compile_model(keras: Any, model: keras.Model, optimizer: Any, label_smoothing: float) -> None:
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def fit(
    run: Run,
    model: keras.Model,
    phase: str,
    *,
    epochs: int,
    data: Any,
    validation_data: Any,
    schedule: Schedule | None = None,
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
    if reporter.best_weights is not None:
        model.set_weights(reporter.best_weights)


class _Reporter:
    """Feeds the observer from Keras callbacks, stops fit when the time is up, applies the plateau
    control and saves a checkpoint at every epoch's end."""

    def __init__(
        self, run: Run, model: keras.Model, phase: str, control: PlateauControl, schedule: Schedule | None = None
    ) -> None:
        self.run = run
        self.model = model
        self.phase = phase
        self.control = control
        self.schedule = schedule
        self.best_weights: list[NDArray[Any]] | None = None
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
        if self.phase == PHASE_FINE_TUNE and self.run.time_left() <= 0:
            # The budget ends mid-epoch: Keras validates what it has, and that counts as the last
            # epoch (kept only if it beats the best so far).
            self.model.stop_training = True

    def epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
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
