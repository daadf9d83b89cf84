"""Job pages: the list, a job's progress, error and report, live polling while it runs, and cancel."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import DatasetFactory, JobFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db

Status = Job.Status


@pytest.fixture
def job(user):
    return JobFactory(
        requested_by=user,
        dataset=DatasetFactory(owner=user, name="Birds"),
        status=Status.RUNNING,
        progress=0.42,
        message="21 of 50 files",
        started_at=timezone.now(),
    )


def _detail(job: Job) -> str:
    return reverse("training_jobs:job-detail", args=[job.pk])


def test_job_pages_send_strangers_to_sign_in(client, job):
    for url in (reverse("training_jobs:job-list"), _detail(job)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(f"{reverse('login')}?next=")


def test_job_list_shows_my_jobs_with_their_state(user_client, job, other_user):
    JobFactory(requested_by=other_user, dataset=DatasetFactory(owner=other_user, name="Bob's cats"))

    page = user_client.get(reverse("training_jobs:job-list"))

    assert page.status_code == 200
    assert list(page.context["page_obj"]) == [job]
    assert "Import" in page.text
    assert "Running" in page.text
    assert "42%" in page.text
    assert f'href="{reverse("classifier:dataset-detail", args=[job.dataset_id])}"' in page.text
    assert "Bob&#x27;s cats" not in page.text


def test_staff_see_everyones_jobs(client, staff_user, job, other_user):
    theirs = JobFactory(requested_by=other_user)
    client.force_login(staff_user)

    assert set(client.get(reverse("training_jobs:job-list")).context["page_obj"]) == {job, theirs}
    assert client.get(_detail(theirs)).status_code == 200


def test_another_users_job_is_not_found(client, other_user, job):
    client.force_login(other_user)

    assert client.get(_detail(job)).status_code == 404
    assert client.post(reverse("training_jobs:job-cancel", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.status == Status.RUNNING


def test_a_running_job_shows_its_progress_and_polls_for_more(user_client, job):
    page = user_client.get(_detail(job))

    assert page.status_code == 200
    assert 'aria-valuenow="42"' in page.text
    assert "21 of 50 files" in page.text
    assert f'data-poll-url="/api/v1/jobs/{job.pk}/"' in page.text
    assert "/static/js/job_progress.js" in page.text
    assert reverse("training_jobs:job-cancel", args=[job.pk]) in page.text


def test_a_finished_job_shows_its_report_and_stops_polling(user_client, job):
    job.status = Status.SUCCEEDED
    job.progress = 1.0
    job.finished_at = timezone.now()
    job.report = {
        "imported": 48,
        "duplicate": 1,
        "not_image": 1,
        "total": 50,
        "rejected": [
            {
                "filename": "birds/a.jpg",
                "reason": "duplicate",
                "detail": "a.jpg is the same picture as b.jpg.",
            },
            {"filename": "birds/notes.txt", "reason": "not_image", "detail": "notes.txt is not an image."},
        ],
        "classes": {"sparrow": 48},
    }
    job.save()

    page = user_client.get(_detail(job))

    assert ("Imported", 48) in page.context["counts"]
    assert ("Not image", 1) in page.context["counts"]
    assert "birds/notes.txt" in page.text
    assert "notes.txt is not an image." in page.text
    assert "data-poll-url" not in page.text
    assert "job_progress.js" not in page.text
    assert reverse("training_jobs:job-cancel", args=[job.pk]) not in page.text


def test_a_failed_job_shows_its_error(user_client, job):
    job.status = Status.FAILED
    job.error = "The archive is not a readable ZIP file."
    job.save()

    page = user_client.get(_detail(job))

    assert "Failed" in page.text
    assert "The archive is not a readable ZIP file." in page.text


def test_cancel_a_running_job(user_client, job):
    assert user_client.get(reverse("training_jobs:job-cancel", args=[job.pk])).status_code == 405

    response = user_client.post(reverse("training_jobs:job-cancel", args=[job.pk]), follow=True)

    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert response.redirect_chain[-1][0] == _detail(job)
    assert "Job cancelled." in response.text


def test_cancel_returns_to_the_page_it_came_from_but_never_elsewhere(user_client, job):
    version_page = reverse("classifier:model-version-detail", args=[1])

    response = user_client.post(reverse("training_jobs:job-cancel", args=[job.pk]), {"next": version_page})

    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert response.url == version_page
    response = user_client.post(
        reverse("training_jobs:job-cancel", args=[job.pk]), {"next": "https://evil.example/phish"}
    )
    assert response.url == _detail(job)


def test_cancelling_a_finished_job_changes_nothing(user_client, job):
    job.status = Status.SUCCEEDED
    job.save()

    response = user_client.post(reverse("training_jobs:job-cancel", args=[job.pk]), follow=True)

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert "The job had already succeeded; nothing to cancel." in response.text
