"""The unknown-image detector on synthetic embedding clusters: scores, threshold, storage, AUROC."""

import io
import json

import numpy as np
import pytest

from classifier.ml.unknown import UnknownDetector, auroc, fit_unknown_detector

WIDTH = 32


def _clusters(rng, centres, per_class):
    """Points around each centre (non-negative, like pooled ReLU features), with their class labels."""
    points = [np.abs(centre + rng.normal(0.0, 0.35, (per_class, WIDTH))) for centre in centres]
    return np.concatenate(points).astype(np.float32), np.repeat(np.arange(len(centres)), per_class)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0.0, 3.0, (6, WIDTH))
    known, unseen = centres[:3], centres[3:]
    train, labels = _clusters(rng, known, 200)
    val, _ = _clusters(rng, known, 400)
    test, _ = _clusters(rng, known, 200)
    outside, _ = _clusters(rng, unseen, 100)
    return {"train": train, "labels": labels, "val": val, "test": test, "outside": outside}


@pytest.fixture(scope="module")
def detector(data):
    return fit_unknown_detector(data["train"], data["labels"], data["val"])


def test_images_from_unseen_clusters_score_high(data, detector):
    known, unknown = detector.score(data["test"]), detector.score(data["outside"])

    assert auroc(known, unknown) > 0.99
    assert detector.is_unknown(data["outside"]).mean() > 0.95
    assert np.all((known >= 0) & (known <= 2))


def test_threshold_calls_the_requested_share_of_known_images_unknown(data, detector):
    assert detector.is_unknown(data["val"]).mean() == pytest.approx(0.05, abs=0.005)
    # Unseen images of the known classes get about the same share.
    assert detector.is_unknown(data["test"]).mean() == pytest.approx(0.05, abs=0.03)
    assert detector.threshold > 0


def test_a_stricter_rate_raises_the_threshold(data, detector):
    strict = fit_unknown_detector(data["train"], data["labels"], data["val"], false_unknown_rate=0.01)

    assert strict.threshold > detector.threshold
    assert strict.is_unknown(data["val"]).mean() == pytest.approx(0.01, abs=0.005)


def test_score_ignores_the_length_of_an_embedding(data, detector):
    np.testing.assert_allclose(detector.score(data["test"][:5] * 7.0), detector.score(data["test"][:5]), atol=1e-5)


def test_one_embedding_alone_is_scored(data, detector):
    assert detector.score(data["test"][0]).shape == (1,)


def test_bytes_round_trip_keeps_scores_and_summary(data, detector):
    restored = UnknownDetector.from_bytes(detector.to_bytes())

    np.testing.assert_array_equal(restored.score(data["outside"]), detector.score(data["outside"]))
    assert restored.summary() == detector.summary()


def test_summary_is_json_ready(detector):
    summary = json.loads(json.dumps(detector.summary()))

    assert summary["method"] == "knn"
    assert summary["k"] == 5
    assert summary["reference_count"] == 600
    assert summary["false_unknown_rate"] == 0.05
    assert summary["threshold"] == detector.threshold


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data_bytes",
    [b"", b"not an npz", b"PK\x03\x04broken", _npy(np.ones(3)), _npy(np.array([{"a": 1}], dtype=object))],
    ids=["empty", "text", "broken-zip", "npy", "pickled-object"],
)
def test_other_bytes_are_refused(data_bytes):
    with pytest.raises(ValueError):
        UnknownDetector.from_bytes(data_bytes)


def test_a_file_of_another_format_is_refused(detector):
    other = UnknownDetector.from_bytes(detector.to_bytes())
    other.method = "mahalanobis"

    with pytest.raises(ValueError, match="unsupported"):
        UnknownDetector.from_bytes(other.to_bytes())


def test_references_are_sampled_per_class_so_rare_classes_stay_known():
    rng = np.random.default_rng(1)
    centres = rng.uniform(0.0, 3.0, (2, WIDTH))
    common, _ = _clusters(rng, centres[:1], 2000)
    rare, _ = _clusters(rng, centres[1:], 6)
    train = np.concatenate([common, rare])
    labels = np.array([0] * 2000 + [1] * 6)
    val = np.concatenate([_clusters(rng, centres[:1], 50)[0], _clusters(rng, centres[1:], 50)[0]])

    detector = fit_unknown_detector(train, labels, val, max_reference=100)

    assert detector.summary()["reference_count"] <= 101
    # Without a reference point of the rare class, its half of the validation images would be unknown.
    assert detector.is_unknown(val[50:]).mean() < 0.2


def test_k_is_capped_by_the_number_of_references():
    rng = np.random.default_rng(2)
    detector = fit_unknown_detector(rng.random((3, 4)), np.array([0, 1, 1]), rng.random((2, 4)))

    assert detector.k == 3


@pytest.mark.parametrize(
    ("train", "labels", "val", "message"),
    [
        (np.ones((4, 3)), np.zeros(4), np.ones((2, 5)), "val_embeddings"),
        (np.ones((4, 3)), np.zeros(3), np.ones((2, 3)), "labels"),
        (np.ones((0, 3)), np.zeros(0), np.ones((2, 3)), "train_embeddings"),
        (np.full((4, 3), np.nan), np.zeros(4), np.ones((2, 3)), "NaN"),
    ],
)
def test_bad_input_is_refused(train, labels, val, message):
    with pytest.raises(ValueError, match=message):
        fit_unknown_detector(train, labels, val)


def test_false_unknown_rate_must_be_a_share():
    with pytest.raises(ValueError, match="false_unknown_rate"):
        fit_unknown_detector(np.ones((4, 3)), np.zeros(4), np.ones((2, 3)), false_unknown_rate=1.0)


def test_auroc_of_separated_reversed_and_tied_scores():
    assert auroc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert auroc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5


def test_auroc_equals_the_share_of_correctly_ordered_pairs():
    rng = np.random.default_rng(3)
    # Rounded, so there are many ties.
    known, unknown = rng.normal(0, 1, 300).round(1), rng.normal(0.7, 1, 200).round(1)
    pairs = (unknown[None, :] > known[:, None]).mean() + 0.5 * (unknown[None, :] == known[:, None]).mean()

    assert auroc(known, unknown) == pytest.approx(pairs, abs=1e-12)


def test_auroc_needs_both_sides():
    with pytest.raises(ValueError):
        auroc([], [1.0])
