"""Celery tasks: each takes a job or prediction id, never an object, and hands the work to a service."""

from celery import shared_task

from classifier.services.augmentation import dataset_augment_run
from classifier.services.batch_predictions import batch_prediction_run
from classifier.services.imports import dataset_import_run
from classifier.services.predictions import prediction_run, predictions_reap_stale
from classifier.services.training import model_version_train_run
from training_jobs.services import job_run, jobs_reap_stale


@shared_task
def run_import_job(job_id: int) -> None:
    job_run(job_id=job_id, work=dataset_import_run)


@shared_task
def run_augment_job(job_id: int) -> None:
    job_run(job_id=job_id, work=dataset_augment_run)


@shared_task
def run_training_job(job_id: int) -> None:
    job_run(job_id=job_id, work=model_version_train_run)


@shared_task
def run_batch_prediction_job(job_id: int) -> None:
    job_run(job_id=job_id, work=batch_prediction_run)


@shared_task
def run_prediction(prediction_id: int) -> None:
    prediction_run(prediction_id=prediction_id)


@shared_task
def reap_stale_jobs() -> int:
    """The periodic reaper (beat, every minute): fail the jobs and the queued predictions that lost their
    worker or their task. Returns how many it failed."""
    return jobs_reap_stale() + predictions_reap_stale()
