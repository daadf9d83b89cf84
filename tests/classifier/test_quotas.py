"""Quotas per account: images and bytes stored, jobs queued or running, trainings waiting for the training
worker, training minutes a day. Each refusal is a 429 naming the quota with what is used and allowed, and
leaves every stored row and file as it was; staff have none, and staff give one account its own."""

import importlib
import io
import zipfile
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from classifier.models import AccountQuota, DatasetImage, ModelVersion, TrainingUsage
from classifier.services.augmentation import dataset_augment_start
from classifier.services.model_versions import model_version_delete
from classifier.services.quotas import QuotaExceeded, job_quota_check
from tests.factories import DatasetFactory, DatasetImageFactory, JobFactory, LabelClassFactory, image_bytes
from training_jobs.models import Job
from training_jobs.services import job_delete, job_fail
from webapp.storage import stored_names
from webapp.units import human_bytes

pytestmark = pytest.mark.django_db

Split = DatasetImage.Split
GPU_JOBS_FULL = (
    "You already have 1 job for the training worker queued or running, as many as your account may have at "
    "once (1): the training worker is shared, so each account waits for its own. Start this one when that has "
    "finished, or cancel it."
)


def _images_full(used: int, allowed: int) -> str:
    return (
        f"Image quota reached: your datasets hold {used} images of the {allowed} your account may store. "
        "Delete some images to add more."
    )


def _stored_files(settings) -> list[str]:
    # Through the storage API, so the same assertions hold on object storage (SIGHTLINE_TEST_STORAGE=s3).
    return sorted(stored_names())


def _jpeg(name: str, n: int) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(color=(n, 40, 90)), content_type="image/jpeg")


def _upload(client, dataset, files):
    return client.post(f"/api/v1/datasets/{dataset.id}/images/", {"file": files, "label": "wren"}, format="multipart")


def _trainable_dataset(owner, name="Garden birds"):
    """Two classes with a training and a validation image each: the least a version trains on."""
    dataset = DatasetFactory(owner=owner, name=name)
    for class_name in ("robin", "wren"):
        label = LabelClassFactory(dataset=dataset, name=class_name)
        for split in (Split.TRAIN, Split.VAL):
            DatasetImageFactory(dataset=dataset, label=label, split=split)
    return dataset


def _train(client, dataset, budget_minutes=10):
    data = {"backbone": "efficientnet_lite0", "budget_minutes": budget_minutes}
    return client.post(f"/api/v1/datasets/{dataset.id}/model-versions/", data, format="json")


def _rows(user):
    """What the account has stored and started, to check a refusal changed none of it."""
    return (
        sorted(DatasetImage.objects.filter(dataset__owner=user).values_list("id", "sha256", "stored_bytes")),
        sorted(ModelVersion.objects.filter(dataset__owner=user).values_list("id", "status")),
        sorted(Job.objects.filter(requested_by=user).values_list("id", "status")),
        TrainingUsage.objects.filter(user=user).count(),
    )


# Images and bytes


def test_an_upload_past_the_image_quota_keeps_what_fit_and_reports_the_rest(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_IMAGES = 3
    dataset = DatasetFactory(owner=user)
    DatasetImageFactory(dataset=dataset)

    response = _upload(user_api, dataset, [_jpeg(f"{n}.jpg", n) for n in range(1, 5)])

    assert response.status_code == 201
    body = response.json()
    assert [image["original_name"] for image in body["imported"]] == ["1.jpg", "2.jpg"]
    assert body["counts"]["over_quota"] == 2
    assert body["rejected"] == [
        {"filename": name, "reason": "over_quota", "detail": f"{name} was not stored. {_images_full(3, 3)}"}
        for name in ("3.jpg", "4.jpg")
    ]
    assert DatasetImage.objects.filter(dataset__owner=user).count() == 3


def test_an_upload_with_no_room_left_is_429_and_changes_nothing(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_IMAGES = 2
    # Counted over all the account's datasets.
    DatasetImageFactory(dataset=DatasetFactory(owner=user, name="first"))
    dataset = DatasetFactory(owner=user, name="second")
    DatasetImageFactory(dataset=dataset)
    before, files_before = _rows(user), _stored_files(settings)

    response = _upload(user_api, dataset, [_jpeg("a.jpg", 1), _jpeg("b.jpg", 2)])

    assert response.status_code == 429
    assert response.json() == {"detail": _images_full(2, 2), "quota": "images", "used": 2, "allowed": 2}
    assert _rows(user) == before
    assert _stored_files(settings) == files_before


def test_the_storage_quota_counts_the_bytes_of_every_stored_image(user, user_api, settings):
    dataset = DatasetFactory(owner=user)
    first = _upload(user_api, dataset, [_jpeg("first.jpg", 1)]).json()["imported"][0]
    image = DatasetImage.objects.get(id=first["id"])
    assert image.stored_bytes == default_storage.size(image.file.name) + default_storage.size(image.thumbnail.name)
    settings.SIGHTLINE_QUOTA_BYTES = image.stored_bytes + 100
    before = _rows(user)

    response = _upload(user_api, dataset, [_jpeg("second.jpg", 2)])

    size = len(image_bytes(color=(2, 40, 90)))
    assert response.status_code == 429
    assert response.json() == {
        "detail": f"Storage quota reached: your images take {human_bytes(image.stored_bytes)} of the "
        f"{human_bytes(image.stored_bytes + 100)} your account may store, and this one needs {human_bytes(size)} "
        "more. Delete some images to add more.",
        "quota": "storage_bytes",
        "used": image.stored_bytes,
        "allowed": image.stored_bytes + 100,
    }
    assert _rows(user) == before


def test_a_prediction_added_to_a_full_account_is_429(user, user_api, settings, make_ready_version):
    dataset = DatasetFactory(owner=user)
    version = make_ready_version(dataset)
    LabelClassFactory(dataset=dataset, name="crimson")
    DatasetImageFactory(dataset=dataset)
    settings.SIGHTLINE_QUOTA_IMAGES = 1
    photo = SimpleUploadedFile("photo.png", image_bytes(color=(255, 0, 0), fmt="PNG"), content_type="image/png")
    predicted = user_api.post(f"/api/v1/model-versions/{version.id}/predict/", {"image": photo}, format="multipart")
    before = _rows(user)

    response = user_api.post(
        f"/api/v1/predictions/{predicted.json()['prediction_id']}/add-to-dataset/", {"label": "crimson"}, format="json"
    )

    assert response.status_code == 429
    assert response.json() == {"detail": _images_full(1, 1), "quota": "images", "used": 1, "allowed": 1}
    assert _rows(user) == before


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_an_import_past_the_quota_stores_what_fits_and_reports_each_file_over_it(
    user, user_api, settings, django_capture_on_commit_callbacks
):
    settings.SIGHTLINE_QUOTA_IMAGES = 2
    dataset = DatasetFactory(owner=user)
    archive = _zip({f"birds/wren/{n}.jpg": image_bytes(color=(n, 40, 90)) for n in range(1, 5)})

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(
            f"/api/v1/datasets/{dataset.id}/imports/",
            {"archive": SimpleUploadedFile("birds.zip", archive)},
            format="multipart",
        )

    assert response.status_code == 202
    job = Job.objects.get(id=response.json()["job"]["id"])
    assert (job.status, job.report["imported"], job.report["over_quota"]) == ("succeeded", 2, 2)
    assert job.report["rejected"] == [
        {"filename": name, "reason": "over_quota", "detail": f"{name} was not stored. {_images_full(2, 2)}"}
        for name in ("birds/wren/3.jpg", "birds/wren/4.jpg")
    ]
    assert DatasetImage.objects.filter(dataset=dataset).count() == 2


def test_augmentation_stops_at_the_quota_and_says_so(user, settings, django_capture_on_commit_callbacks):
    dataset = _trainable_dataset(user)
    settings.SIGHTLINE_QUOTA_IMAGES = 5

    with django_capture_on_commit_callbacks(execute=True):
        job = dataset_augment_start(dataset=dataset, requested_by=user, target_per_class=3)

    job.refresh_from_db()
    assert (job.status, job.message) == ("succeeded", "Created 1 augmented images, then reached your quota")
    assert job.report["created"] == 1
    assert job.report["stopped_at_quota"] == _images_full(5, 5)
    assert DatasetImage.objects.filter(dataset=dataset).count() == 5


# Jobs and the training queue


def test_a_second_training_of_one_account_is_429_while_another_accounts_is_accepted(
    user, other_user, user_api, other_api
):
    dataset = _trainable_dataset(user)
    assert _train(user_api, dataset).status_code == 202
    before = _rows(user)

    refused = _train(user_api, _trainable_dataset(user, name="Pond birds"))
    accepted = _train(other_api, _trainable_dataset(other_user))

    assert refused.status_code == 429
    assert refused.json() == {"detail": GPU_JOBS_FULL, "quota": "active_gpu_jobs", "used": 1, "allowed": 1}
    assert _rows(user)[1:] == before[1:]
    assert accepted.status_code == 202
    # Once the first has ended, the account's next one is accepted.
    Job.objects.filter(requested_by=user).update(status=Job.Status.SUCCEEDED)
    assert _train(user_api, dataset).status_code == 202


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
            {"archive": SimpleUploadedFile("photos.zip", _zip({"1.png": image_bytes(fmt="PNG")}))},
            format="multipart",
        )

    assert post_batch().status_code == 202
    assert Job.objects.filter(requested_by=user, kind=Job.Kind.BATCH_PREDICT).count() == 1
    before, files_before = _rows(user), _stored_files(settings)
    refused = post_batch()

    assert refused.status_code == 429
    assert refused.json()["quota"] == "active_jobs"
    assert (_rows(user), _stored_files(settings)) == (before, files_before)


def test_jobs_past_the_active_jobs_quota_are_429_and_store_nothing(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_ACTIVE_JOBS = 2
    dataset = _trainable_dataset(user)
    JobFactory(requested_by=user, dataset=dataset, kind=Job.Kind.IMPORT)
    JobFactory(requested_by=user, dataset=dataset, kind=Job.Kind.AUGMENT, status=Job.Status.RUNNING)
    JobFactory(requested_by=user, dataset=dataset, kind=Job.Kind.IMPORT, status=Job.Status.FAILED)
    before, files_before = _rows(user), _stored_files(settings)

    response = user_api.post(
        f"/api/v1/datasets/{dataset.id}/imports/",
        {"archive": SimpleUploadedFile("birds.zip", _zip({"wren/1.jpg": image_bytes()}))},
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
    assert _rows(user) == before
    assert _stored_files(settings) == files_before
    assert user_api.post(f"/api/v1/datasets/{dataset.id}/augmentations/", {"target_per_class": 4}).status_code == 429


# Training minutes


def test_training_minutes_per_day_count_budgets_then_the_minutes_that_ran(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30
    settings.SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS = 0
    dataset = _trainable_dataset(user)
    assert _train(user_api, dataset, budget_minutes=20).status_code == 202
    before = _rows(user)

    refused = _train(user_api, dataset, budget_minutes=20)

    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Training quota reached: your trainings of the last 24 hours use 20 of the 30 minutes your "
        "account has a day (one waiting or running counts its whole budget), and this one's budget is 20 minutes. "
        "Choose a budget of at most 10 minutes, or wait until earlier trainings are more than 24 hours old.",
        "quota": "training_minutes",
        "used": 20,
        "allowed": 30,
    }
    assert _rows(user) == before
    # Ended after 5 minutes: only those count.
    now = timezone.now()
    Job.objects.filter(requested_by=user).update(
        status=Job.Status.FAILED, started_at=now - timedelta(minutes=5), finished_at=now
    )
    assert _train(user_api, dataset, budget_minutes=20).status_code == 202
    assert user_api.get("/api/v1/usage/").json()["training_minutes"] == {"used": 25.0, "allowed": 30}


def test_a_budget_beyond_the_daily_minutes_is_429_naming_the_most_it_may_ask(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30

    response = _train(user_api, _trainable_dataset(user), budget_minutes=60)

    assert response.status_code == 429
    assert response.json()["detail"].endswith("this one's budget is 60 minutes. Choose a budget of at most 30 minutes.")


def test_deleting_a_version_does_not_give_its_training_minutes_back(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30
    dataset = _trainable_dataset(user)
    version = ModelVersion.objects.get(id=_train(user_api, dataset, budget_minutes=20).json()["id"])
    Job.objects.filter(model_version=version).update(
        status=Job.Status.RUNNING, started_at=timezone.now() - timedelta(minutes=12)
    )

    model_version_delete(version=version)

    assert not Job.objects.filter(requested_by=user).exists()
    minutes = user_api.get("/api/v1/usage/").json()["training_minutes"]["used"]
    assert 12 <= minutes < 12.1
    assert _train(user_api, dataset, budget_minutes=20).status_code == 429


def test_a_training_that_ended_keeps_its_minutes_when_its_job_is_deleted_on_its_own(user, user_api, settings):
    # The admin deletes jobs without their version: the minutes are written down when the job ends.
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 30
    dataset = _trainable_dataset(user)
    version = ModelVersion.objects.get(id=_train(user_api, dataset, budget_minutes=20).json()["id"])
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
    dataset = _trainable_dataset(user)
    assert _train(user_api, dataset, budget_minutes=5).status_code == 429

    TrainingUsage.objects.filter(job=None).update(created_at=timezone.now() - timedelta(hours=24, minutes=1))

    assert _train(user_api, dataset, budget_minutes=5).status_code == 202


# Who has which limits


def test_staff_have_no_quotas(staff_user, staff_api, settings):
    settings.SIGHTLINE_QUOTA_IMAGES = 1
    settings.SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = 1
    dataset = _trainable_dataset(staff_user)

    assert _upload(staff_api, dataset, [_jpeg("a.jpg", 1)]).status_code == 201
    assert [_train(staff_api, dataset).status_code for _ in range(2)] == [202, 202]
    assert {quota["allowed"] for quota in staff_api.get("/api/v1/usage/").json().values()} == {None}


def test_an_accounts_own_quota_replaces_the_default(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_IMAGES = 1
    AccountQuota.objects.create(user=user, images=0, active_gpu_jobs=2)
    dataset = _trainable_dataset(user)

    assert _upload(user_api, dataset, [_jpeg("a.jpg", 1)]).status_code == 201
    assert [_train(user_api, dataset).status_code for _ in range(3)] == [202, 202, 429]
    usage = user_api.get("/api/v1/usage/").json()
    assert (usage["images"]["allowed"], usage["active_gpu_jobs"]) == (None, {"used": 2, "allowed": 2})


def test_usage_says_what_the_account_uses_and_may(user, other_user, user_api, api_client):
    dataset = DatasetFactory(owner=user)
    DatasetImageFactory(dataset=dataset, stored_bytes=1500)
    DatasetImageFactory(dataset=dataset, stored_bytes=500)
    DatasetImageFactory(dataset=DatasetFactory(owner=other_user))
    JobFactory(requested_by=user, kind=Job.Kind.TRAIN)
    JobFactory(requested_by=user, kind=Job.Kind.IMPORT, status=Job.Status.SUCCEEDED)

    response = user_api.get("/api/v1/usage/")

    assert response.status_code == 200
    assert response.json() == {
        "images": {"used": 2, "allowed": 20_000},
        "storage_bytes": {"used": 2000, "allowed": 5 * 1024**3},
        "active_jobs": {"used": 1, "allowed": 3},
        "active_gpu_jobs": {"used": 1, "allowed": 1},
        "training_minutes": {"used": 0.0, "allowed": 240},
    }
    assert api_client.get("/api/v1/usage/").status_code in (401, 403)


# Pages and the admin


def test_a_training_refused_on_the_page_says_why_on_the_form(user, user_client):
    dataset = _trainable_dataset(user)
    JobFactory(requested_by=user, kind=Job.Kind.TRAIN)

    response = user_client.post(
        reverse("classifier:model-version-create", args=[dataset.pk]),
        {"budget": "quick", "backbone": "efficientnet_lite0", "weights": "imagenet", "augment": "yes"},
    )

    assert response.status_code == 200
    assert GPU_JOBS_FULL in response.content.decode()
    assert not ModelVersion.objects.filter(dataset=dataset).exists()


def test_the_datasets_page_shows_the_usage_panel(user, user_client):
    DatasetImageFactory(dataset=DatasetFactory(owner=user), stored_bytes=2048)

    page = user_client.get(reverse("classifier:dataset-list")).content.decode()

    assert 'id="usage"' in page
    assert "1 of 20,000" in page
    assert "2.0\xa0KB of 5.0\xa0GB" in page


def test_staff_set_an_accounts_own_quota_on_its_admin_page(client, staff_user, user):
    AccountQuota.objects.create(user=user, images=50)
    client.force_login(staff_user)

    page = client.get(f"/admin/auth/user/{user.pk}/change/")

    assert page.status_code == 200
    assert b'name="account_quota-0-images"' in page.content
    assert b'value="50"' in page.content


def test_the_migration_measures_images_stored_before_sizes_were_kept(user):
    kept = DatasetImageFactory(dataset=DatasetFactory(owner=user))
    lost = DatasetImageFactory(dataset=kept.dataset)
    default_storage.delete(lost.file.name)
    migration = importlib.import_module("classifier.migrations.0008_account_quotas")

    migration.stored_bytes_fill(apps, None)

    kept.refresh_from_db()
    lost.refresh_from_db()
    assert kept.stored_bytes == default_storage.size(kept.file.name) > 0
    assert lost.stored_bytes == 0
