"""The fine-tuning learning-rate schedule: warm-up, then cosine decay over the planned steps."""

from __future__ import annotations

import math
from typing import Any

from classifier.ml.training.state import Run

# Warm-up share of the fine-tuning steps (at least one epoch's worth of them is never needed).
WARMUP_SHARE = 0.15


class Schedule:
    """Warm-up then cosine decay over the planned fine-tuning steps; the plan may shorten as epochs
    are measured, and the decay follows."""

    def __init__(self, run: Run, optimizer: Any, steps_per_epoch: int) -> None:
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
