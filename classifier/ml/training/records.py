"""What training takes and gives back: images known by their content hash, and the trained result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class ImageRecord:
    """An image known by its content hash, read only when its pixels are needed.

    `load` returns RGB uint8 (h, w, 3) of any size (e.g. `images.load_array` on the stored file);
    training resizes it. Fully cached images are never loaded in phase 1.
    """

    sha256: str
    load: Callable[[], NDArray[np.uint8]]


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
    val_logits: NDArray[np.float32]
    val_probabilities: NDArray[np.float64]
    val_labels: NDArray[np.int64]
    # The backbone's pooled features (the head's input) from the final model, original views only:
    # the reference points for telling unknown images apart later.
    train_embeddings: NDArray[np.float32]
    train_labels: NDArray[np.int64]
    val_embeddings: NDArray[np.float32]
    # Where it trained (``devices.TrainingPlacement``): devices such as ["GPU:0", "GPU:1"] or ["CPU:0"],
    # replicas in sync, and the precision layers computed in.
    devices: list[str] = field(default_factory=list)
    replicas: int = 1
    precision: str = "float32"
