import numpy as np
import pytest

from classifier.ml.calibration import (
    TEMPERATURE_BOUNDS,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_diagram_bins,
    softmax,
)


def calibrated_sample(count=4000, classes=4, seed=0):
    """Logits and labels drawn from softmax(logits): calibrated at temperature 1 by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (count, classes))
    probabilities = softmax(logits)
    labels = np.array([rng.choice(classes, p=row) for row in probabilities])
    return logits, labels


def test_softmax_rows_sum_to_one_and_temperature_flattens():
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    probabilities = softmax(logits)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert np.isfinite(probabilities).all()
    assert softmax(logits, 5.0)[0].max() < probabilities[0].max()
    np.testing.assert_array_equal(softmax(logits, 5.0).argmax(axis=1), probabilities.argmax(axis=1))


def test_temperature_scaling_undoes_overconfidence():
    logits, labels = calibrated_sample()
    overconfident = 3.0 * logits

    temperature = fit_temperature(overconfident, labels)

    assert temperature == pytest.approx(3.0, rel=0.1)
    assert negative_log_likelihood(overconfident, labels, temperature) < negative_log_likelihood(overconfident, labels)
    before = expected_calibration_error(softmax(overconfident), labels)
    after = expected_calibration_error(softmax(overconfident, temperature), labels)
    assert after < before / 3


def test_calibrated_logits_keep_a_temperature_near_one():
    logits, labels = calibrated_sample(seed=1)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, rel=0.1)


def test_all_correct_validation_never_sharpens_below_one():
    # With no mistakes the NLL keeps falling as T -> 0; certainty on everything is not calibration.
    logits = np.array([[5.0, 0.0], [0.0, 5.0]])
    assert fit_temperature(logits, np.array([0, 1])) == pytest.approx(1.0, rel=1e-3)


def test_one_mistake_allows_the_full_range():
    logits = np.array([[5.0, 0.0], [0.0, 5.0], [0.2, 0.0]])
    assert TEMPERATURE_BOUNDS[0] <= fit_temperature(logits, np.array([0, 1, 1])) <= TEMPERATURE_BOUNDS[1]


def test_ece_of_a_single_overconfident_bin():
    # Ten answers at 80% confidence of which six are right: off by 0.2.
    probabilities = np.tile([0.8, 0.2], (10, 1))
    labels = np.array([0] * 6 + [1] * 4)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.2)


def test_ece_weights_bins_by_their_share():
    # Four at 0.9, all right (gap 0.1); four at 0.6, half right (gap 0.1): ECE 0.1.
    probabilities = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 4)
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    assert expected_calibration_error(probabilities, labels, bins=10) == pytest.approx(0.1)


def test_perfect_confident_answers_have_zero_ece():
    probabilities = np.eye(3)[[0, 1, 2, 1]]
    assert expected_calibration_error(probabilities, np.array([0, 1, 2, 1])) == 0.0


def test_reliability_bins_cover_the_axis_and_use_upper_inclusive_edges():
    probabilities = np.array([[0.6, 0.4], [0.6, 0.4], [0.95, 0.05]])
    bins = reliability_diagram_bins(probabilities, np.array([0, 1, 0]), bins=5)

    assert [entry["lower"] for entry in bins] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert [entry["upper"] for entry in bins] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert [entry["count"] for entry in bins] == [0, 0, 2, 0, 1]
    assert bins[2]["confidence"] == pytest.approx(0.6)
    assert bins[2]["accuracy"] == pytest.approx(0.5)
    assert bins[0]["confidence"] is None and bins[0]["accuracy"] is None
