"""Temperature scaling and calibration measures (numpy only, so the web tier can apply it too).

Networks trained with cross-entropy are usually overconfident. Dividing the logits by one
temperature T fitted on validation data (Guo et al., 2017) fixes most of it without changing
any prediction. Serving with only probabilities p is the same: softmax(log p / T) = softmax(z / T).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classifier.ml.evaluation import check_predictions

TEMPERATURE_BOUNDS = (0.05, 20.0)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> NDArray[np.float64]:
    """Row-wise softmax of logits / temperature, in float64."""
    probabilities: NDArray[np.float64] = np.exp(_log_softmax(logits, temperature))
    return probabilities


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of the true labels under softmax(logits / temperature)."""
    logits, labels = check_predictions(logits, labels)
    log_probabilities = _log_softmax(logits, temperature)
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def fit_temperature(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    tolerance: float = 1e-6,
) -> float:
    """The temperature in `bounds` minimising validation NLL.

    The NLL is convex in 1/T, hence unimodal in log T, so a golden-section search on log T finds
    the minimum reliably without scipy. When every validation example is already right, the NLL
    keeps falling as T -> 0: a small validation set with no mistakes would make the model claim
    near-certainty on everything, so the temperature is then never set below 1.
    """
    logits, labels = check_predictions(logits, labels)
    if np.all(logits.argmax(axis=1) == labels):
        bounds = (max(bounds[0], 1.0), bounds[1])
    low, high = math.log(bounds[0]), math.log(bounds[1])

    def loss(log_temperature: float) -> float:
        return negative_log_likelihood(logits, labels, math.exp(log_temperature))

    left = high - _GOLDEN * (high - low)
    right = low + _GOLDEN * (high - low)
    left_loss, right_loss = loss(left), loss(right)
    while high - low > tolerance:
        if left_loss <= right_loss:
            high, right, right_loss = right, left, left_loss
            left = high - _GOLDEN * (high - low)
            left_loss = loss(left)
        else:
            low, left, left_loss = left, right, right_loss
            right = low + _GOLDEN * (high - low)
            right_loss = loss(right)
    return math.exp((low + high) / 2.0)


def reliability_diagram_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> list[dict[str, Any]]:
    """Equal-width confidence bins (lower, upper]: mean confidence, accuracy and count in each.

    Empty bins are included with confidence and accuracy None, so a chart keeps its x axis.
    """
    probabilities, labels = check_predictions(probabilities, labels)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Index i for edges[i] < confidence <= edges[i + 1], the usual convention for ECE.
    assigned = np.searchsorted(edges[1:-1], confidence, side="left")
    result = []
    for index in range(bins):
        members = assigned == index
        count = int(members.sum())
        result.append(
            {
                "lower": float(edges[index]),
                "upper": float(edges[index + 1]),
                "confidence": float(confidence[members].mean()) if count else None,
                "accuracy": float(correct[members].mean()) if count else None,
                "count": count,
            }
        )
    return result


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Sum over bins of |accuracy - confidence| weighted by the bin's share of examples."""
    total = len(labels)
    return float(
        sum(
            abs(entry["accuracy"] - entry["confidence"]) * entry["count"] / total
            for entry in reliability_diagram_bins(probabilities, labels, bins)
            if entry["count"]
        )
    )


def _log_softmax(logits: np.ndarray, temperature: float) -> NDArray[np.float64]:
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scaled: NDArray[np.float64] = np.asarray(logits, dtype=np.float64) / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    log_probabilities: NDArray[np.float64] = scaled - np.log(np.exp(scaled).sum(axis=-1, keepdims=True))
    return log_probabilities
