"""Augmentations API: a request queues a job that tops up small classes; bad requests are 400s."""

import pytest

from classifier.ml.augment import AUGMENT_TRANSFORMS
from classifier.models import DatasetImage
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db

Split = DatasetImage.Split


@pytest.fixture
def dataset(user):
    """Two robins and one wren in train; a wren in validation, which must never be a source."""
    dataset = DatasetFactory(owner=user)
    robin = LabelClassFactory(dataset=dataset, name="robin")
    wren = LabelClassFactory(dataset=dataset, name="wren")
    DatasetImageFactory.create_batch(2, dataset=dataset, label=robin, split=Split.TRAIN)
    DatasetImageFactory(dataset=dataset, label=wren, split=Split.TRAIN)
    DatasetImageFactory(dataset=dataset, label=wren, split=Split.VAL)
    return dataset


def _augment(client, dataset, data):
    return client.post(f"/api/v1/datasets/{dataset.id}/augmentations/", data, format="json")


def test_an_augmentation_request_queues_a_job(user_api, dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _augment(user_api, dataset, {"target_per_class": 5, "transforms": ["flip", "rotation"], "seed": 3})

    assert response.status_code == 202
    queued = response.json()["job"]
    assert (queued["kind"], queued["status"], queued["dataset"]) == ("augment", "queued", dataset.id)
    job = Job.objects.get(id=queued["id"])
    assert job.params == {"target_per_class": 5, "transforms": ["flip", "rotation"], "seed": 3}
    # The task is sent once the request's transaction commits (not run here).
    assert len(callbacks) == 1


def test_transforms_and_seed_default_to_all_transforms_and_zero(user_api, dataset):
    response = _augment(user_api, dataset, {"target_per_class": 5})

    assert response.status_code == 202
    job = Job.objects.get(id=response.json()["job"]["id"])
    assert job.params == {"target_per_class": 5, "transforms": list(AUGMENT_TRANSFORMS), "seed": 0}


def test_the_finished_job_has_topped_up_the_small_class_from_its_training_images(
    user_api, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _augment(user_api, dataset, {"target_per_class": 2})

    job = user_api.get(f"/api/v1/jobs/{response.json()['job']['id']}/").json()
    assert job["status"] == "succeeded"
    assert job["report"]["created"] == 1
    assert job["report"]["per_class"] == {"robin": 0, "wren": 1}
    copy = DatasetImage.objects.get(dataset=dataset, origin=DatasetImage.Origin.AUGMENTED)
    assert (copy.label.name, copy.split) == ("wren", Split.TRAIN)
    assert copy.source_image.split == Split.TRAIN


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({}, {"target_per_class": ["This field is required."]}),
        ({"target_per_class": "many"}, {"target_per_class": ["A valid integer is required."]}),
        ({"target_per_class": 0}, {"target_per_class": ["Must be a whole number from 1 to 10000."]}),
        ({"target_per_class": 10_001}, {"target_per_class": ["Must be a whole number from 1 to 10000."]}),
        (
            {"target_per_class": 5, "transforms": ["flip", "melt"]},
            {"transforms": [f"Unknown transform(s): melt. Choose from: {', '.join(AUGMENT_TRANSFORMS)}."]},
        ),
        ({"target_per_class": 5, "seed": -1}, {"seed": ["Ensure this value is greater than or equal to 0."]}),
    ],
)
def test_bad_augmentation_requests_are_400_naming_the_field(user_api, dataset, data, errors):
    response = _augment(user_api, dataset, data)

    assert response.status_code == 400
    assert response.json() == errors
    assert not Job.objects.exists()


def test_a_dataset_without_labelled_training_images_is_400(user, user_api):
    dataset = DatasetFactory(owner=user)
    DatasetImageFactory(dataset=dataset, label=None, split=Split.TRAIN)

    response = _augment(user_api, dataset, {"target_per_class": 5})

    assert response.status_code == 400
    assert response.json() == {"dataset": ["There are no labelled training images to augment."]}


def test_another_users_dataset_is_404_and_anonymous_is_401(other_api, api_client, dataset):
    assert _augment(other_api, dataset, {"target_per_class": 5}).status_code == 404
    assert _augment(api_client, dataset, {"target_per_class": 5}).status_code == 401
    assert not Job.objects.exists()


def test_staff_can_augment_anyones_dataset(staff_api, dataset):
    assert _augment(staff_api, dataset, {"target_per_class": 5}).status_code == 202
