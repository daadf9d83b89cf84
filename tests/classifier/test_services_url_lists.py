"""URL lists: bad lists refused whole before anything is fetched, size limits, and spreadsheet lists.
Every URL is fetched through the SSRF-safe fetcher from a local server (its host:port the only entry of
the allow-list)."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.services import url_imports
from classifier.services.url_imports import url_list_import_start
from tests.classifier.conftest import Route
from tests.classifier.import_support import stored_files
from tests.classifier.url_import_support import jpeg, url_list
from tests.factories import DatasetFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The URL list is empty; it needs a header line (url,label), then a URL a line."),
        (
            b"link,label\nhttp://example.com/a.jpg,cat\n",
            "The URL list needs the columns url and label (filename is optional); missing: url (found: link, label).",
        ),
        (b"url,label\n", "The URL list has a header line but no URLs."),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "The URL list is not a text file (it holds binary data); save it as a CSV in UTF-8.",
        ),
        (
            b"url,label\nhttp://example.com/caf\xe9.jpg,cat\n",
            "The URL list is not UTF-8 text (byte 32 cannot be read); save it as UTF-8.",
        ),
        (
            b"url,label\n" + b"http://example.com/a.jpg,cat\n" * 4,
            "The URL list has 4 rows; the limit is 3. Split it into several imports.",
        ),
    ],
)
def test_a_bad_list_is_refused_whole_and_nothing_is_stored(dataset, user, settings, content, message):
    settings.SIGHTLINE_URL_IMPORT_MAX_ROWS = 3

    with pytest.raises(ValidationError) as caught:
        url_list_import_start(dataset=dataset, requested_by=user, urls=SimpleUploadedFile("urls.csv", content))

    assert caught.value.message_dict == {"urls": [message]}
    assert not Job.objects.exists()
    assert stored_files(settings) == []


def test_a_list_over_the_size_limit_is_refused_before_it_is_read(dataset, user, settings, monkeypatch):
    monkeypatch.setattr(url_imports, "MAX_URL_LIST_BYTES", 100)

    with pytest.raises(ValidationError) as caught:
        url_list_import_start(
            dataset=dataset, requested_by=user, urls=url_list(["url,label", "http://e.com/" + "a" * 200 + ",cat"])
        )

    assert caught.value.message_dict == {"urls": ["The URL list is 228 bytes; the limit is 100 bytes."]}
    assert not Job.objects.exists()


def test_spreadsheet_lists_are_read(dataset, user, image_server, fast, django_capture_on_commit_callbacks):
    """Excel's semicolons, a byte-order mark, padded capitalised headers, quotes and stray columns."""
    image_server.routes["/a;b.jpg"] = Route(body=jpeg(1))
    content = f'\ufeff URL ;Label; Notes\r\n"{image_server.url("/a;b.jpg")}";"big cat";x;y\r\n'.encode()
    with django_capture_on_commit_callbacks(execute=True):
        job = url_list_import_start(dataset=dataset, requested_by=user, urls=SimpleUploadedFile("urls.csv", content))
    job.refresh_from_db()

    assert (job.status, job.report["classes"]) == ("succeeded", {"big cat": 1})
