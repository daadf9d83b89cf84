"""Quotas per account on jobs queued or running, and on trainings waiting for the training worker.
Each refusal is a 429 naming the quota with what is used and allowed, and leaves every stored row and
file as it was."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.services.quotas import QuotaExceeded, job_quota_check
from tests.classifier.quota_support import (
    GPU_JOBS_FULL,
    account_rows,
    stored_files,
    train,
    trainable_dataset,
    zip_archive,
)
from tests.factories import DatasetFactory, JobFactory, image_bytes
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


# Jobs and the training queue


def test_a_second_training_of_one_account_is_429_while_another_accounts_is_accepted(
    user, other_user, user_api, other_api
):
    dataset = trainable_dataset(user)
    assert train(user_api, dataset).status_code == 202
    before = account_rows(user)

    refused = train(user_api, trainable_dataset(user, name="Pond birds"))
    accepted = train(other_api, trainable_dataset(other_user))

    assert refused.status_code == 429
    assert refused.json() == {"detail": GPU_JOBS_FULL, "quota": "active_gpu_jobs", "used": 1, "allowed": 1}
    assert account_rows(user)[1:] == before[1:]
    assert accepted.status_code == 202
    # Once the first has ended, the account's next one is accepted.
    Job.objects.filter(requested_by=user).update(status=Job.Status.SUCCEEDED)
    assert train(user_api, dataset).status_code == 202


def test_a_batch_prediction_does_not_wait_for_the_training_worker(user, other_user):
    # Batch predictions run on the inference queue: an account's training waiting for the training worker
    # does not hold them back, and they do not take its training's place.
    JobFactory(requested_by=user, kind=Job.Kind.TRAIN)
    job_quota_check(user=user, kind=Job.Kind.BATCH_PREDICT)
    JobFactory(requested_by=other_user, kind=Job.Kind.BATCH_PREDICT)

    job_quota_check(user=other_user, kind=Job.Kind.TRAIN)
    with pytest.raises(QuotaExceeded) as refused:
        job_quota_check(user=user, kind=Job.Kind.TRAIN)
    assert (refused.value.quota, refused.value.message) == ("active_gpu_jobs", GPU_JOBS_FULL)


def test_a_batch_prediction_is_accepted_while_the_accounts_training_waits_and_counts_as_a_job(
    user, user_api, settings, make_ready_version
):
    settings.SIGHTLINE_QUOTA_ACTIVE_JOBS = 2
    version = make_ready_version(DatasetFactory(owner=user))
    JobFactory(requested_by=user, kind=Job.Kind.TRAIN)

    def post_batch():
        return user_api.post(
            f"/api/v1/model-versions/{version.id}/batch-predictions/",
            {"archive": SimpleUploadedFile("photos.zip", zip_archive({"1.png": image_bytes(fmt="PNG")}))},
            format="multipart",
        )

    assert post_batch().status_code == 202
    assert Job.objects.filter(requested_by=user, kind=Job.Kind.BATCH_PREDICT).count() == 1
    before, files_before = account_rows(user), stored_files(settings)
    refused = post_batch()

    assert refused.status_code == 429
    assert refused.json()["quota"] == "active_jobs"
    assert (account_rows(user), stored_files(settings)) == (before, files_before)


def test_jobs_past_the_active_jobs_quota_are_429_and_store_nothing(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_ACTIVE_JOBS = 2
    dataset = trainable_dataset(user)
    JobFactory(requested_by=user, dataset=dataset, kind=Job.Kind.IMPORT)
    JobFactory(requested_by=user, dataset=dataset, kind=Job.Kind.AUGMENT, status=Job.Status.RUNNING)
    JobFactory(requested_by=user, dataset=dataset, kind=Job.Kind.IMPORT, status=Job.Status.FAILED)
    before, files_before = account_rows(user), stored_files(settings)

    response = user_api.post(
        f"/api/v1/datasets/{dataset.id}/imports/",
        {"archive": SimpleUploadedFile("birds.zip", zip_archive({"wren/1.jpg": image_bytes()}))},
        format="multipart",
    )

    assert response.status_code == 429
    assert response.json() == {
        "detail": "You already have 2 jobs queued or running, as many as your account may have at once (2). "
        "Start this one when one of them has finished, or cancel one.",
        "quota": "active_jobs",
        "used": 2,
        "allowed": 2,
    }
    assert account_rows(user) == before
    assert stored_files(settings) == files_before
    assert user_api.post(f"/api/v1/datasets/{dataset.id}/augmentations/", {"target_per_class": 4}).status_code == 429
