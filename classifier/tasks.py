"""Celery tasks of the classifier that are not jobs: one queued prediction, and the daily sweep of
stored files no row references. Jobs (imports, training…) run through ``training_jobs.tasks.run_job``."""

from celery import shared_task

from classifier.services.orphans import stored_orphans_delete
from classifier.services.prediction_queue import RUN_PREDICTION_TASK, prediction_run


# Named as the sender and the route name it (its module path), so a move of this module cannot part them.
@shared_task(name=RUN_PREDICTION_TASK)  # type: ignore[untyped-decorator]  # Celery ships no types
def run_prediction(prediction_id: int) -> None:
    prediction_run(prediction_id=prediction_id)


@shared_task  # type: ignore[untyped-decorator]  # Celery ships no types
def delete_stored_orphans() -> int:
    """Beat, daily: delete stored files no row references and no job holds (older than a grace period,
    so a file written just before its row is never taken). Returns how many were deleted."""
    return len(stored_orphans_delete())
