"""URL-list imports: each URL's outcome reported (stored, refused, retried, a near duplicate, over the
account's quota), and an import that stores nothing failed. Every URL is fetched through the SSRF-safe
fetcher from a local server (its host:port the only entry of the allow-list)."""

import time

import pytest

from classifier.models import DatasetImage
from classifier.services import url_imports
from classifier.services.images import image_add
from tests.classifier.conftest import Route
from tests.classifier.import_support import stored_files
from tests.classifier.url_import_support import LIMIT, jpeg
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user)


def test_every_url_is_imported_or_reported_with_its_reason(dataset, image_server, fast, run_url_import):
    serve = image_server.routes
    for n in range(3):
        serve[f"/good/{n}.jpg"] = Route(body=jpeg(n), headers={"Content-Type": "image/jpeg"})
    serve["/slow.jpg"] = Route(body=jpeg(10), delay=1.0)
    serve["/huge.jpg"] = Route(body=b"\xff" * (LIMIT + 1))
    serve["/page.html"] = Route(body=b"<html><body>not a picture</body></html>")
    serve["/broken.jpg"] = Route(body=jpeg(11)[:150])
    serve["/private"] = Route(status=302, headers={"Location": "http://10.0.0.1/secret.jpg"})
    serve["/known.jpg"] = Route(body=jpeg(20))
    image_add(dataset=dataset, content=jpeg(20), filename="known.jpg", label_name="cat", origin="upload")
    url = image_server.url

    job = run_url_import(
        dataset,
        [
            "URL,Label,Filename",
            f"{url('/good/0.jpg')},cat,",
            f"{url('/good/1.jpg')},dog,first-dog.jpg",
            f"{url('/good/2.jpg')}, dog ,",
            f"{url('/missing.jpg')},cat,",
            f"{url('/slow.jpg')},cat,",
            f"{url('/huge.jpg')},cat,",
            f"{url('/page.html')},cat,",
            f"{url('/broken.jpg')},cat,",
            f"{url('/private')},cat,",
            f"{url('/known.jpg')},cat,",
            "ftp://example.com/a.jpg,cat,",
            ",cat,",
            f"{url('/good/0.jpg')},cat,",
            f"{url('/good/9.jpg')},,",
        ],
    )

    assert (job.status, job.message) == ("succeeded", "Imported 3 of 14 URLs")
    report = job.report
    counts = {reason: report[reason] for reason in url_imports.URL_REPORT_REASONS}
    assert counts == {
        "duplicate": 2,
        "refused": 2,
        "timeout": 1,
        "too_large": 1,
        "not_image": 1,
        "corrupt": 1,
        "http_error": 1,
        "unreachable": 0,
        "unlabelled": 1,
        "bad_row": 1,
        "over_quota": 0,
    }
    assert (report["imported"], report["total"], report["classes"]) == (3, 14, {"cat": 1, "dog": 2})
    assert report["near_duplicates"] == []
    reasons = [(row["line"], row["reason"], row.get("status")) for row in report["rejected"]]
    assert reasons == [
        (5, "http_error", 404),
        (6, "timeout", None),
        (7, "too_large", None),
        (8, "not_image", None),
        (9, "corrupt", None),
        (10, "refused", None),
        (11, "duplicate", None),
        (12, "refused", None),
        (13, "bad_row", None),
        (14, "duplicate", None),
        (15, "unlabelled", None),
    ]
    details = {row["line"]: row["detail"] for row in report["rejected"]}
    assert "resolves to 10.0.0.1, a private address" in details[10]
    assert "Only http and https URLs can be fetched, not ftp" in details[12]
    assert details[14] == "Line 14 repeats the URL of line 2."
    stored = set(
        DatasetImage.objects.filter(dataset=dataset, job=job).values_list("original_name", "label__name", "origin")
    )
    assert stored == {("0.jpg", "cat", "import"), ("first-dog.jpg", "dog", "import"), ("2.jpg", "dog", "import")}
    # A 404 is final; a timeout is temporary, so it was tried again once.
    paths = [request["path"] for request in image_server.requests]
    assert (paths.count("/missing.jpg"), paths.count("/slow.jpg"), paths.count("/good/0.jpg")) == (1, 2, 1)
    # The stored list goes when the job ends.
    assert not any(name.startswith("imports/") for name in stored_files(fast))


class Sequence(dict):
    """Routes whose answers change from one request to the next: ``{path: [first, second, ...]}``."""

    def get(self, path, default=None):
        answers = super().get(path)
        if not answers:
            return default
        return answers.pop(0) if len(answers) > 1 else answers[0]


def test_a_temporary_failure_is_retried_after_the_retry_after_it_asks_for(dataset, image_server, fast, run_url_import):
    fast.SIGHTLINE_URL_IMPORT_RETRY_AFTER_MAX_SECONDS = 0.4
    image_server.routes = Sequence(
        {"/busy.jpg": [Route(status=503, headers={"Retry-After": "30"}), Route(body=jpeg(1))]}
    )
    times = []

    class TimedRequests(list):
        def append(self, request):
            times.append(time.monotonic())
            super().append(request)

    image_server.requests = TimedRequests()

    job = run_url_import(dataset, ["url,label", f"{image_server.url('/busy.jpg')},cat"])

    assert (job.status, job.report["imported"], job.report["http_error"]) == ("succeeded", 1, 0)
    assert len(times) == 2
    # Retry-After asked for 30 s; the cap (0.4 s) is honoured, not the backoff (0.01 s).
    assert 0.35 <= times[1] - times[0] < 5


def test_a_server_that_keeps_failing_is_reported_with_its_status(dataset, image_server, fast, run_url_import):
    image_server.routes["/down.jpg"] = Route(status=502)
    image_server.routes["/ok.jpg"] = Route(body=jpeg(1))

    job = run_url_import(
        dataset, ["url,label", f"{image_server.url('/down.jpg')},cat", f"{image_server.url('/ok.jpg')},cat"]
    )

    assert [(row["reason"], row["status"]) for row in job.report["rejected"]] == [("http_error", 502)]
    assert [request["path"] for request in image_server.requests].count("/down.jpg") == 2


def test_an_import_that_stores_nothing_fails_saying_why_and_keeps_its_report(
    dataset, image_server, fast, run_url_import
):
    job = run_url_import(
        dataset, ["url,label", f"{image_server.url('/a.jpg')},cat", f"{image_server.url('/b.jpg')},cat"]
    )

    assert job.status == "failed"
    assert job.error == "Nothing was imported: every URL was refused (2 http error). The report lists each one."
    assert (job.report["http_error"], job.report["total"]) == (2, 2)
    assert not DatasetImage.objects.filter(dataset=dataset).exists()


def test_an_image_reported_as_a_near_duplicate_is_imported_with_a_note(
    dataset, image_server, fast, run_url_import, monkeypatch
):
    earlier = image_add(dataset=dataset, content=jpeg(1), filename="earlier.jpg", label_name="cat", origin="upload")
    real_add = url_imports.image_add

    def add_and_mark(**kwargs):
        image = real_add(**kwargs)
        image.near_duplicate_of = earlier
        return image

    monkeypatch.setattr(url_imports, "image_add", add_and_mark)
    image_server.routes["/copy.jpg"] = Route(body=jpeg(2))

    job = run_url_import(dataset, ["url,label", f"{image_server.url('/copy.jpg')},cat"])

    image = DatasetImage.objects.get(job=job)
    assert job.report["imported"] == 1
    assert job.report["near_duplicates"] == [
        {
            "line": 2,
            "url": image_server.url("/copy.jpg"),
            "image": image.pk,
            "filename": "copy.jpg",
            "near_duplicate_of": earlier.pk,
            "near_duplicate_of_name": "earlier.jpg",
            "split": image.split,
        }
    ]


def test_images_past_the_accounts_quota_are_reported_and_the_rest_kept(
    dataset, image_server, fast, run_url_import, settings
):
    settings.SIGHTLINE_QUOTA_IMAGES = 2
    settings.SIGHTLINE_URL_IMPORT_CONCURRENCY = 1
    for n in range(3):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))

    job = run_url_import(dataset, ["url,label", *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(3))])

    assert (job.status, job.report["imported"], job.report["over_quota"]) == ("succeeded", 2, 1)
    assert DatasetImage.objects.filter(dataset=dataset).count() == 2
    assert "was not stored" in job.report["rejected"][0]["detail"]
