"""Training goes on from its last checkpoint in a new call, as a new worker process would after the
first one was killed: the history continues with no gap or repeat, in either phase."""

import numpy as np
import pytest

from classifier.ml.checkpoint import PlateauControl, TrainingCheckpoint
from classifier.ml.training import PHASE_FINE_TUNE, PHASE_HEAD, predict_probabilities, train
from tests.classifier.ml.test_training import CLASS_NAMES, RecordingObserver, config, square_records


@pytest.fixture(scope="module")
def data():
    train_images, train_labels = square_records(12, seed=0)
    val_images, val_labels = square_records(6, seed=1)
    return train_images, train_labels, val_images, val_labels


class MemoryCheckpoints:
    def __init__(self) -> None:
        self.saves: list[bytes] = []

    def saved(self):
        return reversed(self.saves)

    def save(self, data: bytes) -> None:
        self.saves.append(data)


class WorkerKilled(Exception):
    """Stands in for SIGKILL: the call ends in the middle, nothing after it runs."""


class KilledAfter(RecordingObserver):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.kill_at = epoch
        self.resumed_from: int | None = None

    def on_epoch_end(self, epoch, phase, logs):
        super().on_epoch_end(epoch, phase, logs)
        if epoch == self.kill_at:
            raise WorkerKilled()

    def on_resume(self, epochs_done):
        self.resumed_from = epochs_done


@pytest.mark.parametrize(
    ("kill_at", "phase_resumed"),
    [(2, PHASE_HEAD), (6, PHASE_FINE_TUNE)],
    ids=["in the head phase", "in the fine-tuning phase"],
)
def test_a_killed_training_goes_on_from_its_last_epoch(data, kill_at, phase_resumed):
    train_images, train_labels, val_images, val_labels = data
    settings = config(epochs=4, fine_tune_layers=5, fine_tune_epochs=3)
    store = MemoryCheckpoints()

    first = KilledAfter(kill_at)
    with pytest.raises(WorkerKilled):
        train(settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES, first, checkpoints=store)
    assert TrainingCheckpoint.from_bytes(store.saves[-1]).phase == phase_resumed

    second = KilledAfter(epoch=0)
    result = train(
        settings, train_images, train_labels, val_images, val_labels, CLASS_NAMES, second, checkpoints=store
    )

    assert second.resumed_from == kill_at
    assert [epoch for epoch, _phase, _logs in second.epochs] == list(range(kill_at + 1, 8))
    assert [entry["epoch"] for entry in result.history] == list(range(1, 8))
    assert [entry["phase"] for entry in result.history] == [PHASE_HEAD] * 4 + [PHASE_FINE_TUNE] * 3
    # The epochs before the kill are the first call's, as it recorded them.
    for (epoch, _phase, logs), entry in zip(first.epochs, result.history, strict=False):
        assert entry["epoch"] == epoch and entry["val_loss"] == pytest.approx(logs["val_loss"])
    probabilities = predict_probabilities(result.model, val_images[:4], image_size=32)
    assert probabilities.shape == (4, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_a_checkpoint_of_other_settings_or_images_is_not_resumed(data):
    train_images, train_labels, val_images, val_labels = data
    store = MemoryCheckpoints()
    with pytest.raises(WorkerKilled):
        train(config(epochs=4), train_images, train_labels, val_images, val_labels, CLASS_NAMES, KilledAfter(2),
              checkpoints=store)

    observer = KilledAfter(epoch=0)
    result = train(config(epochs=3), train_images, train_labels, val_images, val_labels, CLASS_NAMES, observer,
                   checkpoints=store)

    assert observer.resumed_from is None
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3]


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(data):
    train_images, train_labels, val_images, val_labels = data
    store = MemoryCheckpoints()
    with pytest.raises(WorkerKilled):
        train(config(epochs=4), train_images, train_labels, val_images, val_labels, CLASS_NAMES, KilledAfter(3),
              checkpoints=store)
    store.saves[-1] = store.saves[-1][: len(store.saves[-1]) // 2]  # killed while writing it

    observer = KilledAfter(epoch=0)
    train(config(epochs=4), train_images, train_labels, val_images, val_labels, CLASS_NAMES, observer,
          checkpoints=store)

    assert observer.resumed_from == 2


def test_plateau_control_stops_and_lowers_the_rate_like_keras():
    control = PlateauControl(patience=3, lr_patience=1, min_lr=0.001)
    rate = 0.01
    steps = []
    for loss in (1.0, 0.9, 0.95, 0.97, 0.99):
        improved, rate = control.update(loss, rate)
        steps.append((improved, round(rate, 5), control.stopped))

    assert steps == [
        (True, 0.01, False),
        (True, 0.01, False),
        (False, 0.005, False),
        (False, 0.0025, False),
        (False, 0.00125, True),
    ]
    restored = PlateauControl.from_state(control.state())
    assert restored == control
    assert PlateauControl.from_state(PlateauControl(1, 1, 0.1).state()).best == float("inf")
