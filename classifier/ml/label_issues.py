"""Which labelled images are most likely mislabelled, from backbone features alone (no Django).

Each image's class probabilities come from a logistic regression that never saw it (stratified k-fold
over the cached features): a model that trained on an image reproduces its label, wrong or not, so
in-sample probabilities hide the very mistakes we look for. Confident learning (``cleanlab``) then
estimates which labels disagree with those probabilities more than the classes' own confusion
explains, and ranks them by label quality.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MAX_FOLDS = 5
# Fewer than this many images of a class and no fold could both train on it and judge it.
MIN_IMAGES_PER_CLASS = 3


@dataclass(frozen=True)
class LabelIssue:
    index: int  # row in the features and labels given
    score: float  # 1 − label quality, 0–1: higher is more suspicious
    suggested: int  # the class the out-of-sample model finds most likely
    given_probability: float
    suggested_probability: float


def fold_count(labels: np.ndarray) -> int:
    """As many folds as the smallest class allows (each fold must hold out at least one of each), at most
    ``MAX_FOLDS``."""
    smallest = int(np.bincount(labels).min())
    if smallest < 2:
        raise ValueError(f"every class needs at least 2 images for cross-validation, the smallest has {smallest}")
    return min(MAX_FOLDS, smallest)


def out_of_sample_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    folds: int | None = None,
    on_fold_end: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(n, k) class probabilities of each row from a model trained on the other folds only.

    ``labels`` are class indices 0..k-1, each class present. ``on_fold_end(done, total)`` runs after each
    fold (progress, cancellation)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels, dtype=np.int64)
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows for {len(labels)} labels")
    class_count = int(labels.max()) + 1
    if class_count < 2 or len(np.unique(labels)) != class_count:
        raise ValueError("labels must be class indices 0..k-1 with every class present, k at least 2")
    folds = folds or fold_count(labels)
    probabilities = np.zeros((len(labels), class_count), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for done, (train, held_out) in enumerate(splitter.split(features, labels), start=1):
        model = fit_classifier(features[train], labels[train], seed=seed)
        with single_threaded():
            # A class absent from a training fold gets probability 0 there: columns follow model.classes_.
            probabilities[np.ix_(held_out, model.classes_)] = model.predict_proba(features[held_out])
        if on_fold_end is not None:
            on_fold_end(done, folds)
    return probabilities


@contextmanager
def single_threaded() -> Iterator[None]:
    """One BLAS/OpenMP thread for these small products. With TensorFlow's pools loaded in the same process,
    several BLAS threads on a busy machine spend their time waiting on each other: one fold took 15 s
    instead of 0.6 s on 2 cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def fit_classifier(features: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> Pipeline:
    """A standardised, L2-regularised multinomial logistic regression: a linear head on the features, as
    training's first phase is, but fitted in seconds and deterministic."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500, random_state=seed))
    with warnings.catch_warnings(), single_threaded():
        # Not converging to the last decimal in max_iter changes no ranking worth the time.
        warnings.simplefilter("ignore")
        model.fit(features, labels)
    return model


def label_quality(labels: np.ndarray, probabilities: np.ndarray) -> NDArray[np.float64]:
    """Each label's quality, 0–1 (cleanlab's self-confidence: the probability of the given label)."""
    from cleanlab.rank import get_label_quality_scores

    quality: NDArray[np.float64] = get_label_quality_scores(np.asarray(labels), probabilities, method="self_confidence")
    return quality


def find_label_issues(labels: np.ndarray, probabilities: np.ndarray) -> list[LabelIssue]:
    """The rows confident learning finds mislabelled, most suspicious first."""
    from cleanlab.filter import find_label_issues as cleanlab_find

    labels = np.asarray(labels, dtype=np.int64)
    quality = label_quality(labels, probabilities)
    with warnings.catch_warnings():
        # cleanlab warns about classes it finds few issues in; that is the answer, not a problem.
        warnings.simplefilter("ignore")
        flagged = cleanlab_find(labels, probabilities, filter_by="prune_by_noise_rate")
    # Not every image the held-out model calls another class: on real data most of those are hard pictures
    # labelled right (digits: 163 such of 1,257 for 63 wrong labels), and accepting their suggestions
    # makes the labels worse; confident learning's estimate of how many labels are wrong keeps the queue
    # to about that many (bench/label_issues.py).
    return ranked_issues(labels, probabilities, quality, np.flatnonzero(flagged))


def ranked_issues(
    labels: np.ndarray, probabilities: np.ndarray, quality: np.ndarray, rows: np.ndarray
) -> list[LabelIssue]:
    """``rows`` as issues, most suspicious (lowest label quality) first; ties by row."""
    order = sorted((int(row) for row in rows), key=lambda row: (quality[row], row))
    issues = []
    for row in order:
        others = np.array(probabilities[row], dtype=np.float64)
        # A flagged label the model still ranks first (its probability just low) suggests the runner-up:
        # suggesting the label it already has would be no suggestion.
        others[labels[row]] = -1.0
        suggested = int(np.argmax(others))
        issues.append(
            LabelIssue(
                index=row,
                score=float(1.0 - quality[row]),
                suggested=suggested,
                given_probability=float(probabilities[row, labels[row]]),
                suggested_probability=float(probabilities[row, suggested]),
            )
        )
    return issues
