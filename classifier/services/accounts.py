"""Deleting a user with everything they own: datasets (with their images, versions and jobs), the
jobs they started elsewhere, and their predictions' images."""

from django.contrib.auth.models import User
from django.db import transaction

from classifier.models import Dataset, Prediction
from classifier.services.datasets import dataset_delete
from training_jobs.models import Job
from training_jobs.services import jobs_cancel, jobs_result_files
from webapp.storage import stored_files_delete


def user_delete(*, user: User) -> None:
    """Cancel the user's jobs, delete their datasets through ``dataset_delete`` (so every file goes),
    then the user; their prediction images and job results go once that has committed."""
    with transaction.atomic():
        for dataset in Dataset.objects.filter(owner=user):
            dataset_delete(dataset=dataset)
        jobs = Job.objects.filter(requested_by=user)
        jobs_cancel(jobs=jobs)
        names = jobs_result_files(jobs=jobs)
        names += [name for name in Prediction.objects.filter(owner=user).values_list("image", flat=True) if name]
        user.delete()
        transaction.on_commit(lambda: stored_files_delete(names=names), robust=True)
