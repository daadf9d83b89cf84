"""Quotas per account on training minutes a day: budgets, then the minutes that ran. Each refusal is
a 429 naming the quota with what is used and allowed, and leaves every stored row and file as it was."""

from datetime import timedelta

import pytest
from django.utils import timezone

from classifier.models import ModelVersion, TrainingUsage
from classifier.services.model_versions import model_version_delete
from tests.classifier.quota_support import account_rows, train, trainable_dataset
from training_jobs.models import Job
from training_jobs.services import job_delete, job_fail

pytestmark = pytest.mark.django_db


# Training minutes


def test_training_minutes_per_day_count_budgets_then_the_minutes_that_ran(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30
    settings.SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS = 0
    dataset = trainable_dataset(user)
    assert train(user_api, dataset, budget_minutes=20).status_code == 202
    before = account_rows(user)

    refused = train(user_api, dataset, budget_minutes=20)

    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Training quota reached: your trainings of the last 24 hours use 20 of the 30 minutes your "
        "account has a day (one waiting or running counts its whole budget), and this one's budget is 20 minutes. "
        "Choose a budget of at most 10 minutes, or wait until earlier trainings are more than 24 hours old.",
        "quota": "training_minutes",
        "used": 20,
        "allowed": 30,
    }
    assert account_rows(user) == before
    # Ended after 5 minutes: only those count.
    now = timezone.now()
    Job.objects.filter(requested_by=user).update(
        status=Job.Status.FAILED, started_at=now - timedelta(minutes=5), finished_at=now
    )
    assert train(user_api, dataset, budget_minutes=20).status_code == 202
    assert user_api.get("/api/v1/usage/").json()["training_minutes"] == {"used": 25.0, "allowed": 30}


def test_a_budget_beyond_the_daily_minutes_is_429_naming_the_most_it_may_ask(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30

    response = train(user_api, trainable_dataset(user), budget_minutes=60)

    assert response.status_code == 429
    assert response.json()["detail"].endswith("this one's budget is 60 minutes. Choose a budget of at most 30 minutes.")


def test_deleting_a_version_does_not_give_its_training_minutes_back(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30
    dataset = trainable_dataset(user)
    version = ModelVersion.objects.get(id=train(user_api, dataset, budget_minutes=20).json()["id"])
    Job.objects.filter(model_version=version).update(
        status=Job.Status.RUNNING, started_at=timezone.now() - timedelta(minutes=12)
    )

    model_version_delete(version=version)

    assert not Job.objects.filter(requested_by=user).exists()
    minutes = user_api.get("/api/v1/usage/").json()["training_minutes"]["used"]
    assert 12 <= minutes < 12.1
    assert train(user_api, dataset, budget_minutes=20).status_code == 429


def test_a_training_that_ended_keeps_its_minutes_when_its_job_is_deleted_on_its_own(user, user_api, settings):
    # The admin deletes jobs without their version: the minutes are written down when the job ends.
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30
    dataset = trainable_dataset(user)
    version = ModelVersion.objects.get(id=train(user_api, dataset, budget_minutes=20).json()["id"])
    job = Job.objects.get(model_version=version)
    Job.objects.filter(id=job.id).update(
        status=Job.Status.RUNNING, attempts=1, started_at=timezone.now() - timedelta(minutes=3)
    )
    job_fail(job_id=job.id, error="out of memory")

    job_delete(job=Job.objects.get(id=job.id))

    minutes = user_api.get("/api/v1/usage/").json()["training_minutes"]["used"]
    assert 3 <= minutes < 3.1
    assert 3 <= TrainingUsage.objects.get(user=user).minutes < 3.1


def test_trainings_older_than_a_day_no_longer_count(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30
    TrainingUsage.objects.create(user=user, budget_minutes=30, minutes=30)
    dataset = trainable_dataset(user)
    assert train(user_api, dataset, budget_minutes=5).status_code == 429

    TrainingUsage.objects.filter(job=None).update(created_at=timezone.now() - timedelta(hours=24, minutes=1))

    assert train(user_api, dataset, budget_minutes=5).status_code == 202
