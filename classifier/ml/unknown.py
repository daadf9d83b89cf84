"""Telling apart images unlike anything a model version was trained on ("unknown"), from their embeddings.

The score is the distance from an image's L2-normalised embedding (the pooled backbone features the
head reads) to its k-th nearest training embedding: k-NN out-of-distribution detection (Sun et al.,
2022, "Out-of-Distribution Detection with Deep Nearest Neighbors"). It needs no labels at serving
time and no assumption about the shape of each class. The threshold is the score that a chosen
share of in-distribution validation images exceed. Numpy only: the web tier scores every prediction.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

METHOD_KNN = "knn"
# On a real case (EfficientNet-Lite0 features, LFW faces vs non-faces against other photos, 20
# splits) k = 5 to 10 scored best; k = 1 follows single odd training images, k = 20 blurs small classes.
DEFAULT_K = 5
# Bumped whenever the stored arrays change meaning, so an old file is refused instead of misread.
FORMAT_VERSION = 1
# Rows scored at once: keeps the (rows x reference) similarity matrix small during batch inference.
_SCORE_CHUNK = 256


@dataclass
class UnknownDetector:
    method: str
    # Scores above it are unknown.
    threshold: float
    k: int
    # Unit-length training embeddings (reference_count, embedding_size), float32.
    reference: np.ndarray
    # The share of in-distribution validation images the threshold was chosen to call unknown.
    false_unknown_rate: float
    # How many validation images chose the threshold: a handful makes it a rough one.
    validation_count: int

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Distance (0 to 2) to the k-th nearest reference embedding, per row: higher = more unknown."""
        rows = _unit_rows(_as_matrix("embeddings", embeddings, self.reference.shape[1]))
        scores = np.empty(len(rows), dtype=np.float64)
        for start in range(0, len(rows), _SCORE_CHUNK):
            similarities = rows[start : start + _SCORE_CHUNK] @ self.reference.T
            # The k-th largest cosine similarity, without sorting whole rows.
            kth = -np.partition(-similarities, self.k - 1, axis=1)[:, self.k - 1]
            # Euclidean distance between unit vectors, |a - b| = sqrt(2 - 2 cos): a distance a person
            # can read, and the one the k-NN paper thresholds.
            scores[start : start + _SCORE_CHUNK] = np.sqrt(np.clip(2.0 - 2.0 * kth, 0.0, None))
        return scores

    def is_unknown(self, embeddings: np.ndarray) -> np.ndarray:
        return self.verdict(embeddings)[1]

    def verdict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, is_unknown)`` from one scoring: each score compares a row with every reference."""
        scores = self.score(embeddings)
        return scores, scores > self.threshold

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format_version=np.int64(FORMAT_VERSION),
            method=np.str_(self.method),
            threshold=np.float64(self.threshold),
            k=np.int64(self.k),
            reference=self.reference.astype(np.float32),
            false_unknown_rate=np.float64(self.false_unknown_rate),
            validation_count=np.int64(self.validation_count),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> UnknownDetector:
        """Read `to_bytes` output; ValueError for anything else (never unpickles)."""
        try:
            stored = np.load(io.BytesIO(data), allow_pickle=False)
            if not isinstance(stored, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not an .npz archive")
            with stored:
                fields = {name: stored[name] for name in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"not an unknown-image detector file: {error}") from error
        try:
            version = int(fields["format_version"])
            method = str(fields["method"])
            detector = cls(
                method=method,
                threshold=float(fields["threshold"]),
                k=int(fields["k"]),
                reference=np.asarray(fields["reference"], dtype=np.float32),
                false_unknown_rate=float(fields["false_unknown_rate"]),
                validation_count=int(fields["validation_count"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"incomplete unknown-image detector file: {error}") from error
        if version != FORMAT_VERSION or method != METHOD_KNN:
            raise ValueError(f"unsupported unknown-image detector: format {version}, method {method!r}")
        if detector.reference.ndim != 2 or not 1 <= detector.k <= len(detector.reference):
            raise ValueError("corrupt unknown-image detector: bad reference embeddings or k")
        return detector

    def summary(self) -> dict[str, Any]:
        """What a version page shows: JSON-ready."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "k": self.k,
            "reference_count": len(self.reference),
            "embedding_size": int(self.reference.shape[1]),
            "false_unknown_rate": self.false_unknown_rate,
            "validation_count": self.validation_count,
        }


def fit_unknown_detector(
    train_embeddings: np.ndarray,
    train_labels: np.ndarray,
    val_embeddings: np.ndarray,
    *,
    false_unknown_rate: float = 0.05,
    max_reference: int = 5000,
    seed: int = 0,
    k: int = DEFAULT_K,
) -> UnknownDetector:
    """A detector whose references are the training embeddings (about `max_reference` of them at most,
    sampled per class) and whose threshold calls `false_unknown_rate` of the validation images unknown.

    Validation images are unseen by the references, so their scores are what a new in-distribution
    image would get; training images would score too low (each is its own nearest neighbour).
    """
    train = _as_matrix("train_embeddings", train_embeddings)
    val = _as_matrix("val_embeddings", val_embeddings, train.shape[1])
    labels = np.asarray(train_labels)
    if labels.shape != (len(train),):
        raise ValueError(f"{len(train)} train embeddings but labels of shape {labels.shape}")
    if not 0.0 < false_unknown_rate < 1.0:
        raise ValueError(f"false_unknown_rate must lie strictly between 0 and 1, got {false_unknown_rate}")
    if max_reference < 1 or k < 1:
        raise ValueError(f"max_reference and k must be at least 1, got {max_reference} and {k}")
    reference = _unit_rows(_sample_per_class(train, labels, max_reference, seed))
    detector = UnknownDetector(
        method=METHOD_KNN,
        threshold=0.0,
        k=min(k, len(reference)),
        reference=reference,
        false_unknown_rate=float(false_unknown_rate),
        validation_count=len(val),
    )
    detector.threshold = float(np.quantile(detector.score(val), 1.0 - false_unknown_rate))
    return detector


def auroc(in_distribution_scores: np.ndarray, out_of_distribution_scores: np.ndarray) -> float:
    """Probability that an unknown image scores higher than a known one (ties count half): 0.5 is chance.

    The Mann-Whitney U statistic from average ranks, so it is exact with tied scores.
    """
    known = np.asarray(in_distribution_scores, dtype=np.float64).ravel()
    unknown = np.asarray(out_of_distribution_scores, dtype=np.float64).ravel()
    if not len(known) or not len(unknown):
        raise ValueError("AUROC needs at least one score on each side")
    scores = np.concatenate([known, unknown])
    _, tie_group, tie_count = np.unique(scores, return_inverse=True, return_counts=True)
    # Ranks 1..n in score order; tied scores share the mean of the ranks they span.
    first_rank = np.concatenate([[1], np.cumsum(tie_count)[:-1] + 1])
    ranks = (first_rank + (tie_count - 1) / 2.0)[tie_group]
    u_statistic = ranks[len(known) :].sum() - len(unknown) * (len(unknown) + 1) / 2.0
    return float(u_statistic / (len(known) * len(unknown)))


def _as_matrix(name: str, embeddings: np.ndarray, width: int | None = None) -> np.ndarray:
    array = np.asarray(embeddings, dtype=np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or not len(array) or (width is not None and array.shape[1] != width):
        expected = f"(n, {width})" if width is not None else "(n, features)"
        raise ValueError(f"{name} must be a non-empty {expected} array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return array


def _unit_rows(matrix: np.ndarray) -> NDArray[np.float32]:
    # An all-zero row stays zero: similarity 0 to everything, i.e. far from all references.
    norms: NDArray[np.floating[Any]] = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: NDArray[np.float32] = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _sample_per_class(embeddings: np.ndarray, labels: np.ndarray, max_reference: int, seed: int) -> np.ndarray:
    if len(embeddings) <= max_reference:
        return embeddings
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # Proportional quotas, at least one per class: a rare class must not vanish from the references,
    # or all its images would be called unknown.
    quotas = np.maximum(1, counts * max_reference // len(labels))
    chosen = [
        rng.choice(np.flatnonzero(labels == label), quota, replace=False)
        for label, quota in zip(classes, quotas, strict=True)
    ]
    sample: np.ndarray = embeddings[np.sort(np.concatenate(chosen))]
    return sample
