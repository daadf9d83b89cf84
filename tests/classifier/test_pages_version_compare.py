"""Comparing two versions side by side.

Versions are made directly as rows with stored metrics; nothing is trained here.
"""

import pytest
from django.urls import reverse

from classifier.ml.config import TrainingConfig
from tests.classifier.version_pages_support import compare_url, detail_url, make_version, trainable_pets

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_pets(user)


@pytest.fixture
def version(dataset):
    return make_version(dataset, 1, is_active=True)


# Compare


def test_compare_shows_both_versions_side_by_side(user_client, dataset, version):
    other = make_version(
        dataset,
        2,
        backbone="efficientnet_lite0",
        hyperparameters=TrainingConfig(backbone="efficientnet_lite0", epochs=8).to_dict(),
        class_names=["cat", "dog", "fox"],
        metrics={
            "accuracy": 0.9,
            "macro_f1": 0.8,
            "per_class": {name: {"precision": 1, "recall": 1, "f1": f1, "support": 3}
                          for name, f1 in (("cat", 0.95), ("dog", 0.5), ("fox", 0.7))},
            "confusion_matrix": [],
            "best_epoch": 6,
            "split_sizes": {"train": 90, "val": 10, "test": 9},
        },
        calibration={"ece_after": 0.05},
    )

    page = user_client.get(compare_url(version, other))

    assert page.status_code == 200
    sections = dict(page.context["sections"])
    rows = {row["label"]: row for rows in sections.values() for row in rows}
    assert (rows["Backbone"]["a"], rows["Backbone"]["b"]) == ("mobilenet_v2", "efficientnet_lite0")
    assert rows["Head epochs"]["differs"] and not rows["Batch size"]["differs"]
    assert (rows["Test accuracy"]["a"], rows["Test accuracy"]["b"], rows["Test accuracy"]["winner"]) == (
        "87.5%", "90.0%", "b"
    )
    assert rows["ECE after calibration"]["winner"] == "a"  # lower is better
    assert (rows["Best epoch"]["a"], rows["Best epoch"]["b"]) == ("4", "6")
    assert (rows["Test images"]["a"], rows["Test images"]["b"]) == ("23", "9")
    assert [row["label"] for row in sections["F1 per class"]] == ["cat", "dog", "fox"]
    assert (rows["fox"]["a"], rows["fox"]["b"]) == ("—", "0.700")
    assert (rows["dog"]["winner"], rows["cat"]["winner"]) == ("a", "b")
    text = page.text
    assert detail_url(version) in text and detail_url(other) in text
    assert "Pets v1" in text and "Pets v2" in text


def test_compare_needs_two_versions(user_client, version):
    url = reverse("classifier:model-version-compare")

    assert user_client.get(url).status_code == 404
    assert user_client.get(f"{url}?a={version.pk}").status_code == 404
    assert user_client.get(f"{url}?a={version.pk}&b=nonsense").status_code == 404
