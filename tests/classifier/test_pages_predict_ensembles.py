"""The ensemble page: versions side by side, their mean, and the refusals shown on the form.

Predictions run for real: the colour models of tests/models.py, exported to TFLite once
per session and stored as each version's model file, answer through LiteRT as they do in production.
"""

import pytest
from django.urls import reverse

from classifier.models import ModelVersion, Prediction
from tests.classifier.prediction_pages_support import (
    answer_text,
    colours_dataset,
    detail_url,
    png_upload,
    public_imagenet_versions,
    stored_prediction,
)
from tests.factories import DatasetFactory
from tests.models import OTHER_CLASSES

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return colours_dataset(user)


@pytest.fixture
def version(dataset, make_ready_version):
    # No unknown-image detector: orange would be far from its pure primaries.
    return make_ready_version(dataset, detector=False, is_active=True)


@pytest.fixture
def imagenet(make_ready_version):
    return public_imagenet_versions(make_ready_version)


# Ensembles


def test_ensemble_page_starts_with_the_public_models(user_client, version, imagenet):
    page = user_client.get(reverse("classifier:ensemble-predict"))

    assert page.status_code == 200
    assert page.context["form"]["model_versions"].value() == [v.pk for v in imagenet]
    assert 'id="ensemble-form"' in page.text


def test_ensemble_shows_each_versions_top_three_side_by_side(user, user_client, version, make_ready_version):
    warm = make_ready_version(DatasetFactory(owner=user, name="Warm"), classes=OTHER_CLASSES, detector=False)

    response = user_client.post(
        reverse("classifier:ensemble-predict"),
        {
            "model_versions": [version.pk, warm.pk],
            "shared_classes_only": "on",
            "image": png_upload(),
            "threshold": "0.5",
        },
    )

    prediction = Prediction.objects.get()
    assert response.url == detail_url(prediction)
    assert prediction.ensemble_version_ids == [version.pk, warm.pk]
    page = user_client.get(response.url)
    members = page.context["members"]
    assert [member["version"] for member in members] == [version, warm]
    assert [[bar["label"] for bar in member["bars"]] for member in members] == [
        ["red", "green", "blue"],
        ["yellow", "red", "blue"],
    ]
    assert 'id="ensemble-members"' in page.text
    assert "Colours v1" in page.text and "Warm v1" in page.text
    # Each answers in its own classes; the ensemble only over the two they share, where both say red.
    assert [bar["label"] for bar in page.context["bars"]] == ["red", "blue"]
    assert answer_text(page) == "It is red"


def test_an_ensemble_of_versions_with_different_classes_is_refused_on_the_form(
    user, user_client, version, make_ready_version
):
    faces = make_ready_version(DatasetFactory(owner=user, name="Faces"), detector=False)
    ModelVersion.objects.filter(pk=faces.pk).update(class_names=["face", "no face"])

    page = user_client.post(
        reverse("classifier:ensemble-predict"), {"model_versions": [version.pk, faces.pk], "image": png_upload()}
    )
    shared_only = user_client.post(
        reverse("classifier:ensemble-predict"),
        {"model_versions": [version.pk, faces.pk], "shared_classes_only": "on", "image": png_upload()},
    )

    assert page.status_code == shared_only.status_code == 200
    refusal = " ".join(page.context["form"].errors["model_versions"])
    assert '"Colours" v1 (3 classes), "Faces" v1 (2 classes)' in refusal
    assert "share 0 classes" in " ".join(shared_only.context["form"].errors["model_versions"])
    assert "Colours" in page.text and "(2 classes)" in page.text
    assert not Prediction.objects.exists()


def test_the_ensemble_threshold_left_blank_is_its_versions_own(user, user_client, dataset, make_ready_version):
    versions = [
        make_ready_version(dataset, number, detector=False, calibration={"answer_threshold": threshold})
        for number, threshold in ((1, 0.25), (2, 0.45))
    ]

    user_client.post(
        reverse("classifier:ensemble-predict"), {"model_versions": [v.pk for v in versions], "image": png_upload()}
    )

    assert Prediction.objects.get().details["threshold"] == 0.35


def test_a_result_of_a_version_not_recalibrated_says_so(user, user_client, version):
    prediction = stored_prediction(user, version)
    calibrated = user_client.get(detail_url(prediction)).text
    ModelVersion.objects.filter(pk=version.pk).update(calibration={"temperature": 1.0, "recalibrated": False})
    published = user_client.get(detail_url(prediction)).text

    assert "calibrated probabilities" in calibrated and "not recalibrated" not in calibrated
    assert "published probabilities, not recalibrated" in published


def test_an_ensemble_needs_at_least_two_versions(user_client, version, imagenet):
    page = user_client.post(
        reverse("classifier:ensemble-predict"),
        {"model_versions": [version.pk], "image": png_upload(), "threshold": "0.5"},
    )

    assert page.status_code == 200
    assert "2 to 5" in " ".join(page.context["form"].errors["model_versions"])
    assert not Prediction.objects.exists()
