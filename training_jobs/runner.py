"""The worker side of a job: claim it, run its kind's work with a heartbeat, and record how it ended.

Bad input fails the job with its message; a temporary error (the database or storage briefly gone)
puts it back in the queue as a new attempt, which resumes from the kind's checkpoint; anything else
fails it with the exception's text, its traceback going to the operator's log.
"""

import logging
import re
import traceback

import botocore.exceptions as botocore_errors
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import Q

from training_jobs.heartbeat import Heartbeat
from training_jobs.kinds import JobKind, UnknownJobKind, job_kind_get
from training_jobs.models import Job
from training_jobs.services import (
    JobCancelled,
    JobInputError,
    ProgressReporter,
    job_claim,
    job_cleanup,
    job_fail,
    job_resume,
    job_succeed,
    max_attempts,
)

logger = logging.getLogger(__name__)

# Errors that say nothing about the job itself: trying again later can succeed. With object storage
# (SIGHTLINE_STORAGE=s3) an outage longer than boto's own retries surfaces as botocore's connection and
# HTTP-client errors, which are not Python's ConnectionError.
TEMPORARY_ERRORS = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    botocore_errors.ConnectionError,
    botocore_errors.HTTPClientError,
)
# An absolute path on the worker ("/var/lib/sightline/media/x/y.keras"): where files live on a server is
# not the user's business, and it hides the part they can act on. The operator's log keeps it whole.
SERVER_PATH = re.compile(r"(?<![\w:/])/(?:[\w.\-]+/)+([\w.\-]+)")


def error_for_user(exc: BaseException) -> str:
    """An unexpected exception as the job's error: its kind and message, with server paths cut to the
    file's name."""
    message = SERVER_PATH.sub(r"…/\1", str(exc))
    return f"{type(exc).__name__}: {message}"[:2000]


def job_run(*, job_id: int) -> None:
    """Run one attempt of a queued job. A job that is not queued is left alone, so delivering the
    task twice is harmless."""
    job = job_claim(job_id=job_id)
    if job is None:
        logger.info("Job %s is not queued; nothing to do.", job_id)
        return
    attempt = job.attempts
    try:
        kind = job_kind_get(job.kind)
    except UnknownJobKind as exc:
        job_fail(job_id=job.id, error=str(exc), attempt=attempt)
        return
    with Heartbeat(job.id, attempt=attempt, interval=settings.SIGHTLINE_JOB_HEARTBEAT_SECONDS) as heartbeat:
        progress = ProgressReporter(job.id, attempt=attempt, heartbeat=heartbeat)
        if not _run_and_record(job, kind, attempt, progress):
            # Cancelled, deleted or resumed elsewhere while this worker ran it.
            logger.info("Job %s stopped: it is no longer running as attempt %s.", job_id, attempt)
            _stopped(job)


def _run_and_record(job: Job, kind: JobKind, attempt: int, progress: ProgressReporter) -> bool:
    """Run the work and record how it ended; False when the job was no longer this attempt's to end."""
    try:
        result = kind.run(job=job, progress=progress)
    except JobCancelled:
        return False
    except JobInputError as exc:
        return job_fail(job_id=job.id, error=str(exc), report=exc.report, attempt=attempt)
    except SoftTimeLimitExceeded:
        limit = settings.CELERY_TASK_SOFT_TIME_LIMIT
        error = f"The job ran past its time limit ({limit // 60} minutes) and was stopped."
        return job_fail(job_id=job.id, error=error, attempt=attempt)
    except TEMPORARY_ERRORS as exc:
        logger.warning("Job %s hit a temporary error:\n%s", job.id, traceback.format_exc())
        return _retry_or_fail(job, attempt, exc)
    except Exception as exc:
        logger.error("Job %s failed:\n%s", job.id, traceback.format_exc())
        return job_fail(job_id=job.id, error=error_for_user(exc), attempt=attempt)
    try:
        return job_succeed(job_id=job.id, attempt=attempt, result=result)
    except Exception as exc:
        # Recording the result failed (its finish step refused, the database went away): the job must
        # still end somewhere the user can see.
        logger.error("Job %s could not record its result:\n%s", job.id, traceback.format_exc())
        error = f"The result could not be saved: {type(exc).__name__}: {exc}"
        return job_fail(job_id=job.id, error=error, attempt=attempt)


def _retry_or_fail(job: Job, attempt: int, exc: Exception) -> bool:
    reason = f"{type(exc).__name__}: {exc}"
    if attempt < max_attempts():
        return job_resume(
            job_id=job.id,
            where=Q(attempts=attempt),
            message=f"Interrupted by a temporary error ({reason[:200]}); resuming (attempt {attempt + 1} "
            f"of {max_attempts()})",
        )
    error = f"Stopped after {attempt} attempts; the last one hit {reason}"
    return job_fail(job_id=job.id, error=error, attempt=attempt)


def _stopped(job: Job) -> None:
    """The work stopped because its job was taken from it. If the job has ended (cancelled, failed,
    deleted), clean up again: this worker may have written files after the first clean-up ran. A job
    resumed elsewhere keeps everything: its next attempt needs the checkpoint."""
    current = Job.objects.filter(id=job.id).values_list("status", flat=True).first()
    if current is None or current in Job.TERMINAL_STATUSES:
        job_cleanup(job=job)
