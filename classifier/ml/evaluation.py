"""Held-out metrics for a model version: accuracy, per-class scores, confusion matrix, worst mistakes.

numpy only; every value returned is a plain int/float/list/dict, ready to store as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def evaluate(probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix.

    confusion_matrix[true][predicted] counts examples; a class never predicted (or never present)
    gets precision (or recall) 0 rather than a division error.
    """
    probabilities, labels = check_predictions(probabilities, labels)
    class_count = len(class_names)
    if probabilities.shape[1] != class_count:
        raise ValueError(f"{probabilities.shape[1]} probability columns for {class_count} class names")
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((class_count, class_count), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)

    true_positives = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted_counts = confusion.sum(axis=0)
    precision = _ratio(true_positives, predicted_counts)
    recall = _ratio(true_positives, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        "accuracy": float(true_positives.sum() / len(labels)),
        "macro_f1": float(f1.mean()),
        "per_class": {
            name: {
                "precision": float(precision[index]),
                "recall": float(recall[index]),
                "f1": float(f1[index]),
                "support": int(support[index]),
            }
            for index, name in enumerate(class_names)
        },
        "confusion_matrix": confusion.tolist(),
    }


def most_confused(probabilities: np.ndarray, labels: np.ndarray, k: int = 10) -> list[dict[str, Any]]:
    """The k wrong predictions made with the highest confidence, most confident first.

    Each entry: index (row in the inputs), predicted and true class indices, and the probability
    given to the predicted class.
    """
    probabilities, labels = check_predictions(probabilities, labels)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    # Stable sort keeps input order among equal confidences, so results are reproducible.
    ranked = wrong[np.argsort(-confidence[wrong], kind="stable")][:k]
    return [
        {
            "index": int(index),
            "predicted": int(predicted[index]),
            "true": int(labels[index]),
            "probability": float(confidence[index]),
        }
        for index in ranked
    ]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> NDArray[np.float64]:
    share: NDArray[np.float64] = numerator.astype(np.float64)
    ratio: NDArray[np.float64] = np.divide(share, denominator, out=np.zeros_like(share), where=denominator > 0)
    return ratio


def check_predictions(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As float64 scores (examples, classes) and integer labels, or ValueError saying what is off."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or len(probabilities) == 0:
        raise ValueError(f"expected a non-empty (examples, classes) array, got shape {probabilities.shape}")
    if labels.shape != (len(probabilities),):
        raise ValueError(f"{len(probabilities)} rows but labels of shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= probabilities.shape[1]:
        raise ValueError(f"labels must be class indices in 0..{probabilities.shape[1] - 1}")
    return probabilities, labels
