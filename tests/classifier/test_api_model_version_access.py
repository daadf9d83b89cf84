"""Model-versions API: who may read, start and see the job internals of which versions.

Training itself never runs here: a started version's task is only queued (its on-commit callback is
captured, not executed), and ready versions are made directly as rows with stored files.
"""

import pytest

from classifier.models import ModelVersion
from tests.classifier.model_version_support import start_training, trainable_dataset, version_row
from tests.factories import JobFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_dataset(user)


# Ownership

VERSION_ROUTES = [
    ("get", "/api/v1/model-versions/{id}/"),
    ("delete", "/api/v1/model-versions/{id}/"),
    ("get", "/api/v1/model-versions/{id}/curves/"),
    ("post", "/api/v1/model-versions/{id}/promote/"),
    ("get", "/api/v1/model-versions/{id}/export/?format=keras"),
]


@pytest.mark.parametrize(("method", "route"), VERSION_ROUTES)
def test_another_users_version_is_404(other_api, dataset, method, route):
    version = version_row(dataset)

    response = getattr(other_api, method)(route.format(id=version.id))

    assert response.status_code == 404
    assert ModelVersion.objects.filter(id=version.id).exists()


@pytest.mark.parametrize(("method", "route"), [*VERSION_ROUTES, ("post", "/api/v1/model-versions/{id}/retrain/")])
def test_anonymous_requests_are_401(api_client, dataset, method, route):
    version = version_row(dataset)

    assert getattr(api_client, method)(route.format(id=version.id)).status_code == 401


def test_another_users_dataset_versions_are_404(other_api, dataset):
    version_row(dataset)

    assert other_api.get(f"/api/v1/datasets/{dataset.id}/model-versions/").status_code == 404
    assert start_training(other_api, dataset, {"backbone": "efficientnet_lite0"}).status_code == 404
    assert ModelVersion.objects.count() == 1


def test_staff_can_read_and_start_anyones_versions(staff_api, dataset):
    version = version_row(dataset)

    assert staff_api.get(f"/api/v1/model-versions/{version.id}/").status_code == 200
    assert staff_api.get(f"/api/v1/datasets/{dataset.id}/model-versions/").json()["count"] == 1
    assert start_training(staff_api, dataset, {"backbone": "efficientnet_lite0"}).status_code == 202


def test_a_public_versions_job_internals_are_for_its_owner_and_staff_only(
    user, user_api, other_api, staff_api, dataset
):
    dataset.is_public = True
    dataset.save(update_fields=["is_public"])
    version = version_row(dataset)
    JobFactory(
        kind=Job.Kind.TRAIN,
        requested_by=user,
        dataset=dataset,
        model_version=version,
        status=Job.Status.FAILED,
        error="Traceback: /srv/sightline/weights missing",
        report={"epochs": 3},
    )

    reader = other_api.get(f"/api/v1/model-versions/{version.id}/")

    assert reader.status_code == 200
    assert (reader.json()["id"], reader.json()["job"]) == (version.id, None)
    assert "/srv/sightline" not in reader.content.decode()
    for owner_or_staff in (user_api, staff_api):
        job = owner_or_staff.get(f"/api/v1/model-versions/{version.id}/").json()["job"]
        assert (job["error"], job["report"]) == ("Traceback: /srv/sightline/weights missing", {"epochs": 3})
