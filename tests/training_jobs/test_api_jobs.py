"""Jobs API: listing with filters, reading one job, cancelling, and who may see which job."""

import pytest
from django.utils import timezone

from tests.factories import DatasetFactory, JobFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db

# A job in a list carries no report (reports can be long); the detail adds it and its CSV's address.
JOB_LIST_FIELDS = {
    "id",
    "kind",
    "attempts",
    "status",
    "progress",
    "message",
    "error",
    "dataset",
    "model_version",
    "created_at",
    "started_at",
    "finished_at",
    "result_url",
}
JOB_FIELDS = JOB_LIST_FIELDS | {"report", "report_url"}


def test_job_list_shows_only_the_users_jobs(user, other_user, user_api):
    own = JobFactory(requested_by=user)
    JobFactory(requested_by=other_user)

    response = user_api.get("/api/v1/jobs/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [job["id"] for job in body["results"]] == [own.id]
    assert set(body["results"][0]) == JOB_LIST_FIELDS


def test_staff_see_everyones_jobs(user, other_user, staff_api):
    jobs = {JobFactory(requested_by=user).id, JobFactory(requested_by=other_user).id}

    response = staff_api.get("/api/v1/jobs/")

    assert {job["id"] for job in response.json()["results"]} == jobs


def test_job_list_filters_by_status_kind_and_dataset(user, user_api):
    dataset = DatasetFactory(owner=user)
    running = JobFactory(requested_by=user, dataset=dataset, status=Job.Status.RUNNING)
    JobFactory(requested_by=user, status=Job.Status.SUCCEEDED)
    training = JobFactory(requested_by=user, kind=Job.Kind.TRAIN)

    by_status = user_api.get("/api/v1/jobs/", {"status": "running"}).json()["results"]
    by_kind = user_api.get("/api/v1/jobs/", {"kind": "train"}).json()["results"]
    by_dataset = user_api.get("/api/v1/jobs/", {"dataset": dataset.id}).json()["results"]
    unfiltered = user_api.get("/api/v1/jobs/", {"status": "", "kind": ""}).json()["results"]

    assert [job["id"] for job in by_status] == [running.id]
    assert [job["id"] for job in by_kind] == [training.id]
    assert [job["id"] for job in by_dataset] == [running.id]
    assert len(unfiltered) == 3


def test_job_list_rejects_an_unknown_status(user_api):
    response = user_api.get("/api/v1/jobs/", {"status": "paused"})

    assert response.status_code == 400
    assert response.json() == {"status": ['"paused" is not a valid choice.']}


@pytest.mark.parametrize("dataset", ["99999999999999999999999999", "0", "-1", "abc"])
def test_job_list_rejects_a_dataset_that_is_not_an_id(user_api, dataset):
    # A number past the database's integers once overflowed the query: a 500.
    response = user_api.get("/api/v1/jobs/", {"dataset": dataset})

    assert response.status_code == 400
    assert list(response.json()) == ["dataset"]


def test_job_detail_shows_progress_and_report(user, user_api):
    job = JobFactory(
        requested_by=user,
        status=Job.Status.SUCCEEDED,
        progress=1.0,
        message="Done",
        report={"imported": 3},
        finished_at=timezone.now(),
    )

    response = user_api.get(f"/api/v1/jobs/{job.id}/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == JOB_FIELDS
    assert body["status"] == "succeeded"
    assert body["progress"] == 1.0
    assert body["report"] == {"imported": 3}
    assert body["dataset"] == job.dataset_id


def test_another_users_job_is_404(other_user, user_api):
    job = JobFactory(requested_by=other_user)

    assert user_api.get(f"/api/v1/jobs/{job.id}/").status_code == 404
    assert user_api.post(f"/api/v1/jobs/{job.id}/cancel/").status_code == 404
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_anonymous_cannot_read_or_cancel_jobs(user, api_client):
    job = JobFactory(requested_by=user)

    assert api_client.get("/api/v1/jobs/").status_code == 401
    assert api_client.get(f"/api/v1/jobs/{job.id}/").status_code == 401
    assert api_client.post(f"/api/v1/jobs/{job.id}/cancel/").status_code == 401


def test_cancel_a_queued_job(user, user_api):
    job = JobFactory(requested_by=user)

    response = user_api.post(f"/api/v1/jobs/{job.id}/cancel/")

    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert job.finished_at is not None


def test_cancelling_twice_answers_the_same(user, user_api):
    job = JobFactory(requested_by=user, status=Job.Status.RUNNING)

    user_api.post(f"/api/v1/jobs/{job.id}/cancel/")
    again = user_api.post(f"/api/v1/jobs/{job.id}/cancel/")

    assert again.status_code == 202
    assert again.json()["status"] == "cancelled"


@pytest.mark.parametrize("finished", [Job.Status.SUCCEEDED, Job.Status.FAILED])
def test_cancelling_a_finished_job_is_409(user, user_api, finished):
    job = JobFactory(requested_by=user, status=finished, finished_at=timezone.now())

    response = user_api.post(f"/api/v1/jobs/{job.id}/cancel/")

    assert response.status_code == 409
    assert response.json() == {"detail": f"This job already {finished}; there is nothing to cancel."}
    job.refresh_from_db()
    assert job.status == finished


def test_staff_can_read_and_cancel_anyones_job(user, staff_api):
    job = JobFactory(requested_by=user, status=Job.Status.RUNNING)

    assert staff_api.get(f"/api/v1/jobs/{job.id}/").status_code == 200
    response = staff_api.post(f"/api/v1/jobs/{job.id}/cancel/")

    assert response.status_code == 202
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
