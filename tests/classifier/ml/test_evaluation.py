import numpy as np
import pytest

from classifier.ml.evaluation import evaluate, most_confused

CLASS_NAMES = ["cat", "dog", "bird", "fish"]
# true:      cat  cat  cat  dog  dog  bird
# predicted: cat  cat  dog  dog  bird bird   (fish: never present, never predicted)
LABELS = np.array([0, 0, 0, 1, 1, 2])
PROBABILITIES = np.array(
    [
        [0.90, 0.05, 0.05, 0.00],
        [0.60, 0.30, 0.10, 0.00],
        [0.20, 0.70, 0.10, 0.00],
        [0.10, 0.80, 0.10, 0.00],
        [0.05, 0.05, 0.90, 0.00],
        [0.30, 0.20, 0.50, 0.00],
    ]
)


def test_evaluate_matches_hand_computed_scores():
    report = evaluate(PROBABILITIES, LABELS, CLASS_NAMES)

    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["confusion_matrix"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    cat, dog, bird, fish = (report["per_class"][name] for name in CLASS_NAMES)
    assert cat == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert dog == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert bird == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert fish == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3 + 0.0) / 4)


def test_report_is_plain_json_types():
    report = evaluate(PROBABILITIES, LABELS, CLASS_NAMES)
    assert type(report["accuracy"]) is float
    assert type(report["confusion_matrix"][0][0]) is int
    assert type(report["per_class"]["cat"]["support"]) is int


def test_most_confused_lists_confident_mistakes_first():
    assert most_confused(PROBABILITIES, LABELS, k=5) == [
        {"index": 4, "predicted": 2, "true": 1, "probability": 0.9},
        {"index": 2, "predicted": 1, "true": 0, "probability": 0.7},
    ]
    assert [entry["index"] for entry in most_confused(PROBABILITIES, LABELS, k=1)] == [4]


def test_mismatched_inputs_are_rejected():
    with pytest.raises(ValueError, match="class names"):
        evaluate(PROBABILITIES, LABELS, CLASS_NAMES[:3])
    with pytest.raises(ValueError, match="labels"):
        evaluate(PROBABILITIES, LABELS[:3], CLASS_NAMES)
    with pytest.raises(ValueError, match="class indices"):
        evaluate(PROBABILITIES, np.array([0, 0, 0, 1, 1, 7]), CLASS_NAMES)
