"""What a training run saves after every epoch so that a new process can go on from there.

A checkpoint holds the phase, the epochs' history, the plateau control (early stopping and learning
rate reduction), the weights being trained, the best weights so far, the optimizer's state and, in the
fine-tuning phase, the head phase's result to fall back to. It is one ``.npz`` of plain arrays (no
pickle), written through a ``CheckpointStore`` the caller provides (the platform's storage API).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

FORMAT_VERSION = 1


class CheckpointStore(Protocol):
    def saved(self) -> Iterable[bytes]:
        """The saved checkpoints, newest first (the newest may be damaged by a crash while saving)."""

    def save(self, data: bytes) -> None:
        """Save a new checkpoint; a crash while saving must leave the previous one readable."""


@dataclass
class PlateauControl:
    """Early stopping (with the best weights kept) and learning-rate reduction on a validation-loss
    plateau, as Keras's EarlyStopping(restore_best_weights) and ReduceLROnPlateau do, but with state
    that can be saved and restored between processes."""

    patience: int
    lr_patience: int
    min_lr: float
    factor: float = 0.5
    # ReduceLROnPlateau's default: a change smaller than this is no improvement for the rate.
    lr_min_delta: float = 1e-4
    best: float = math.inf
    wait: int = 0
    lr_best: float = math.inf
    lr_wait: int = 0
    stopped: bool = False

    def update(self, val_loss: float, learning_rate: float) -> tuple[bool, float]:
        """Account for one epoch; returns (improved: keep these weights as the best, next learning rate)."""
        improved = val_loss < self.best
        if improved:
            self.best, self.wait = val_loss, 0
        else:
            self.wait += 1
            self.stopped = self.wait >= self.patience
        if val_loss < self.lr_best - self.lr_min_delta:
            self.lr_best, self.lr_wait = val_loss, 0
        else:
            self.lr_wait += 1
            if self.lr_wait >= self.lr_patience and learning_rate > self.min_lr:
                learning_rate = max(learning_rate * self.factor, self.min_lr)
                self.lr_wait = 0
        return improved, learning_rate

    def state(self) -> dict[str, Any]:
        # JSON has no infinity: an epoch-less control saves its bests as null.
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PlateauControl:
        values = dict(state)
        for name in ("best", "lr_best"):
            values[name] = math.inf if values.get(name) is None else values[name]
        return cls(**values)


@dataclass
class TrainingCheckpoint:
    fingerprint: str
    phase: str
    # Every epoch so far, both phases: dicts of epoch, phase and the logged values.
    history: list[dict[str, Any]]
    control: dict[str, Any]
    weights: list[np.ndarray]
    best_weights: list[np.ndarray] | None
    optimizer: list[np.ndarray]
    # Fine-tuning only: the head phase's final head weights and its best validation loss.
    head_weights: list[np.ndarray] = field(default_factory=list)
    best_head_loss: float | None = None
    # What else the run needs to go on as planned (e.g. its fine-tuning epochs after re-planning).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    def epochs_done_in(self, phase: str) -> int:
        return sum(1 for entry in self.history if entry["phase"] == phase)

    def to_bytes(self) -> bytes:
        meta = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "phase": self.phase,
            "history": self.history,
            "control": self.control,
            "best_head_loss": self.best_head_loss,
            "has_best": self.best_weights is not None,
            "extra": self.extra,
        }
        arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        for group, values in (
            ("weights", self.weights),
            ("best", self.best_weights or []),
            ("optimizer", self.optimizer),
            ("head", self.head_weights),
        ):
            arrays.update({f"{group}/{index}": np.asarray(value) for index, value in enumerate(values)})
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainingCheckpoint:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"checkpoint format {meta.get('format')} is not {FORMAT_VERSION}")

            def group(name: str) -> list[np.ndarray]:
                count = sum(1 for key in archive.files if key.startswith(f"{name}/"))
                return [archive[f"{name}/{index}"] for index in range(count)]

            return cls(
                fingerprint=meta["fingerprint"],
                phase=meta["phase"],
                history=meta["history"],
                control=meta["control"],
                weights=group("weights"),
                best_weights=group("best") if meta["has_best"] else None,
                optimizer=group("optimizer"),
                head_weights=group("head"),
                best_head_loss=meta["best_head_loss"],
                extra=meta.get("extra", {}),
            )


def run_fingerprint(
    config: dict[str, Any], image_ids: Sequence[str], labels: Sequence[int] | NDArray[np.integer[Any]]
) -> str:
    """Identifies what a run trains on: a checkpoint of another configuration or other images is not
    resumed from (the run starts over instead)."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for image_id, label in zip(image_ids, labels, strict=True):
        digest.update(f"{image_id}:{int(label)};".encode())
    return digest.hexdigest()
