"""Job lifecycle: create and send, claim, report progress, finish, cancel, resume, delete.

Every transition is a conditional UPDATE on the current status (and, from a worker, on its attempt
number), so a task delivered twice, a cancel racing a finish, or a worker that was given up on can
never leave a job in two states. Every way into a terminal state goes through ``_job_end``, which
calls the kind's ``ended`` hook in the same transaction: rows that follow a job never disagree with it.
"""

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from celery import signature
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from training_jobs.heartbeat import Heartbeat
from training_jobs.kinds import JobKind, JobResult, UnknownJobKind, job_kind_get
from training_jobs.models import Job
from training_jobs.report_limits import report_bound, report_csv
from webapp.storage import stored_files_delete

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (Job.Status.QUEUED, Job.Status.RUNNING)
# The task that runs a job, sent by name: what runs it (``tasks`` → ``runner``) builds on this module,
# not the other way round. The name is what messages already in the broker carry.
RUN_JOB_TASK = "training_jobs.tasks.run_job"


class JobCancelled(Exception):
    """Raised inside a job's work when the job is no longer this worker's to run: the user cancelled
    it, it was deleted, or the reaper gave it up or resumed it elsewhere. The row already says so."""


class JobInputError(Exception):
    """Bad input found by a job's work: the job fails with this message, without a traceback."""

    def __init__(self, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report


def job_create(
    *,
    kind: str,
    requested_by: User,
    # The domain's Dataset and ModelVersion rows: the engine does not import their classes.
    dataset: Any = None,
    model_version: Any = None,
    params: dict[str, Any] | None = None,
    message: str = "Waiting for a worker",
) -> Job:
    job_kind_get(kind)  # a kind nobody can run must not be queued
    return Job.objects.create(
        kind=kind,
        requested_by=requested_by,
        dataset=dataset,
        model_version=model_version,
        params=params or {},
        message=message,
    )


def job_enqueue(*, job: Job) -> None:
    """Send the job's task once the surrounding transaction commits (the worker must see the row).

    A broker that cannot be reached does not undo the request: the job stays queued and the reaper
    sends it again (``jobs_reap``)."""
    transaction.on_commit(lambda: job_send(job_id=job.id))


def job_send(*, job_id: int) -> bool:
    """Hand a queued job's task to the broker, on its kind's queue; False if it is not queued or the
    broker refused it (the job then waits, queued, for the reaper to send it again)."""
    job = Job.objects.filter(id=job_id, status=Job.Status.QUEUED).first()
    if job is None:
        return False
    task_id = str(uuid.uuid4())
    # Recorded before sending: an eager (inline) task may finish the job inside apply_async.
    Job.objects.filter(id=job_id, status=Job.Status.QUEUED).update(enqueued_at=timezone.now(), celery_task_id=task_id)
    try:
        signature(RUN_JOB_TASK, args=[job_id]).apply_async(task_id=task_id, queue=job_kind_get(job.kind).queue)
    except Exception:
        logger.exception("Could not send job %s to the broker; the reaper will send it again.", job_id)
        Job.objects.filter(id=job_id, status=Job.Status.QUEUED).update(
            enqueued_at=None, message="The job queue could not be reached; the job will be sent again shortly"
        )
        return False
    return True


def job_claim(*, job_id: int) -> Job | None:
    """Move a queued job to running as its next attempt; None when it is not queued (finished,
    cancelled, or taken by another delivery of the task)."""
    now = timezone.now()
    claimed = Job.objects.filter(id=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", now),
        heartbeat_at=now,
    )
    if not claimed:
        return None
    job = Job.objects.select_related("dataset", "model_version").get(id=job_id)
    message = "Started" if job.attempts == 1 else f"Resumed (attempt {job.attempts} of {max_attempts()})"
    Job.objects.filter(id=job_id, status=Job.Status.RUNNING, attempts=job.attempts).update(message=message)
    job.message = message
    return job


def max_attempts() -> int:
    return max(1, settings.SIGHTLINE_JOB_MAX_ATTEMPTS)


def _kind_or_none(name: str) -> JobKind | None:
    try:
        return job_kind_get(name)
    except UnknownJobKind:
        return None


def _job_end(*, job_id: int, where: Q, status: str, fields: dict[str, Any], result: JobResult | None = None) -> bool:
    """Make the job terminal if it still matches ``where``; True if this call ended it."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(where, id=job_id).first()
        if job is None:
            return False
        if result is not None and result.finish is not None:
            result.finish(job)
        values = {"status": status, "finished_at": timezone.now(), **fields}
        Job.objects.filter(id=job_id).update(**values)
        for name, value in values.items():
            setattr(job, name, value)
        kind = _kind_or_none(job.kind)
        if kind is not None and kind.ended is not None:
            kind.ended(job)
        if kind is not None and kind.cleanup is not None:
            transaction.on_commit(lambda: job_cleanup(job=job), robust=True)
    return True


def job_cleanup(*, job: Job) -> None:
    """Let the job's kind delete the files it no longer needs (safe to repeat)."""
    kind = _kind_or_none(job.kind)
    if kind is not None and kind.cleanup is not None:
        kind.cleanup(job)


def job_succeed(*, job_id: int, attempt: int, result: JobResult) -> bool:
    """End this attempt of the job succeeded, running ``result.finish`` in the same transaction;
    False if the job is no longer this attempt's (cancelled, reaped or resumed meanwhile)."""
    fields = {"progress": 1.0, "message": result.message[:500], **_report_fields(job_id, result.report)}
    where = Q(status=Job.Status.RUNNING, attempts=attempt)
    return _job_end_or_forget(job_id=job_id, where=where, status=Job.Status.SUCCEEDED, fields=fields, result=result)


def job_fail(*, job_id: int, error: str, report: dict[str, Any] | None = None, attempt: int | None = None) -> bool:
    where = Q(status__in=ACTIVE_STATUSES)
    if attempt is not None:
        where &= Q(attempts=attempt)
    fields: dict[str, Any] = {"error": error[:10_000], "message": "Failed"}
    if report is not None:
        fields.update(_report_fields(job_id, report))
    return _job_end_or_forget(job_id=job_id, where=where, status=Job.Status.FAILED, fields=fields)


def _report_fields(job_id: int, report: dict[str, Any]) -> dict[str, Any]:
    """The report as stored: bounded to ``SIGHTLINE_REPORT_MAX_ROWS`` rows per list, and, when a list was
    cut, the full lists stored as a CSV (``report_file``) before the job's row names it."""
    bounded, cut = report_bound(report, max_rows=settings.SIGHTLINE_REPORT_MAX_ROWS)
    if not cut:
        return {"report": bounded}
    name = default_storage.save(f"jobs/{job_id}/report-{uuid.uuid4().hex[:8]}.csv", ContentFile(report_csv(cut)))
    return {"report": bounded, "report_file": name}


def _job_end_or_forget(*, job_id: int, where: Q, status: str, fields: dict[str, Any], **extra: Any) -> bool:
    """``_job_end``, deleting the report file stored for it when the job was not this call's to end (or
    ending it failed), so no file is left that no row names."""
    ended = False
    try:
        ended = _job_end(job_id=job_id, where=where, status=status, fields=fields, **extra)
    finally:
        if not ended and fields.get("report_file"):
            stored_files_delete(names=[fields["report_file"]])
    return ended


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued or running job at once; a running worker stops at its next progress report
    or heartbeat. Rows that follow the job (its model version) are cancelled in the same transaction."""
    _job_end(
        job_id=job.id, where=Q(status__in=ACTIVE_STATUSES), status=Job.Status.CANCELLED, fields={"message": "Cancelled"}
    )
    job.refresh_from_db()
    return job


def jobs_cancel(*, jobs: QuerySet[Job]) -> int:
    """Cancel every queued or running job of a queryset (before what they work on is deleted)."""
    cancelled = 0
    for job in jobs.filter(status__in=ACTIVE_STATUSES):
        cancelled += job_cancel(job=job).status == Job.Status.CANCELLED
    return cancelled


def job_resume(*, job_id: int, where: Q, message: str) -> bool:
    """Put a running job back in the queue as a new attempt (its worker was lost, or hit a temporary
    error), and send it once that commits; False if it no longer matches ``where``."""
    with transaction.atomic():
        resumed = Job.objects.filter(where, id=job_id, status=Job.Status.RUNNING).update(
            status=Job.Status.QUEUED, message=message[:500], enqueued_at=None
        )
        if resumed:
            transaction.on_commit(lambda: job_send(job_id=job_id))
    return bool(resumed)


def jobs_result_files(*, jobs: QuerySet[Job]) -> list[str]:
    """The stored files these jobs produced (results and full reports), to delete with them."""
    return [name for pair in jobs.values_list("result_file", "report_file") for name in pair if name]


def job_delete(*, job: Job) -> None:
    """Cancel the job if it is still going, then delete it and every file it holds."""
    job_cancel(job=job)
    with transaction.atomic():
        names = jobs_result_files(jobs=Job.objects.filter(id=job.id))
        Job.objects.filter(id=job.id).delete()

        def files_delete() -> None:
            stored_files_delete(names=names)
            job_cleanup(job=job)

        transaction.on_commit(files_delete, robust=True)


class ProgressReporter:
    """Writes a job's progress and heartbeat at most every ``interval`` seconds, and raises
    ``JobCancelled`` once the job is no longer running as this attempt (cancelled, deleted, reaped,
    or resumed by another worker)."""

    def __init__(
        self, job_id: int, *, attempt: int | None = None, interval: float = 0.5, heartbeat: Heartbeat | None = None
    ) -> None:
        self.job_id = job_id
        self.interval = interval
        self.heartbeat = heartbeat
        self._last_write = 0.0
        self._mine = Q(id=job_id, status=Job.Status.RUNNING)
        if attempt is not None:
            self._mine &= Q(attempts=attempt)

    def __call__(self, progress: float, message: str = "", *, force: bool = False) -> None:
        if self.heartbeat is not None and self.heartbeat.lost:
            raise JobCancelled()
        now = time.monotonic()
        if not force and now - self._last_write < self.interval:
            return
        self._last_write = now
        fields: dict[str, Any] = {"progress": max(0.0, min(1.0, progress)), "heartbeat_at": timezone.now()}
        if message:
            fields["message"] = message[:500]
        if not Job.objects.filter(self._mine).update(**fields):
            raise JobCancelled()


def stale_cutoff(*, now: datetime | None = None, older_than: timedelta | None = None) -> datetime:
    older_than = older_than or timedelta(seconds=settings.SIGHTLINE_JOB_STALE_SECONDS)
    return (now or timezone.now()) - older_than
