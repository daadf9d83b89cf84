"""Reads of jobs, always scoped to what the requesting user may see (staff see everything)."""

from django.contrib.auth.models import User
from django.db.models import QuerySet

from training_jobs.models import EpochMetric, Job


def jobs_for_user(user: User) -> QuerySet[Job]:
    jobs = Job.objects.select_related("dataset", "requested_by", "model_version")
    return jobs if user.is_staff else jobs.filter(requested_by=user)


def epoch_metrics_for_job(job: Job) -> QuerySet[EpochMetric]:
    return EpochMetric.objects.filter(job=job).order_by("epoch")
