"""The heartbeat thread keeps a job alive through long steps that report no progress, and notices when
the job is taken from its worker."""

import time

import pytest

from tests.training_jobs.conftest import job_of_test_kind, running_job_of_test_kind
from training_jobs.heartbeat import Heartbeat
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.runner import job_run
from training_jobs.services import JobCancelled, ProgressReporter, job_cancel

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_long_step_without_progress_reports_still_beats(kind, settings):
    settings.SIGHTLINE_JOB_HEARTBEAT_SECONDS = 0.1
    job = job_of_test_kind()
    beats = []

    def work(job, progress):
        first = Job.objects.get(id=job.id).heartbeat_at
        time.sleep(0.6)  # an export, a detector fit: no progress call
        beats.append(Job.objects.get(id=job.id).heartbeat_at > first)
        return JobResult({}, "Done")

    kind.work = work
    job_run(job_id=job.id)

    assert beats == [True]
    assert Job.objects.get(id=job.id).status == "succeeded"


def test_the_heartbeat_notices_a_cancel_and_the_next_report_stops_the_work(kind):
    job = running_job_of_test_kind()
    with Heartbeat(job.id, attempt=1, interval=0.05) as heartbeat:
        progress = ProgressReporter(job.id, attempt=1, interval=60, heartbeat=heartbeat)
        progress(0.1, "started")
        job_cancel(job=job)
        deadline = time.monotonic() + 5
        while not heartbeat.lost and time.monotonic() < deadline:
            time.sleep(0.02)
        assert heartbeat.lost
        # Throttled, this report would write nothing; the heartbeat's finding stops it anyway.
        with pytest.raises(JobCancelled):
            progress(0.2, "too soon to write")


def test_no_heartbeat_thread_inside_an_open_transaction(kind):
    from django.db import transaction

    job = running_job_of_test_kind()
    with transaction.atomic(), Heartbeat(job.id, attempt=1, interval=0.05) as heartbeat:
        time.sleep(0.2)
        assert heartbeat._thread is None and not heartbeat.lost
