"""Job lifecycle: create and queue, claim, report progress, finish, cancel, reap lost jobs.

Every transition is a conditional UPDATE on the current status, so a task delivered twice, a cancel
racing a finish, or a worker that died mid-job can never leave a job in two states or stuck running.
"""

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from classifier.models import ModelVersion
from training_jobs.models import Job

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job's work when the user cancelled it; the job is already marked cancelled."""


class JobInputError(Exception):
    """Bad input found by a job's work: the job fails with this message, without a traceback."""


def job_create(
    *,
    kind: str,
    requested_by: AbstractBaseUser,
    dataset: Any = None,
    params: dict | None = None,
    message: str = "Waiting for a worker",
) -> Job:
    return Job.objects.create(
        kind=kind,
        requested_by=requested_by,
        dataset=dataset,
        params=params or {},
        message=message,
        celery_task_id=str(uuid.uuid4()),
    )


def job_enqueue(*, job: Job, task: Any, queue: str) -> None:
    """Send the job's task once the surrounding transaction commits (the worker must see the row)."""
    transaction.on_commit(
        lambda: task.apply_async(args=[job.id], task_id=job.celery_task_id, queue=queue)
    )


def job_claim(*, job_id: int) -> Job | None:
    """Move a queued job to running; None when it is not queued (finished, cancelled, or taken)."""
    now = timezone.now()
    claimed = Job.objects.filter(id=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, message="Started"
    )
    return Job.objects.get(id=job_id) if claimed else None


def job_succeed(*, job_id: int, report: dict | None = None, message: str = "Done") -> bool:
    fields: dict[str, Any] = {
        "status": Job.Status.SUCCEEDED,
        "progress": 1.0,
        "message": message,
        "finished_at": timezone.now(),
    }
    if report is not None:
        fields["report"] = report
    return bool(Job.objects.filter(id=job_id, status=Job.Status.RUNNING).update(**fields))


def job_fail(*, job_id: int, error: str, report: dict | None = None) -> bool:
    fields: dict[str, Any] = {
        "status": Job.Status.FAILED,
        "error": error[:10_000],
        "message": "Failed",
        "finished_at": timezone.now(),
    }
    if report is not None:
        fields["report"] = report
    return bool(
        Job.objects.filter(id=job_id, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(**fields)
    )


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued or running job at once; a running worker notices at its next progress report."""
    Job.objects.filter(id=job.id, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.CANCELLED, message="Cancelled", finished_at=timezone.now()
    )
    # A version whose training never started would otherwise wait for it forever.
    ModelVersion.objects.filter(jobs=job, status=ModelVersion.Status.QUEUED).update(
        status=ModelVersion.Status.CANCELLED
    )
    job.refresh_from_db()
    return job


def jobs_reap_stale(*, older_than: timedelta | None = None) -> int:
    """Fail running jobs whose worker stopped sending heartbeats (killed, out of memory, machine lost)."""
    older_than = older_than or timedelta(seconds=settings.SIGHTLINE_JOB_STALE_SECONDS)
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        stale = list(
            Job.objects.select_for_update().filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff)
            .values_list("id", flat=True)
        )
        Job.objects.filter(id__in=stale).update(
            status=Job.Status.FAILED,
            message="Failed",
            error="The worker running this job stopped responding; it was marked failed. Start it again.",
            finished_at=timezone.now(),
        )
        ModelVersion.objects.filter(
            jobs__in=stale, status__in=[ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING]
        ).update(status=ModelVersion.Status.FAILED)
    return len(stale)


class ProgressReporter:
    """Writes a job's progress and heartbeat at most every ``interval`` seconds, and raises
    ``JobCancelled`` when it finds the job no longer running (cancelled by the user)."""

    def __init__(self, job_id: int, *, interval: float = 0.5) -> None:
        self.job_id = job_id
        self.interval = interval
        self._last_write = 0.0

    def __call__(self, progress: float, message: str = "", *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self.interval:
            return
        self._last_write = now
        fields: dict[str, Any] = {"progress": max(0.0, min(1.0, progress)), "heartbeat_at": timezone.now()}
        if message:
            fields["message"] = message[:500]
        if not Job.objects.filter(id=self.job_id, status=Job.Status.RUNNING).update(**fields):
            raise JobCancelled()

    def check_cancelled(self) -> None:
        if not Job.objects.filter(id=self.job_id, status=Job.Status.RUNNING).exists():
            raise JobCancelled()


def job_run(*, job_id: int, work: Callable[..., tuple[dict, str]]) -> None:
    """Claim the job, run ``work(job=job, progress=progress)`` (a service's ``*_run``) and record how it ended.

    ``work`` returns ``(report, message)``. A job that is not queued is left alone, so delivering the
    task twice is harmless. Bad input fails the job with its message; anything else fails it with
    the exception's text (and is logged with its traceback for the operator).
    """
    job = job_claim(job_id=job_id)
    if job is None:
        logger.info("Job %s is not queued; nothing to do.", job_id)
        return
    progress = ProgressReporter(job.id)
    try:
        report, message = work(job=job, progress=progress)
    except JobCancelled:
        logger.info("Job %s was cancelled.", job_id)
    except JobInputError as exc:
        job_fail(job_id=job.id, error=str(exc), report=getattr(exc, "report", None))
    except Exception as exc:
        logger.error("Job %s failed:\n%s", job_id, traceback.format_exc())
        job_fail(job_id=job.id, error=f"{type(exc).__name__}: {exc}")
    else:
        job_succeed(job_id=job.id, report=report, message=message)
