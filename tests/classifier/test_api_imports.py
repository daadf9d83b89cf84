"""Imports API: a ZIP (with or without a labels CSV) queues an import job; bad uploads are 400s."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage
from tests.factories import DatasetFactory, image_bytes
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


def _zip(members: dict[str, bytes], name="photos.zip") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("labels.csv", text.encode(), content_type="text/csv")


def _import(client, dataset, data):
    return client.post(f"/api/v1/datasets/{dataset.id}/imports/", data, format="multipart")


def test_import_a_zip_of_class_folders(user, user_api, django_capture_on_commit_callbacks):
    dataset = DatasetFactory(owner=user)
    robin, wren = image_bytes(color=(200, 0, 0)), image_bytes(color=(0, 0, 200), fmt="PNG")
    archive = _zip({"robin/1.jpg": robin, "wren/1.png": wren, "wren/copy.jpg": robin})

    with django_capture_on_commit_callbacks(execute=True):
        response = _import(user_api, dataset, {"archive": archive})

    assert response.status_code == 202
    queued = response.json()["job"]
    assert (queued["kind"], queued["status"], queued["dataset"]) == ("import", "queued", dataset.id)
    job = user_api.get(f"/api/v1/jobs/{queued['id']}/").json()
    assert job["status"] == "succeeded"
    assert job["report"]["imported"] == 2
    assert job["report"]["duplicate"] == 1
    assert [r["filename"] for r in job["report"]["rejected"]] == ["wren/copy.jpg"]
    stored = DatasetImage.objects.filter(dataset=dataset)
    assert sorted(stored.values_list("label__name", flat=True)) == ["robin", "wren"]
    assert set(stored.values_list("origin", flat=True)) == {"import"}


def test_import_a_flat_zip_with_a_labels_csv(user, user_api, django_capture_on_commit_callbacks):
    dataset = DatasetFactory(owner=user)
    archive = _zip({"a.jpg": image_bytes(color=(1, 1, 1)), "b.jpg": image_bytes(color=(9, 9, 9))})

    with django_capture_on_commit_callbacks(execute=True):
        response = _import(
            user_api, dataset, {"archive": archive, "labels": _csv("filename,label\na.jpg,cat\nb.jpg,dog\n")}
        )

    assert response.status_code == 202
    job = Job.objects.get(id=response.json()["job"]["id"])
    assert job.status == Job.Status.SUCCEEDED
    labels = dict(DatasetImage.objects.filter(dataset=dataset).values_list("original_name", "label__name"))
    assert labels == {"a.jpg": "cat", "b.jpg": "dog"}


def test_a_labels_csv_without_a_label_column_is_400_naming_it(user, user_api):
    dataset = DatasetFactory(owner=user)
    archive = _zip({"a.jpg": image_bytes()})

    response = _import(user_api, dataset, {"archive": archive, "labels": _csv("filename,class\na.jpg,cat\n")})

    assert response.status_code == 400
    assert response.json() == {
        "labels": [
            "The labels CSV needs the columns filename and label; missing: label (found: filename, class)."
        ]
    }
    assert not Job.objects.exists()


def test_an_archive_that_is_not_a_zip_is_400(user, user_api):
    dataset = DatasetFactory(owner=user)
    not_zip = SimpleUploadedFile("photos.zip", b"this is not a zip archive", content_type="application/zip")

    response = _import(user_api, dataset, {"archive": not_zip})

    assert response.status_code == 400
    assert response.json() == {"archive": ["photos.zip is not a ZIP archive."]}
    assert not Job.objects.exists()


def test_an_import_without_an_archive_is_400(user, user_api):
    dataset = DatasetFactory(owner=user)

    response = _import(user_api, dataset, {"labels": _csv("filename,label\n")})

    assert response.status_code == 400
    assert response.json() == {"archive": ["No file was submitted."]}


def test_import_into_another_users_dataset_is_404(other_user, user_api):
    dataset = DatasetFactory(owner=other_user)

    response = _import(user_api, dataset, {"archive": _zip({"robin/1.jpg": image_bytes()})})

    assert response.status_code == 404
    assert not Job.objects.exists()


def test_anonymous_cannot_import(user, api_client):
    dataset = DatasetFactory(owner=user)

    response = _import(api_client, dataset, {"archive": _zip({"robin/1.jpg": image_bytes()})})

    assert response.status_code == 401
    assert not Job.objects.exists()


def test_staff_can_import_into_anyones_dataset(
    user, staff_user, staff_api, django_capture_on_commit_callbacks
):
    dataset = DatasetFactory(owner=user)

    with django_capture_on_commit_callbacks(execute=True):
        response = _import(staff_api, dataset, {"archive": _zip({"robin/1.jpg": image_bytes()})})

    assert response.status_code == 202
    job = Job.objects.get(id=response.json()["job"]["id"])
    assert job.requested_by == staff_user
    assert dataset.images.count() == 1
