"""The reaper: lost workers' jobs resume or fail after their last attempt, queued jobs whose task was
lost are sent again, live ones are left alone, and the domain's reconcilers run."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.training_jobs.conftest import job_of_test_kind, running_job_of_test_kind
from training_jobs import kinds
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.reaper import jobs_reap
from training_jobs.tasks import reap_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def _silent_for(job: Job, seconds: float) -> None:
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_a_job_whose_worker_went_silent_resumes_as_its_next_attempt(kind, settings):
    settings.SIGHTLINE_JOB_STALE_SECONDS = 60
    lost = running_job_of_test_kind()
    _silent_for(lost, 120)
    kind.work = lambda job, progress: JobResult({"resumed_at_attempt": job.attempts}, "Done")

    counts = jobs_reap()

    lost.refresh_from_db()
    # Sent again at once (tasks run inline here), claimed as attempt 2, and finished.
    assert counts["resumed"] == 1
    assert kind.runs == [2]
    assert (lost.status, lost.attempts, lost.report) == ("succeeded", 2, {"resumed_at_attempt": 2})
    assert kind.ended == [(lost.id, "succeeded")]


def test_a_resumed_job_says_so_while_it_waits_for_a_worker(kind, monkeypatch):
    monkeypatch.setattr("training_jobs.services.job_send", lambda job_id: False)
    lost = running_job_of_test_kind()
    _silent_for(lost, 3600)

    jobs_reap(older_than=timedelta(minutes=1))

    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == ("queued", 1)
    assert lost.message.startswith("The worker running this job was lost (no heartbeat for 3600 s)")
    assert lost.message.endswith("resuming where it left off (attempt 2 of 3)")


def test_a_resumed_job_is_sent_once_per_pass_even_while_the_broker_is_down(kind, monkeypatch):
    sent = []
    monkeypatch.setattr("training_jobs.services.job_send", lambda job_id: sent.append(job_id) or False)
    monkeypatch.setattr("training_jobs.reaper.job_send", lambda job_id: sent.append(job_id) or False)
    lost = running_job_of_test_kind()
    Job.objects.filter(id=lost.id).update(created_at=timezone.now() - timedelta(hours=1))
    _silent_for(lost, 3600)

    counts = jobs_reap(older_than=timedelta(minutes=1))

    assert (counts["resumed"], counts["sent"]) == (1, 0)
    assert sent == [lost.id]
    lost.refresh_from_db()
    assert (lost.status, lost.enqueued_at) == ("queued", None)


def test_a_job_whose_worker_was_lost_on_every_attempt_fails_with_that_reason(kind, settings):
    settings.SIGHTLINE_JOB_MAX_ATTEMPTS = 3
    lost = running_job_of_test_kind(attempts=3)
    _silent_for(lost, 90)

    counts = reap_jobs.apply().get()

    lost.refresh_from_db()
    assert counts["failed"] == 1
    assert lost.status == "failed" and lost.finished_at is not None
    assert lost.error == (
        "The worker running this job was lost 3 times (last: no heartbeat for 90 s), for example because it ran "
        "out of memory or its machine went down; the job was stopped."
    )
    assert kind.runs == []
    assert kind.ended == [(lost.id, "failed")] and kind.cleaned == [(lost.id, "failed")]


def test_a_kind_that_cannot_resume_fails_at_once(kind, monkeypatch):
    registered = kinds.job_kind_get("engine-test")
    monkeypatch.setitem(kinds._kinds, "engine-test", kinds.JobKind(**{**registered.__dict__, "resumable": False}))
    lost = running_job_of_test_kind()
    _silent_for(lost, 3600)

    jobs_reap(older_than=timedelta(minutes=1))

    lost.refresh_from_db()
    assert lost.status == "failed"
    assert lost.error.startswith("The worker running this job was lost (last: no heartbeat for 3600 s)")


def test_live_jobs_and_jobs_just_queued_are_left_alone(kind):
    alive = running_job_of_test_kind()
    queued = job_of_test_kind(enqueued_at=timezone.now())
    just_created = job_of_test_kind()

    counts = jobs_reap(older_than=timedelta(minutes=1))

    assert counts == {"resumed": 0, "failed": 0, "sent": 0, "repaired": 0}
    assert Job.objects.get(id=alive.id).status == "running"
    assert Job.objects.get(id=queued.id).status == "queued"
    assert Job.objects.get(id=just_created.id).status == "queued"
    assert kind.runs == []


def test_a_queued_job_whose_task_never_reached_the_broker_is_sent_again(kind):
    unsent = job_of_test_kind()
    Job.objects.filter(id=unsent.id).update(created_at=timezone.now() - timedelta(minutes=5), enqueued_at=None)

    counts = jobs_reap()

    unsent.refresh_from_db()
    assert counts["sent"] == 1
    assert (unsent.status, unsent.attempts) == ("succeeded", 1)


def test_a_queued_job_no_worker_took_for_long_is_sent_again(kind, settings):
    settings.SIGHTLINE_JOB_RESEND_SECONDS = 600
    waiting = job_of_test_kind(enqueued_at=timezone.now() - timedelta(minutes=5))
    lost_message = job_of_test_kind(enqueued_at=timezone.now() - timedelta(minutes=11))

    jobs_reap()

    assert Job.objects.get(id=waiting.id).status == "queued"
    assert Job.objects.get(id=lost_message.id).status == "succeeded"


def test_every_reconciler_runs_even_when_one_fails(kind, monkeypatch):
    calls = []

    def broken() -> int:
        raise RuntimeError("bug")

    def repairs_two() -> int:
        calls.append("ran")
        return 2

    monkeypatch.setattr(kinds, "_reconcilers", [broken, repairs_two])

    assert jobs_reap()["repaired"] == 2
    assert calls == ["ran"]
