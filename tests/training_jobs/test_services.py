"""The job engine: claiming, finishing, cancelling, progress, temporary errors and deletion, with a job
kind registered by the test (the engine knows no domain)."""

import pytest
from botocore.exceptions import EndpointConnectionError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import OperationalError

from tests.training_jobs.conftest import KIND, job_of_test_kind, running_job_of_test_kind
from training_jobs.kinds import JobResult, UnknownJobKind
from training_jobs.models import Job
from training_jobs.runner import job_run
from training_jobs.services import (
    JobCancelled,
    JobInputError,
    ProgressReporter,
    job_cancel,
    job_claim,
    job_create,
    job_delete,
    job_enqueue,
    job_succeed,
)

# Committed for real: the engine's clean-up and re-sending run once a transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)

def test_claim_moves_a_queued_job_to_running_once_as_its_first_attempt(kind):
    job = job_of_test_kind()

    claimed = job_claim(job_id=job.id)
    claimed_again = job_claim(job_id=job.id)

    assert (claimed.status, claimed.message, claimed.attempts) == ("running", "Started", 1)
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert claimed_again is None


def test_running_a_job_twice_does_the_work_once(kind):
    job = job_of_test_kind()

    job_run(job_id=job.id)
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert kind.runs == [1]
    assert (job.status, job.progress, job.message, job.report) == ("succeeded", 1.0, "Done", {"done": 1})
    assert job.finished_at is not None
    assert kind.ended == [(job.id, "succeeded")] and kind.cleaned == [(job.id, "succeeded")]


def test_a_job_of_a_kind_nobody_registered_cannot_be_created(user):
    with pytest.raises(UnknownJobKind):
        job_create(kind="no-such-kind", requested_by=user)
    assert not Job.objects.exists()


def test_cancelling_a_queued_job_means_it_never_runs_and_its_hooks_run_once(kind):
    job = job_of_test_kind()

    job_cancel(job=job)
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert (job.status, job.message) == ("cancelled", "Cancelled")
    assert job.finished_at is not None
    assert kind.runs == []
    assert kind.ended == [(job.id, "cancelled")] and kind.cleaned == [(job.id, "cancelled")]


def test_cancelling_a_running_job_stops_its_work_at_the_next_progress_report(kind):
    job = job_of_test_kind()
    reached = []

    def work(job, progress):
        progress(0.1, "1 of 10 files")
        job_cancel(job=job)  # the user presses Cancel while the worker is busy
        progress(0.2, "2 of 10 files", force=True)
        reached.append("after cancel")
        return JobResult({}, "Done")

    kind.work = work
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert reached == []
    assert (job.status, job.message, job.error) == ("cancelled", "Cancelled", "")
    # Once when the cancel committed, once more when the worker stopped (it may have written since).
    assert kind.cleaned == [(job.id, "cancelled"), (job.id, "cancelled")]


def test_progress_reporter_raises_job_cancelled_once_the_job_is_cancelled(kind):
    job = running_job_of_test_kind()
    progress = ProgressReporter(job.id, attempt=1, interval=0)

    progress(0.5, "halfway")
    job.refresh_from_db()
    assert (job.progress, job.message) == (0.5, "halfway")

    job_cancel(job=job)
    with pytest.raises(JobCancelled):
        progress(0.6, "a bit further")
    job.refresh_from_db()
    assert (job.status, job.progress) == ("cancelled", 0.5)


def test_progress_reporter_writes_at_most_once_per_interval_unless_forced(kind):
    job = running_job_of_test_kind()
    progress = ProgressReporter(job.id, attempt=1, interval=60)

    progress(0.1, "first")
    progress(0.2, "too soon")
    job.refresh_from_db()
    assert job.message == "first"

    progress(0.3, "forced", force=True)
    job.refresh_from_db()
    assert (job.progress, job.message) == (0.3, "forced")


def test_a_worker_whose_job_became_a_later_attempt_can_neither_report_nor_finish(kind):
    job = running_job_of_test_kind()
    # The reaper gave the job to another worker: attempt 2 runs now.
    Job.objects.filter(id=job.id).update(attempts=2)

    with pytest.raises(JobCancelled):
        ProgressReporter(job.id, attempt=1, interval=0)(0.9, "almost")
    assert job_succeed(job_id=job.id, attempt=1, result=JobResult({"stale": True})) is False
    job.refresh_from_db()
    assert (job.status, job.attempts, job.report) == ("running", 2, {})
    assert kind.cleaned == [], "the new attempt needs its files"


def test_a_job_cancelled_while_finishing_stays_cancelled_and_its_finish_never_runs(kind):
    job = running_job_of_test_kind()
    finished = []
    job_cancel(job=job)

    result = JobResult({"imported": 3}, finish=lambda job: finished.append(job.id))
    assert job_succeed(job_id=job.id, attempt=1, result=result) is False

    job.refresh_from_db()
    assert (job.status, job.report) == ("cancelled", {})
    assert finished == []


def test_a_finish_step_that_fails_fails_the_job_and_keeps_none_of_its_writes(kind):
    job = job_of_test_kind()

    def finish(job):
        Job.objects.filter(id=job.id).update(message="half-written")
        raise OperationalError("database is locked")

    kind.work = lambda job, progress: JobResult({"done": 1}, "Done", finish=finish)
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "The result could not be saved: OperationalError: database is locked"
    assert (job.message, job.report) == ("Failed", {})
    assert kind.ended == [(job.id, "failed")]


def test_bad_input_fails_the_job_with_its_message_and_partial_report(kind):
    job = job_of_test_kind()

    def work(job, progress):
        raise JobInputError("The archive holds 3 entries; the limit is 2.", report={"imported": 0})

    kind.work = work
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert (job.status, job.message, job.error) == ("failed", "Failed", "The archive holds 3 entries; the limit is 2.")
    assert job.report == {"imported": 0}
    assert job.finished_at is not None
    assert kind.ended == [(job.id, "failed")] and kind.cleaned == [(job.id, "failed")]


def test_an_unexpected_error_fails_the_job_naming_the_exception(kind, caplog):
    job = job_of_test_kind()

    def work(job, progress):
        raise ValueError("No space left on device")

    kind.work = work
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "ValueError: No space left on device")
    # The operator gets the traceback in the log; the user only the message.
    assert "Traceback" in caplog.text and "Traceback" not in job.error


def test_an_unexpected_error_shows_no_server_paths_to_the_user(kind, caplog):
    job = job_of_test_kind()

    def work(job, progress):
        raise FileNotFoundError(2, "No such file or directory", "/srv/sightline/var/weights/vgg16_notop.h5")

    kind.work = work
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "FileNotFoundError: [Errno 2] No such file or directory: '…/vgg16_notop.h5'"
    assert "/srv/sightline/var/weights/vgg16_notop.h5" in caplog.text


def test_a_temporary_error_resumes_the_job_as_its_next_attempt(kind):
    job = job_of_test_kind()

    def work(job, progress):
        if job.attempts == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return JobResult({"done": 1}, "Done on the second try")

    kind.work = work
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert kind.runs == [1, 2]
    assert (job.status, job.attempts, job.message) == ("succeeded", 2, "Done on the second try")
    assert kind.ended == [(job.id, "succeeded")]


def test_an_object_storage_outage_resumes_the_job_too(kind):
    # What boto raises once its own retries are spent (SIGHTLINE_STORAGE=s3): not Python's ConnectionError.
    job = job_of_test_kind()

    def work(job, progress):
        if job.attempts == 1:
            raise EndpointConnectionError(endpoint_url="http://minio:9000/sightline/datasets/1/a.jpg")
        return JobResult({"done": 1}, "Done once the bucket answered")

    kind.work = work
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert kind.runs == [1, 2]
    assert (job.status, job.attempts, job.message) == ("succeeded", 2, "Done once the bucket answered")


def test_a_temporary_error_on_the_last_attempt_fails_the_job(kind, settings):
    settings.SIGHTLINE_JOB_MAX_ATTEMPTS = 1
    job = job_of_test_kind()

    def work(job, progress):
        raise OperationalError("server closed the connection unexpectedly")

    kind.work = work
    job_run(job_id=job.id)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == (
        "Stopped after 1 attempts; the last one hit OperationalError: server closed the connection unexpectedly"
    )


def test_a_broker_that_is_down_leaves_the_job_queued_for_the_reaper(kind, monkeypatch, user):
    from training_jobs.tasks import run_job

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(run_job, "apply_async", refuse)
    job = job_create(kind=KIND, requested_by=user)
    job_enqueue(job=job)

    job.refresh_from_db()
    assert (job.status, job.enqueued_at) == ("queued", None)
    assert job.message == "The job queue could not be reached; the job will be sent again shortly"
    assert kind.runs == []


def test_deleting_a_running_job_cancels_it_and_removes_its_files(kind):
    job = running_job_of_test_kind()
    name = default_storage.save(f"batch-predictions/{job.id}/result.csv", ContentFile(b"filename,label\n"))
    Job.objects.filter(id=job.id).update(result_file=name)
    job.refresh_from_db()

    job_delete(job=job)

    assert not Job.objects.filter(id=job.id).exists()
    assert not default_storage.exists(name)
    assert kind.ended == [(job.id, "cancelled")]
    assert (job.id, "deleted") in kind.cleaned
