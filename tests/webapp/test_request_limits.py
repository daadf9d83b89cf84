"""Request bodies are refused by their declared size before they are read: 413 naming the limit and its
setting, on the API (JSON) and the pages (a page), and nothing is stored."""

import io

import pytest
from django.test import Client

from classifier.models import DatasetImage
from tests.factories import DatasetFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


class _UnreadableBody(io.RawIOBase):
    """A body that fails the test if anything reads it: the refusal must come from the header alone."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise AssertionError("the request body was read")


def _post(client: Client, path: str, declared: int, **extra):
    # Client.generic would send a real body; this declares a size and gives a body that cannot be read.
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": "multipart/form-data; boundary=x",
        "CONTENT_LENGTH": str(declared),
        "wsgi.input": _UnreadableBody(),
        **extra,
    }
    return client.request(**environ)


def test_an_oversized_upload_is_refused_unread_naming_the_limit(user, user_api, settings):
    settings.SIGHTLINE_MAX_REQUEST_BYTES = 1024 * 1024
    dataset = DatasetFactory(owner=user)

    response = _post(user_api, f"/api/v1/datasets/{dataset.id}/images/", 5 * 1024 * 1024)

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is 5.0 MB; this address takes at most 1.0 MB (SIGHTLINE_MAX_REQUEST_BYTES)."
    }
    assert not DatasetImage.objects.exists()


def test_an_archive_address_takes_up_to_the_archive_limit(user, user_api, settings):
    settings.SIGHTLINE_MAX_REQUEST_BYTES = 1024
    settings.SIGHTLINE_MAX_ARCHIVE_BYTES = 10 * 1024 * 1024
    dataset = DatasetFactory(owner=user)

    refused = _post(user_api, f"/api/v1/datasets/{dataset.id}/imports/", 40 * 1024 * 1024)

    assert refused.status_code == 413
    assert "(SIGHTLINE_MAX_ARCHIVE_BYTES)" in refused.json()["detail"]
    assert not Job.objects.exists()


def test_an_archive_within_its_limit_is_not_held_to_the_ordinary_one(user, user_api, settings):
    settings.SIGHTLINE_MAX_REQUEST_BYTES = 1024
    dataset = DatasetFactory(owner=user)
    archive = io.BytesIO(b"not a zip" * 300)
    archive.name = "photos.zip"

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/imports/", {"archive": archive}, format="multipart")

    # Past the size check, the import itself judges the file.
    assert response.status_code != 413


def test_a_page_form_gets_a_page_saying_so(user, settings):
    settings.SIGHTLINE_MAX_REQUEST_BYTES = 1024
    dataset = DatasetFactory(owner=user)
    # With CSRF checked as in production: its middleware reads a form's body, so the refusal must come first.
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = _post(client, f"/datasets/{dataset.id}/images/", 3 * 1024 * 1024)

    assert response.status_code == 413
    page = response.content.decode()
    assert 'id="error-413"' in page and "this address takes at most 1.0 KB" in page
    assert not DatasetImage.objects.exists()


def test_small_requests_pass(user_api):
    response = user_api.post("/api/v1/datasets/", {"name": "Birds"}, format="json")

    assert response.status_code == 201
