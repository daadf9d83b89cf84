"""Out-of-sample probabilities and confident learning find labels planted wrong, and nothing else much."""

import numpy as np
import pytest

from classifier.ml import label_issues


def _blobs(seed: int = 0, classes: int = 4, per_class: int = 60, dims: int = 16):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    centres = rng.normal(0.0, 4.0, (classes, dims))
    features = centres[labels] + rng.normal(0.0, 1.0, (len(labels), dims))
    return features.astype(np.float32), labels


def test_flipped_labels_on_separable_features_are_found_and_get_their_true_class_suggested():
    features, truth = _blobs()
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(truth), 12, replace=False)
    noisy = truth.copy()
    noisy[flipped] = (truth[flipped] + rng.integers(1, 4, len(flipped))) % 4

    probabilities = label_issues.out_of_sample_probabilities(features, noisy, seed=0)
    issues = label_issues.find_label_issues(noisy, probabilities)

    found = {issue.index for issue in issues}
    # Confident learning's estimate of how many labels are wrong is cautious with one or two per pair of
    # classes; what it queues is right, and the ranking of every image puts all the planted ones first.
    assert len(found & set(flipped.tolist())) >= 9
    assert len(found - set(flipped.tolist())) <= 1
    quality = label_issues.label_quality(noisy, probabilities)
    assert set(np.argsort(quality)[: len(flipped)].tolist()) == set(flipped.tolist())
    for issue in issues:
        if issue.index in flipped:
            assert issue.suggested == truth[issue.index]
            assert issue.suggested_probability > issue.given_probability
    scores = [issue.score for issue in issues]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_probabilities_are_out_of_sample_not_memorised():
    # Random labels on random features: a model judging images it trained on would agree with most of
    # them; out of sample it can do no better than chance.
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 64)).astype(np.float32)
    labels = rng.integers(0, 2, 200)
    probabilities = label_issues.out_of_sample_probabilities(features, labels)
    assert probabilities.shape == (200, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    agreement = (probabilities.argmax(axis=1) == labels).mean()
    assert agreement < 0.65


def test_a_tiny_class_gets_fewer_folds_and_too_tiny_is_refused():
    labels = np.array([0] * 20 + [1] * 3)
    assert label_issues.fold_count(labels) == 3
    assert label_issues.fold_count(np.array([0] * 20 + [1] * 20)) == label_issues.MAX_FOLDS
    with pytest.raises(ValueError, match="at least 2 images"):
        label_issues.fold_count(np.array([0] * 20 + [1]))
    features = np.random.default_rng(0).normal(size=(23, 4))
    probabilities = label_issues.out_of_sample_probabilities(features, labels)
    assert probabilities.shape == (23, 2)


def test_labels_must_be_class_indices_with_every_class_present():
    with pytest.raises(ValueError, match="every class present"):
        label_issues.out_of_sample_probabilities(np.zeros((6, 2)), np.array([0, 0, 0, 2, 2, 2]))
    with pytest.raises(ValueError, match="feature rows"):
        label_issues.out_of_sample_probabilities(np.zeros((5, 2)), np.array([0, 0, 0, 1, 1, 1]))
