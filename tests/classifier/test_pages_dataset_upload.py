"""Adding pictures from the dataset page: upload, and ZIP import with its labels CSV."""

import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classifier.models import DatasetImage
from tests.classifier.dataset_pages_support import detail_url, jpeg_upload
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Birds", description="Garden birds")


@pytest.fixture
def image(dataset):
    return DatasetImageFactory(dataset=dataset, label=LabelClassFactory(dataset=dataset, name="sparrow"))


# Upload


def test_upload_through_the_page_stores_images_and_reports_each_file(user_client, dataset):
    red = image_bytes(color=(220, 20, 20))
    files = [
        SimpleUploadedFile("red.jpg", red, content_type="image/jpeg"),
        jpeg_upload("blue.jpg", (20, 20, 220)),
        SimpleUploadedFile("red-again.jpg", red, content_type="image/jpeg"),
        SimpleUploadedFile("notes.txt", b"not a picture", content_type="text/plain"),
    ]

    response = user_client.post(
        reverse("classifier:image-upload", args=[dataset.pk]), {"files": files, "label": "cardinal"}
    )

    assert response.status_code == 302
    assert response.url == f"{detail_url(dataset)}?tab=add#upload-result"
    stored = DatasetImage.objects.filter(dataset=dataset)
    assert sorted(stored.values_list("original_name", flat=True)) == ["blue.jpg", "red.jpg"]
    assert {image.label.name for image in stored} == {"cardinal"}
    for image in stored:
        assert default_storage.exists(image.file.name)
        assert default_storage.exists(image.thumbnail.name)

    page = user_client.get(response.url)
    result = page.context["upload_result"]
    counts = dict(result["counts"])
    assert (counts["Imported"], counts["Duplicate"]) == (2, 1)
    # Which reason a text file gets is the imaging service's call (tested there); the page shows it.
    assert sum(counts.values()) == 4
    assert sorted(result["imported"]) == ["blue.jpg", "red.jpg"]
    reasons = {row["filename"]: row["reason"] for row in result["rejected"]}
    assert set(reasons) == {"red-again.jpg", "notes.txt"}
    assert reasons["red-again.jpg"] == "Duplicate"
    assert "Upload result" in page.text
    for row in result["rejected"]:
        assert row["filename"] in page.text
        assert row["reason"] in page.text
    # The result is shown once, not on every later visit.
    assert user_client.get(response.url).context["upload_result"] is None


def test_upload_needs_at_least_one_file(user_client, dataset):
    page = user_client.post(reverse("classifier:image-upload", args=[dataset.pk]), {"label": "cardinal"})

    assert page.status_code == 200
    assert "This field is required." in page.text
    assert not DatasetImage.objects.exists()


def test_upload_shows_a_refused_class_name(user_client, dataset):
    page = user_client.post(
        reverse("classifier:image-upload", args=[dataset.pk]),
        {"files": [jpeg_upload("a.jpg", (1, 2, 3))], "label": "x" * 201},
    )

    assert page.status_code == 200
    assert "Ensure this value has at most 200 characters" in page.text
    assert not DatasetImage.objects.exists()


# Import


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_import_starts_a_job_and_shows_its_report(user_client, dataset, django_capture_on_commit_callbacks):
    archive = _zip(
        {
            "sparrow/1.jpg": image_bytes(color=(10, 10, 10)),
            "robin/2.jpg": image_bytes(color=(200, 10, 10)),
            "robin/broken.jpg": b"\xff\xd8 not really",
        }
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            reverse("classifier:dataset-import", args=[dataset.pk]),
            {"archive": SimpleUploadedFile("birds.zip", archive, content_type="application/zip")},
        )

    job = Job.objects.get(dataset=dataset)
    assert response.status_code == 302
    assert response.url == reverse("training_jobs:job-detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert DatasetImage.objects.filter(dataset=dataset).count() == 2

    page = user_client.get(response.url)
    assert "robin/broken.jpg" in page.text
    assert ("Imported", 2) in page.context["counts"]


def test_import_refuses_a_file_that_is_not_a_zip(user_client, dataset):
    page = user_client.post(
        reverse("classifier:dataset-import", args=[dataset.pk]),
        {"archive": SimpleUploadedFile("birds.zip", b"plain text", content_type="application/zip")},
    )

    assert page.status_code == 200
    assert "birds.zip is not a ZIP archive." in page.text
    assert not Job.objects.exists()


def test_import_checks_the_labels_csv_columns(user_client, dataset):
    page = user_client.post(
        reverse("classifier:dataset-import", args=[dataset.pk]),
        {
            "archive": SimpleUploadedFile("birds.zip", _zip({"a.jpg": image_bytes()})),
            "labels": SimpleUploadedFile("labels.csv", b"name,class\na.jpg,sparrow\n"),
        },
    )

    assert page.status_code == 200
    assert "The labels CSV needs the columns filename and label" in page.text
    assert not Job.objects.exists()
