"""A job kind registered by the tests (the engine knows no domain), and jobs of that kind."""

from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from tests.factories import JobFactory
from training_jobs import kinds
from training_jobs.kinds import JobKind, JobResult
from training_jobs.models import Job

KIND = "engine-test"


@dataclass
class FakeKind:
    """A job kind whose work each test sets; it records what the engine called."""

    work: object = None
    resumable: bool = True
    runs: list[int] = field(default_factory=list)
    ended: list[tuple[int, str]] = field(default_factory=list)
    cleaned: list[tuple[int, str]] = field(default_factory=list)

    def run(self, *, job, progress):
        self.runs.append(job.attempts)
        return self.work(job, progress)

    def on_end(self, job):
        self.ended.append((job.id, job.status))

    def on_cleanup(self, job):
        status = Job.objects.filter(id=job.id).values_list("status", flat=True).first()
        self.cleaned.append((job.id, status or "deleted"))


@pytest.fixture
def kind(monkeypatch):
    fake = FakeKind(work=lambda job, progress: JobResult({"done": 1}, "Done"))
    registered = JobKind(KIND, "cpu", fake.run, ended=fake.on_end, cleanup=fake.on_cleanup, resumable=True)
    monkeypatch.setitem(kinds._kinds, KIND, registered)
    return fake


def job_of_test_kind(**fields) -> Job:
    return JobFactory(kind=KIND, **fields)


def running_job_of_test_kind(**fields) -> Job:
    now = timezone.now()
    values = {"status": Job.Status.RUNNING, "started_at": now, "heartbeat_at": now, "attempts": 1, **fields}
    return job_of_test_kind(**values)


