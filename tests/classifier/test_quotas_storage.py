"""Quotas per account on images and bytes stored: uploads, imports, predictions added to a dataset and
augmentation. Each refusal is a 429 naming the quota with what is used and allowed, and leaves every
stored row and file as it was."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage
from classifier.services.augmentation import dataset_augment_start
from tests.classifier.quota_support import (
    account_rows,
    jpeg_upload,
    stored_files,
    trainable_dataset,
    upload,
    zip_archive,
)
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes
from training_jobs.models import Job
from webapp.units import human_bytes

pytestmark = pytest.mark.django_db


def images_full(used: int, allowed: int) -> str:
    return (
        f"Image quota reached: your datasets hold {used} images of the {allowed} your account may store. "
        "Delete some images to add more."
    )


# Images and bytes


def test_an_upload_past_the_image_quota_keeps_what_fit_and_reports_the_rest(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_IMAGES = 3
    dataset = DatasetFactory(owner=user)
    DatasetImageFactory(dataset=dataset)

    response = upload(user_api, dataset, [jpeg_upload(f"{n}.jpg", n) for n in range(1, 5)])

    assert response.status_code == 201
    body = response.json()
    assert [image["original_name"] for image in body["imported"]] == ["1.jpg", "2.jpg"]
    assert body["counts"]["over_quota"] == 2
    assert body["rejected"] == [
        {"filename": name, "reason": "over_quota", "detail": f"{name} was not stored. {images_full(3, 3)}"}
        for name in ("3.jpg", "4.jpg")
    ]
    assert DatasetImage.objects.filter(dataset__owner=user).count() == 3


def test_an_upload_with_no_room_left_is_429_and_changes_nothing(user, user_api, settings):
    settings.SIGHTLINE_QUOTA_IMAGES = 2
    # Counted over all the account's datasets.
    DatasetImageFactory(dataset=DatasetFactory(owner=user, name="first"))
    dataset = DatasetFactory(owner=user, name="second")
    DatasetImageFactory(dataset=dataset)
    before, files_before = account_rows(user), stored_files(settings)

    response = upload(user_api, dataset, [jpeg_upload("a.jpg", 1), jpeg_upload("b.jpg", 2)])

    assert response.status_code == 429
    assert response.json() == {"detail": images_full(2, 2), "quota": "images", "used": 2, "allowed": 2}
    assert account_rows(user) == before
    assert stored_files(settings) == files_before


def test_the_storage_quota_counts_the_bytes_of_every_stored_image(user, user_api, settings):
    dataset = DatasetFactory(owner=user)
    first = upload(user_api, dataset, [jpeg_upload("first.jpg", 1)]).json()["imported"][0]
    image = DatasetImage.objects.get(id=first["id"])
    assert image.stored_bytes == default_storage.size(image.file.name) + default_storage.size(image.thumbnail.name)
    settings.SIGHTLINE_QUOTA_BYTES = image.stored_bytes + 100
    before = account_rows(user)

    response = upload(user_api, dataset, [jpeg_upload("second.jpg", 2)])

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
    assert account_rows(user) == before


def test_a_prediction_added_to_a_full_account_is_429(user, user_api, settings, make_ready_version):
    dataset = DatasetFactory(owner=user)
    version = make_ready_version(dataset)
    LabelClassFactory(dataset=dataset, name="crimson")
    DatasetImageFactory(dataset=dataset)
    settings.SIGHTLINE_QUOTA_IMAGES = 1
    photo = SimpleUploadedFile("photo.png", image_bytes(color=(255, 0, 0), fmt="PNG"), content_type="image/png")
    predicted = user_api.post(f"/api/v1/model-versions/{version.id}/predict/", {"image": photo}, format="multipart")
    before = account_rows(user)

    response = user_api.post(
        f"/api/v1/predictions/{predicted.json()['prediction_id']}/add-to-dataset/", {"label": "crimson"}, format="json"
    )

    assert response.status_code == 429
    assert response.json() == {"detail": images_full(1, 1), "quota": "images", "used": 1, "allowed": 1}
    assert account_rows(user) == before


def test_an_import_past_the_quota_stores_what_fits_and_reports_each_file_over_it(
    user, user_api, settings, django_capture_on_commit_callbacks
):
    settings.SIGHTLINE_QUOTA_IMAGES = 2
    dataset = DatasetFactory(owner=user)
    archive = zip_archive({f"birds/wren/{n}.jpg": image_bytes(color=(n, 40, 90)) for n in range(1, 5)})

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
        {"filename": name, "reason": "over_quota", "detail": f"{name} was not stored. {images_full(2, 2)}"}
        for name in ("birds/wren/3.jpg", "birds/wren/4.jpg")
    ]
    assert DatasetImage.objects.filter(dataset=dataset).count() == 2


def test_augmentation_stops_at_the_quota_and_says_so(user, settings, django_capture_on_commit_callbacks):
    dataset = trainable_dataset(user)
    settings.SIGHTLINE_QUOTA_IMAGES = 5

    with django_capture_on_commit_callbacks(execute=True):
        job = dataset_augment_start(dataset=dataset, requested_by=user, target_per_class=3)

    job.refresh_from_db()
    assert (job.status, job.message) == ("succeeded", "Created 1 augmented images, then reached your quota")
    assert job.report["created"] == 1
    assert job.report["stopped_at_quota"] == images_full(5, 5)
    assert DatasetImage.objects.filter(dataset=dataset).count() == 5
