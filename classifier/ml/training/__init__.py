"""Transfer-learning training: a head on cached backbone features, then fine-tuning of the backbone's
top on cached features of its bottom.

Phase 1 ("head") trains a small head (feature scaling, Dropout, Dense) on pooled features of the frozen
backbone, computed once per image and view (see `cached_features`), so its epochs cost almost nothing.
Phase 2 ("fine_tune", see `fine_tuning`), when configured, splits the backbone at a block boundary (see
`classifier.ml.split`): the bottom's feature maps of every view of every image are computed once and
cached, and the top with the head trains on them, AdamW with warm-up then cosine decay (see `schedule`),
BatchNorm adapting when batches are big enough. Features live in memory-mapped files in a scratch folder
(see `classifier.ml.arrays`), so memory does not grow with the dataset. Given a time budget, fine-tuning
shortens itself to fit what the first epochs show is left. TensorFlow is imported inside `train`, never
at module import.

Given a `CheckpointStore`, every epoch ends with a checkpoint (see `loop` and `classifier.ml.checkpoint`),
and a later call with the same configuration and images goes on from the last one: a lost worker costs
one epoch.

This package's public API is what it names here; its modules are its parts.
"""

from classifier.ml.training.observer import (
    EPOCH_LOG_KEYS,
    PHASE_FINE_TUNE,
    PHASE_HEAD,
    TrainingObserver,
)
from classifier.ml.training.records import ImageRecord, TrainingResult
from classifier.ml.training.trainer import predict_probabilities, train

__all__ = [
    "EPOCH_LOG_KEYS",
    "PHASE_FINE_TUNE",
    "PHASE_HEAD",
    "ImageRecord",
    "TrainingObserver",
    "TrainingResult",
    "predict_probabilities",
    "train",
]
