"""URL-list imports through the API and the dataset page: a CSV of url,label queues an import job that
fetches from a local server (the only allow-listed host); a bad list is a 400 naming the problem, with
no job and nothing stored."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classifier.models import DatasetImage
from tests.classifier.conftest import Route
from tests.factories import DatasetFactory, image_bytes
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


def _urls(text: str, name: str = "urls.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def _zip() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("robin/1.jpg", image_bytes())
    return SimpleUploadedFile("photos.zip", buffer.getvalue(), content_type="application/zip")


def _import(client, dataset, data):
    return client.post(f"/api/v1/datasets/{dataset.id}/imports/", data, format="multipart")


def _stored(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def test_a_url_list_import_fetches_and_reports_each_url(
    user, user_api, image_server, django_capture_on_commit_callbacks
):
    dataset = DatasetFactory(owner=user)
    image_server.routes["/cat.jpg"] = Route(body=image_bytes(color=(200, 0, 0)))
    image_server.routes["/dog.png"] = Route(body=image_bytes(color=(0, 0, 200), fmt="PNG"))
    rows = [
        f"{image_server.url(path)},{label}"
        for path, label in [("/cat.jpg", "cat"), ("/dog.png", "dog"), ("/gone.jpg", "dog")]
    ]
    text = "\n".join(["url,label", *rows]) + "\n"

    with django_capture_on_commit_callbacks(execute=True):
        response = _import(user_api, dataset, {"urls": _urls(text)})

    assert response.status_code == 202
    queued = response.json()["job"]
    assert (queued["kind"], queued["status"], queued["dataset"]) == ("import", "queued", dataset.id)
    job = user_api.get(f"/api/v1/jobs/{queued['id']}/").json()
    assert job["status"] == "succeeded"
    report = job["report"]
    assert (report["imported"], report["http_error"], report["total"]) == (2, 1, 3)
    assert [(row["line"], row["reason"], row["status"]) for row in report["rejected"]] == [(4, "http_error", 404)]
    stored = DatasetImage.objects.filter(dataset=dataset)
    assert sorted(stored.values_list("original_name", "label__name")) == [("cat.jpg", "cat"), ("dog.png", "dog")]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            {"urls": "link,label\nhttp://example.com/a.jpg,cat\n"},
            {
                "urls": [
                    "The URL list needs the columns url and label (filename is optional); "
                    "missing: url (found: link, label)."
                ]
            },
        ),
        ({"urls": ""}, {"urls": ["The submitted file is empty."]}),
        ({"urls": "url,label\n"}, {"urls": ["The URL list has a header line but no URLs."]}),
        (
            {"urls": "url,label\n" + "http://example.com/a.jpg,cat\n" * 3},
            {"urls": ["The URL list has 3 rows; the limit is 2. Split it into several imports."]},
        ),
        (
            {"urls": "url,label\nhttp://example.com/a.jpg,cat\n", "archive": "zip"},
            {"urls": ["Send an archive or a URL list, not both: each is its own import."]},
        ),
        (
            {"urls": "url,label\nhttp://example.com/a.jpg,cat\n", "labels": "filename,label\n"},
            {"labels": ["A labels CSV goes with an archive; a URL list gives its labels in its label column."]},
        ),
    ],
)
def test_a_bad_url_list_is_400_naming_the_problem(user, user_api, settings, data, errors):
    settings.SIGHTLINE_URL_IMPORT_MAX_ROWS = 2
    dataset = DatasetFactory(owner=user)
    files = {name: (_zip() if name == "archive" else _urls(text, name=f"{name}.csv")) for name, text in data.items()}

    response = _import(user_api, dataset, files)

    assert response.status_code == 400
    assert response.json() == errors
    assert not Job.objects.exists()
    assert _stored(settings) == []


def test_a_binary_file_sent_as_a_url_list_is_400(user, user_api, settings):
    dataset = DatasetFactory(owner=user)
    png = SimpleUploadedFile("urls.csv", image_bytes(fmt="PNG"), content_type="text/csv")

    response = _import(user_api, dataset, {"urls": png})

    assert response.status_code == 400
    assert response.json() == {
        "urls": ["The URL list is not a text file (it holds binary data); save it as a CSV in UTF-8."]
    }
    assert not Job.objects.exists()


def test_a_url_list_into_another_users_dataset_is_404(other_user, user_api):
    dataset = DatasetFactory(owner=other_user)

    response = _import(user_api, dataset, {"urls": _urls("url,label\nhttp://example.com/a.jpg,cat\n")})

    assert response.status_code == 404
    assert not Job.objects.exists()


def test_the_dataset_page_starts_a_url_list_import(user_client, user, image_server, django_capture_on_commit_callbacks):
    dataset = DatasetFactory(owner=user)
    image_server.routes["/cat.jpg"] = Route(body=image_bytes(color=(200, 0, 0)))

    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            reverse("classifier:dataset-import", args=[dataset.pk]),
            {"urls": _urls(f"url,label\n{image_server.url('/cat.jpg')},cat\n{image_server.url('/x.jpg')},cat\n")},
        )

    job = Job.objects.get(dataset=dataset)
    assert response.status_code == 302
    assert response.url == reverse("training_jobs:job-detail", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.report["imported"]) == ("succeeded", 1)
    page = user_client.get(response.url)
    assert "Imported 1 of 2 URLs" in " ".join(page.text.split())
    assert ("Http error", 1) in page.context["counts"]


def test_the_dataset_page_shows_a_refused_url_list_beside_its_field(user_client, user, settings):
    dataset = DatasetFactory(owner=user)

    page = user_client.post(
        reverse("classifier:dataset-import", args=[dataset.pk]),
        {"urls": _urls("address,label\nhttp://example.com/a.jpg,cat\n")},
    )

    assert page.status_code == 200
    assert page.context["import_form"].errors == {
        "urls": [
            "The URL list needs the columns url and label (filename is optional); missing: url (found: address, label)."
        ]
    }
    assert not Job.objects.exists()
    assert _stored(settings) == []


def test_the_dataset_page_refuses_an_archive_and_a_url_list_together(user_client, user):
    dataset = DatasetFactory(owner=user)

    page = user_client.post(
        reverse("classifier:dataset-import", args=[dataset.pk]),
        {"archive": _zip(), "urls": _urls("url,label\nhttp://example.com/a.jpg,cat\n")},
    )

    assert page.status_code == 200
    assert page.context["import_form"].errors == {
        "urls": ["Choose an archive or a URL list, not both: each is its own import."]
    }
    assert not Job.objects.exists()
