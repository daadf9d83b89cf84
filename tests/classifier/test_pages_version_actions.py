"""Changing a version from its page: promote and roll back, staff-only retrain, train a failed
version again, delete.

Versions are made directly as rows with stored metrics; nothing is trained here.
"""

import pytest
from django.urls import reverse

from classifier.models import DatasetImage, ModelVersion
from tests.classifier.version_pages_support import Status, detail_url, make_version, trainable_pets

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_pets(user)


@pytest.fixture
def version(dataset):
    return make_version(dataset, 1, is_active=True)


# Promote and roll back


def test_promote_makes_a_newer_version_active(user_client, dataset, version):
    newer = make_version(dataset, 2)
    assert "Promote to active" in user_client.get(detail_url(newer)).text

    response = user_client.post(reverse("classifier:model-version-promote", args=[newer.pk]))

    assert response.url == detail_url(newer)
    assert list(ModelVersion.objects.filter(is_active=True)) == [newer]
    assert "Version 2 is now the active version." in user_client.get(response.url).text


def test_promoting_an_older_version_is_a_rollback(user_client, dataset, version):
    newer = make_version(dataset, 2)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=newer.pk).update(is_active=True)
    assert "Roll back to v1" in user_client.get(detail_url(version)).text

    back = reverse("classifier:dataset-detail", args=[dataset.pk]) + "#versions"
    response = user_client.post(reverse("classifier:model-version-promote", args=[version.pk]), {"next": back})

    assert response.url == back
    assert list(ModelVersion.objects.filter(is_active=True)) == [version]
    assert "Rolled back from version 2 to version 1." in user_client.get(response.url).text


def test_promoting_a_version_that_is_not_ready_shows_why(user_client, dataset, version):
    queued = make_version(dataset, 2, status=Status.QUEUED)

    response = user_client.post(reverse("classifier:model-version-promote", args=[queued.pk]), follow=True)

    assert response.status_code == 200
    assert "Only a ready version can be promoted" in response.text
    assert list(ModelVersion.objects.filter(is_active=True)) == [version]


# Retrain


def test_retrain_is_for_staff_only(user_client, version):
    assert 'id="version-retrain"' not in user_client.get(detail_url(version)).text

    response = user_client.post(reverse("classifier:model-version-retrain", args=[version.pk]))

    assert response.status_code == 403
    assert ModelVersion.objects.count() == 1


def test_staff_retrain_queues_a_new_version_with_the_same_settings(
    client, staff_user, version, django_capture_on_commit_callbacks
):
    client.force_login(staff_user)
    assert 'id="version-retrain"' in client.get(detail_url(version)).text
    # On a backbone whose weights this install has (mobilenet_v2's would be refused).
    ModelVersion.objects.filter(id=version.id).update(
        hyperparameters={**version.hyperparameters, "backbone": "efficientnet_lite0"}
    )

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("classifier:model-version-retrain", args=[version.pk]))

    retrained = ModelVersion.objects.get(number=2)
    assert response.url == detail_url(retrained)
    assert retrained.parent == version
    assert retrained.status == Status.QUEUED
    assert retrained.hyperparameters["fine_tune_layers"] == 10
    assert retrained.created_by == staff_user


def test_staff_retrain_shows_a_service_error(client, staff_user, version):
    client.force_login(staff_user)
    DatasetImage.objects.filter(dataset=version.dataset, label__name="dog").delete()

    response = client.post(reverse("classifier:model-version-retrain", args=[version.pk]), follow=True)

    assert response.status_code == 200
    assert "at least 2 classes" in response.text
    assert ModelVersion.objects.count() == 1


# Failed versions: train again, delete


def test_a_failed_version_is_trained_again_in_one_click_with_its_options(
    user_client, dataset, django_capture_on_commit_callbacks
):
    failed = make_version(dataset, 1, status=Status.FAILED, is_active=False,
                          plan={"budget_minutes": 2.0, "options": {"budget_minutes": 2.0, "epochs": 4}})
    page = user_client.get(detail_url(failed))
    assert 'id="version-train-again"' in page.text and 'id="version-delete"' in page.text

    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(reverse("classifier:model-version-train-again", args=[failed.pk]))

    again = ModelVersion.objects.get(number=2)
    assert response.url == detail_url(again)
    assert (again.status, again.parent, again.hyperparameters["epochs"]) == (Status.QUEUED, failed, 4)
    assert again.plan["budget_minutes"] == 2.0


def test_only_a_failed_or_cancelled_version_is_trained_again(user_client, version):
    response = user_client.post(reverse("classifier:model-version-train-again", args=[version.pk]), follow=True)

    assert "only a failed or cancelled version is trained again" in response.text
    assert ModelVersion.objects.count() == 1


def test_a_version_is_deleted_from_its_page_but_not_the_active_one(user_client, version, dataset):
    failed = make_version(dataset, 2, status=Status.FAILED, is_active=False)

    refused = user_client.post(reverse("classifier:model-version-delete", args=[version.pk]), follow=True)
    deleted = user_client.post(reverse("classifier:model-version-delete", args=[failed.pk]))

    assert "active version; promote another one before deleting it" in refused.text
    assert deleted.url == reverse("classifier:dataset-detail", args=[dataset.pk]) + "?tab=versions"
    assert list(ModelVersion.objects.values_list("number", flat=True)) == [1]
