"""Job lifecycle: claiming, finishing, cancelling, progress and the reaper, as a user would see the job."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import JobFactory
from training_jobs.models import Job
from training_jobs.services import (
    JobCancelled,
    JobInputError,
    ProgressReporter,
    job_cancel,
    job_claim,
    job_run,
    job_succeed,
    jobs_reap_stale,
)

pytestmark = pytest.mark.django_db


def _running_job(**fields) -> Job:
    now = timezone.now()
    return JobFactory(status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, **fields)


def test_claim_moves_a_queued_job_to_running_once():
    job = JobFactory()

    claimed = job_claim(job_id=job.id)
    claimed_again = job_claim(job_id=job.id)

    assert (claimed.status, claimed.message) == ("running", "Started")
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert claimed_again is None


def test_running_a_job_twice_does_the_work_once():
    job = JobFactory()
    calls = []

    def work(job, progress):
        calls.append(job.id)
        return {"imported": 1}, "Imported 1 of 1 files"

    job_run(job_id=job.id, work=work)
    job_run(job_id=job.id, work=work)

    job.refresh_from_db()
    assert calls == [job.id]
    assert (job.status, job.progress, job.message, job.report) == (
        "succeeded",
        1.0,
        "Imported 1 of 1 files",
        {"imported": 1},
    )
    assert job.finished_at is not None


def test_cancelling_a_queued_job_means_it_never_runs():
    job = JobFactory()
    calls = []

    def work(job, progress):
        calls.append(job.id)
        return {}, "Done"

    job_cancel(job=job)
    job_run(job_id=job.id, work=work)

    job.refresh_from_db()
    assert (job.status, job.message) == ("cancelled", "Cancelled")
    assert job.finished_at is not None
    assert calls == []


def test_cancelling_a_running_job_stops_its_work_at_the_next_progress_report():
    job = JobFactory()
    reached = []

    def work(job, progress):
        progress(0.1, "1 of 10 files")
        job_cancel(job=job)  # the user presses Cancel while the worker is busy
        progress(0.2, "2 of 10 files", force=True)
        reached.append("after cancel")
        return {}, "Done"

    job_run(job_id=job.id, work=work)

    job.refresh_from_db()
    assert reached == []
    assert (job.status, job.message, job.error) == ("cancelled", "Cancelled", "")


def test_progress_reporter_raises_job_cancelled_once_the_job_is_cancelled():
    job = _running_job()
    progress = ProgressReporter(job.id, interval=0)

    progress(0.5, "halfway")
    job.refresh_from_db()
    assert (job.progress, job.message) == (0.5, "halfway")

    job_cancel(job=job)
    with pytest.raises(JobCancelled):
        progress(0.6, "a bit further")
    with pytest.raises(JobCancelled):
        progress.check_cancelled()
    job.refresh_from_db()
    assert (job.status, job.progress) == ("cancelled", 0.5)


def test_progress_reporter_writes_at_most_once_per_interval_unless_forced():
    job = _running_job()
    progress = ProgressReporter(job.id, interval=60)

    progress(0.1, "first")
    progress(0.2, "too soon")
    job.refresh_from_db()
    assert job.message == "first"

    progress(0.3, "forced", force=True)
    job.refresh_from_db()
    assert (job.progress, job.message) == (0.3, "forced")


def test_a_job_cancelled_while_finishing_stays_cancelled():
    job = _running_job()
    job_cancel(job=job)

    assert job_succeed(job_id=job.id, report={"imported": 3}) is False

    job.refresh_from_db()
    assert (job.status, job.report) == ("cancelled", {})


def test_bad_input_fails_the_job_with_its_message_and_partial_report():
    job = JobFactory()

    def work(job, progress):
        error = JobInputError("The archive holds 3 entries; the limit is 2.")
        error.report = {"imported": 0}
        raise error

    job_run(job_id=job.id, work=work)

    job.refresh_from_db()
    assert (job.status, job.message, job.error) == (
        "failed",
        "Failed",
        "The archive holds 3 entries; the limit is 2.",
    )
    assert job.report == {"imported": 0}
    assert job.finished_at is not None


def test_an_unexpected_error_fails_the_job_naming_the_exception(caplog):
    job = JobFactory()

    def work(job, progress):
        raise OSError("No space left on device")

    job_run(job_id=job.id, work=work)

    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "OSError: No space left on device")
    # The operator gets the traceback in the log; the user only the message.
    assert "Traceback" in caplog.text and "Traceback" not in job.error


def test_reaper_fails_running_jobs_whose_worker_went_silent():
    stale = _running_job()
    Job.objects.filter(id=stale.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    alive = _running_job()
    queued = JobFactory()

    reaped = jobs_reap_stale(older_than=timedelta(minutes=15))

    assert reaped == 1
    stale.refresh_from_db()
    assert (stale.status, stale.message) == ("failed", "Failed")
    assert stale.error == "The worker running this job stopped responding; it was marked failed. Start it again."
    assert stale.finished_at is not None
    assert Job.objects.get(id=alive.id).status == "running"
    assert Job.objects.get(id=queued.id).status == "queued"


def test_reaper_uses_the_stale_setting_by_default(settings):
    settings.SIGHTLINE_JOB_STALE_SECONDS = 60
    job = _running_job()
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(seconds=120))

    assert jobs_reap_stale() == 1
    assert Job.objects.get(id=job.id).status == "failed"


def test_a_reaped_job_whose_worker_comes_back_stays_failed():
    job = _running_job()
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    jobs_reap_stale(older_than=timedelta(minutes=15))

    # The worker was only slow: its next progress report finds the job no longer running.
    with pytest.raises(JobCancelled):
        ProgressReporter(job.id)(0.9, "almost")
    assert job_succeed(job_id=job.id) is False
    assert Job.objects.get(id=job.id).status == "failed"
