"""Celery tasks of the job engine: one task runs any registered job kind (by job id, never an object),
and the periodic reaper."""

from celery import shared_task

from training_jobs.reaper import jobs_reap
from training_jobs.runner import job_run
from training_jobs.services import RUN_JOB_TASK


# Celery ships no type information, so its decorators read as untyped.
@shared_task(name=RUN_JOB_TASK)  # type: ignore[untyped-decorator]
def run_job(job_id: int) -> None:
    """Sent by ``job_send`` to the queue of the job's kind."""
    job_run(job_id=job_id)


@shared_task  # type: ignore[untyped-decorator]
def reap_jobs() -> dict[str, int]:
    """The periodic reaper (beat): resume or fail jobs that lost their worker, send again queued jobs
    whose task was lost, and let the domain repair rows that disagree with their job."""
    return jobs_reap()
