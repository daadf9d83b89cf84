"""How a training run reports to its caller: an observer told of every epoch, batch and plan change.

An observer cancels a run by raising from `on_batch_end` (the platform's raises its job's cancellation
once the job stops running): the exception ends training within the epoch, or between batches of
feature extraction, and reaches the caller unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol

PHASE_HEAD = "head"
PHASE_FINE_TUNE = "fine_tune"
EPOCH_LOG_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


class TrainingObserver(Protocol):
    def on_epoch_end(self, epoch: int, phase: str, logs: dict[str, float]) -> None:
        """`epoch` counts from 1 across both phases; `logs` has every key in EPOCH_LOG_KEYS."""

    def on_batch_end(self) -> None:
        """Called after every training batch and every batch of feature extraction; may raise to cancel."""

    def on_resume(self, epochs_done: int) -> None:
        """Called before anything else when training goes on from a checkpoint of `epochs_done` epochs."""

    def on_plan(self, total_epochs: int, epoch_seconds: float | None) -> None:
        """The run's epochs in all (head plus fine-tuning), whenever the time left changes it."""

    def on_note(self, text: str) -> None:
        """A choice training made from the data (e.g. leaving mirror images out), for the user."""


class SilentObserver:
    """The observer of a run that was given none."""

    def on_epoch_end(self, epoch: int, phase: str, logs: dict[str, float]) -> None:
        pass

    def on_batch_end(self) -> None:
        pass

    def on_resume(self, epochs_done: int) -> None:
        pass

    def on_plan(self, total_epochs: int, epoch_seconds: float | None) -> None:
        pass

    def on_note(self, text: str) -> None:
        pass


def notify(observer: TrainingObserver, hook: str, *arguments: Any) -> None:
    # on_resume, on_plan and on_note are optional: an observer written before them still works.
    method = getattr(observer, hook, None)
    if method is not None:
        method(*arguments)
