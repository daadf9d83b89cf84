"""Prediction pages: who may see them, the Predict entry page and its choice of versions, the quick
test's form, and the history.

Predictions run for real: the colour models of tests/models.py, exported to TFLite once
per session and stored as each version's model file, answer through LiteRT as they do in production.
"""

import pytest
from django.urls import reverse

from classifier.models import DatasetImage, ModelVersion, Prediction
from tests.classifier.prediction_pages_support import (
    colours_dataset,
    detail_url,
    png_upload,
    predict,
    public_imagenet_versions,
    quick_test_url,
    stored_prediction,
)
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


Status = ModelVersion.Status


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


# Access


def test_prediction_pages_send_strangers_to_sign_in(client, dataset, version):
    prediction = stored_prediction(dataset.owner, version)
    for url in (
        reverse("classifier:predict"),
        quick_test_url(version),
        reverse("classifier:dataset-predict", args=[dataset.pk]),
        reverse("classifier:ensemble-predict"),
        reverse("classifier:prediction-list"),
        detail_url(prediction),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(f"{reverse('login')}?next="), url


def test_another_users_versions_and_predictions_are_not_found(client, other_user, dataset, version):
    prediction = stored_prediction(dataset.owner, version, is_correct=False, correct_label="orange")
    client.force_login(other_user)

    assert client.get(quick_test_url(version)).status_code == 404
    assert predict(client, version, image=png_upload()).status_code == 404
    assert client.get(reverse("classifier:dataset-predict", args=[dataset.pk])).status_code == 404
    assert client.get(detail_url(prediction)).status_code == 404
    feedback = reverse("classifier:prediction-feedback", args=[prediction.pk])
    assert client.post(feedback, {"verdict": "right"}).status_code == 404
    assert client.post(reverse("classifier:prediction-add-to-dataset", args=[prediction.pk])).status_code == 404
    assert Prediction.objects.count() == 1
    assert not DatasetImage.objects.exists()


def test_prediction_writes_are_post_only(user_client, version):
    prediction = stored_prediction(version.dataset.owner, version)
    for url in (
        reverse("classifier:prediction-feedback", args=[prediction.pk]),
        reverse("classifier:prediction-add-to-dataset", args=[prediction.pk]),
    ):
        assert user_client.get(url).status_code == 405, url


# Choosing a version


def test_predict_page_lists_own_then_public_ready_versions_in_version_order(
    user_client, other_user, dataset, version, imagenet, make_ready_version
):
    older = make_ready_version(dataset, 2)
    ModelVersion.objects.create(dataset=dataset, number=3, backbone="tiny", image_size=16, status=Status.TRAINING)
    make_ready_version(DatasetFactory(owner=other_user, name="Bob's"), is_active=True)

    page = user_client.get(reverse("classifier:predict"))

    assert page.status_code == 200
    listed = [row["version"] for row in page.context["rows"]]
    # The user's own first, then the public ones; each dataset's in version order (v1, v2, v3).
    assert listed == [version, older, *imagenet]
    assert quick_test_url(version) in page.text
    assert "Bob's" not in page.text
    assert 'aria-current="page">Predict</a>' in page.text


def test_version_and_dataset_pages_link_to_their_quick_test(user_client, dataset, version):
    version_page = user_client.get(reverse("classifier:model-version-detail", args=[version.pk]))
    dataset_page = user_client.get(reverse("classifier:dataset-detail", args=[dataset.pk]))

    assert f'href="{quick_test_url(version)}" id="version-quick-test"' in version_page.text
    assert reverse("classifier:dataset-predict", args=[dataset.pk]) in dataset_page.text


def test_quick_test_page_shows_the_form_and_the_classes(user_client, version):
    page = user_client.get(quick_test_url(version))

    assert page.status_code == 200
    assert 'id="predict-form"' in page.text and 'enctype="multipart/form-data"' in page.text
    assert page.context["form"]["threshold"].value() == 0.5
    assert '<details class="known-classes" open>' in page.text
    assert "<li>green</li>" in page.text


def test_a_thousand_classes_start_collapsed(user_client, dataset, make_ready_version):
    many = make_ready_version(dataset, 2, class_names=[f"class {index}" for index in range(1000)])

    page = user_client.get(quick_test_url(many))

    assert '<details class="known-classes">' in page.text
    assert "<li>class 999</li>" in page.text


def test_dataset_quick_test_opens_its_active_version(user_client, dataset, version, make_ready_version):
    make_ready_version(dataset, 2)

    response = user_client.get(reverse("classifier:dataset-predict", args=[dataset.pk]))

    assert response.status_code == 302
    assert response.url == quick_test_url(version)


def test_dataset_without_an_active_version_says_so(user_client, dataset):
    page = user_client.get(reverse("classifier:dataset-predict", args=[dataset.pk]))

    assert page.status_code == 200
    assert "No active version yet" in page.text


def test_public_models_are_usable_by_everyone(client, other_user, imagenet):
    client.force_login(other_user)

    response = client.get(reverse("classifier:dataset-predict", args=[imagenet[0].dataset_id]))

    assert response.url == quick_test_url(imagenet[0])
    assert client.get(response.url).status_code == 200


def test_a_version_that_is_not_ready_cannot_be_tested(user_client, dataset):
    queued = ModelVersion.objects.create(dataset=dataset, number=1, backbone="tiny", image_size=16)

    page = user_client.get(quick_test_url(queued))
    posted = predict(user_client, queued, image=png_upload())

    assert 'id="predict-unavailable"' in page.text and 'id="predict-form"' not in page.text
    assert posted.status_code == 200
    assert "not ready" in " ".join(posted.context["form"].non_field_errors())
    assert not Prediction.objects.exists()


# History


def test_history_lists_only_the_users_own_predictions(user_client, user, other_user, version, imagenet):
    mine = [stored_prediction(user, version) for _ in range(3)]
    right = stored_prediction(user, imagenet[0], is_correct=True)
    stored_prediction(other_user, imagenet[0], results=[{"label": "theirs", "probability": 0.9}])

    page = user_client.get(reverse("classifier:prediction-list"))

    assert page.status_code == 200
    assert list(page.context["page_obj"]) == [right, *reversed(mine)]
    assert "theirs" not in page.text
    assert detail_url(right) in page.text
    assert 'aria-current="page">History</a>' in page.text


def test_history_is_paginated(user_client, user, version):
    for _ in range(30):
        stored_prediction(user, version)

    first = user_client.get(reverse("classifier:prediction-list"))
    second = user_client.get(reverse("classifier:prediction-list") + "?page=2")

    assert len(first.context["page_obj"]) == 25 and len(second.context["page_obj"]) == 5
    assert "Page 1 of 2" in first.text
