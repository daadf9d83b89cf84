"""The training's observer: what ``ml.training.train`` reports, written to rows as it happens.

One EpochMetric row per epoch (the live curves), the job's throttled progress and heartbeat per batch, and
the plan's live part on the version (epochs planned, seconds per epoch, expected end) for its ETA.
"""

import math
from datetime import timedelta
from typing import Any

from django.utils import timezone

from classifier.models import ModelVersion
from training_jobs.models import EpochMetric, Job
from training_jobs.services import ProgressReporter

# Share of the progress bar for the epochs; the rest is evaluation, calibration and export.
EPOCHS_SHARE = 0.85


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class JobObserver:
    """Keras-side hooks: an EpochMetric row per epoch, throttled progress and heartbeat per batch, and
    the plan's live part (epochs planned, seconds per epoch, expected end) on the version."""

    def __init__(self, job: Job, progress: ProgressReporter, total_epochs: int, version: ModelVersion) -> None:
        self.job = job
        self.progress = progress
        self.total_epochs = max(1, total_epochs)
        self.epochs_done = 0
        self.version = version
        self.plan: dict[str, Any] = dict(version.plan or {})
        self.started = timezone.now()
        self.epoch_seconds: float | None = None

    def on_plan(self, total_epochs: int, epoch_seconds: float | None) -> None:
        self.total_epochs = max(1, total_epochs)
        if epoch_seconds is not None:
            self.epoch_seconds = epoch_seconds
        self._live()

    def on_note(self, text: str) -> None:
        # A resumed run decides again from the same data: the same note, recorded once.
        reasons = self.plan.setdefault("reasons", [])
        if text not in reasons:
            reasons.append(text)
        self._live()

    def _live(self) -> None:
        if not self.plan:
            return
        now = timezone.now()
        if self.epoch_seconds is None:
            end = self.started + timedelta(seconds=self.plan.get("budget_minutes", 0) * 60)
        else:
            left = max(0, self.total_epochs - self.epochs_done) * self.epoch_seconds
            end = now + timedelta(seconds=left + self.plan.get("reserve_seconds", 0))
        self.plan["live"] = {
            "total_epochs": self.total_epochs,
            "epochs_done": self.epochs_done,
            "epoch_seconds": round(self.epoch_seconds, 1) if self.epoch_seconds is not None else None,
            "started_at": self.started.isoformat(),
            "expected_end": end.isoformat(),
        }
        ModelVersion.objects.filter(id=self.version.id).update(plan=self.plan)

    def fraction(self) -> float:
        return EPOCHS_SHARE * min(1.0, self.epochs_done / self.total_epochs)

    def on_epoch_end(self, epoch: int, phase: str, logs: dict[str, float]) -> None:
        EpochMetric.objects.update_or_create(
            job=self.job,
            epoch=epoch,
            # A diverging run logs NaN/inf, which JSON cannot carry: store it as a gap instead.
            defaults={
                "phase": phase,
                **{
                    k: _finite(logs.get(k))
                    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")
                },
            },
        )
        self.epochs_done = epoch
        if phase == "fine_tune" and logs.get("seconds"):
            # Fine-tuning epochs are the slow ones: they say when the training will end.
            self.epoch_seconds = logs["seconds"]
        self._live()
        self.progress(
            self.fraction(),
            f"Epoch {epoch} of {self.total_epochs} ({phase.replace('_', '-')}): "
            f"val accuracy {logs['val_accuracy']:.3f}",
            force=True,
        )

    def on_batch_end(self) -> None:
        # Throttled inside ProgressReporter; raises JobCancelled once the user cancels.
        self.progress(self.fraction())

    def on_resume(self, epochs_done: int) -> None:
        # Rows of epochs after the checkpoint belong to no weights any more: they are trained again.
        EpochMetric.objects.filter(job=self.job, epoch__gt=epochs_done).delete()
        self.epochs_done = epochs_done
        self.progress(self.fraction(), f"Resumed from the checkpoint after epoch {epochs_done}", force=True)
