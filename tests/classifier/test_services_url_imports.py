"""URL-list imports: every URL fetched through the SSRF-safe fetcher from a local server (its host:port the
only entry of the allow-list), each outcome reported, bad lists refused whole, and how jobs end."""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import Dataset, DatasetImage
from classifier.services import url_imports
from classifier.services.datasets import dataset_delete
from classifier.services.images import image_add
from classifier.services.url_imports import url_list_import_run, url_list_import_start
from tests.classifier.conftest import Route
from tests.classifier.test_services_import import stored_files
from tests.factories import DatasetFactory, image_bytes
from training_jobs.models import Job
from training_jobs.reaper import jobs_reap
from training_jobs.runner import job_run
from training_jobs.services import job_cancel

pytestmark = pytest.mark.django_db

LIMIT = 20_000


def jpeg(n: int) -> bytes:
    return image_bytes(color=(n % 256, (n * 7) % 256, 90))


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user)


@pytest.fixture
def fast(settings):
    """Short timeouts and pauses, so the slow and flaky routes cost a fraction of a second."""
    settings.SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS = 0.3
    settings.SIGHTLINE_URL_FETCH_DEADLINE_SECONDS = 1.0
    settings.SIGHTLINE_URL_IMPORT_RETRIES = 1
    settings.SIGHTLINE_URL_IMPORT_RETRY_BACKOFF_SECONDS = 0.01
    settings.SIGHTLINE_MAX_IMAGE_BYTES = LIMIT
    return settings


def url_list(lines: list[str]) -> SimpleUploadedFile:
    return SimpleUploadedFile("urls.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")


@pytest.fixture
def run_url_import(user, django_capture_on_commit_callbacks):
    def run(dataset, lines: list[str]) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            job = url_list_import_start(dataset=dataset, requested_by=user, urls=url_list(lines))
        job.refresh_from_db()
        return job

    return run


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


def test_cancelling_stops_the_import_between_urls(dataset, image_server, fast, run_url_import, monkeypatch, settings):
    settings.SIGHTLINE_URL_IMPORT_CONCURRENCY = 1
    real_add = url_imports.image_add

    def add_then_user_cancels(**kwargs):
        image = real_add(**kwargs)
        job_cancel(job=Job.objects.get(dataset=dataset))
        return image

    monkeypatch.setattr(url_imports, "image_add", add_then_user_cancels)
    for n in range(5):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))

    job = run_url_import(dataset, ["url,label", *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(5))])

    assert (job.status, job.message) == ("cancelled", "Cancelled")
    assert DatasetImage.objects.filter(dataset=dataset).count() == 1
    assert not any(name.startswith("imports/") for name in stored_files(settings))


class WorkerLost(BaseException):
    """Stands in for SIGKILL: nothing after the line that raises it runs, not even except clauses."""


def test_a_resumed_import_counts_what_it_stored_before_once(
    dataset, user, image_server, fast, monkeypatch, django_capture_on_commit_callbacks
):
    real_add = url_imports.image_add
    added = []

    def add_then_lose_the_worker(**kwargs):
        image = real_add(**kwargs)
        added.append(image.id)
        if len(added) == 2 and kwargs["job"].attempts == 1:
            raise WorkerLost()
        return image

    monkeypatch.setattr(url_imports, "image_add", add_then_lose_the_worker)
    for n in range(4):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))
    image_server.routes["/again.jpg"] = Route(body=jpeg(0))
    lines = [
        "url,label",
        *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(4)),
        f"{image_server.url('/again.jpg')},cat",
    ]
    with monkeypatch.context() as no_broker:
        no_broker.setattr("training_jobs.services.job_send", lambda job_id: True)
        job = url_list_import_start(dataset=dataset, requested_by=user, urls=url_list(lines))
    with pytest.raises(WorkerLost):
        job_run(job_id=job.id)
    assert DatasetImage.objects.filter(dataset=dataset).count() == 2
    Job.objects.filter(id=job.id).update(heartbeat_at=job.created_at.replace(year=2000))

    with django_capture_on_commit_callbacks(execute=True):
        # A new worker takes it (inline here).
        assert jobs_reap()["resumed"] == 1

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert (job.report["imported"], job.report["duplicate"], job.report["total"]) == (4, 1, 5)
    assert DatasetImage.objects.filter(dataset=dataset, job=job).count() == 4


def test_progress_is_reported_as_urls_complete(dataset, user, image_server, fast, django_capture_on_commit_callbacks):
    for n in range(3):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))
    with django_capture_on_commit_callbacks():
        job = url_list_import_start(
            dataset=dataset,
            requested_by=user,
            urls=url_list(["url,label", ",cat", *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(3))]),
        )
    calls = []

    url_list_import_run(job=job, progress=lambda fraction, text, **options: calls.append((fraction, text)))

    # The row without a URL is reported before any fetch; progress counts it from the first URL that completes.
    assert calls == [(0.5, "2 of 4 URLs"), (0.75, "3 of 4 URLs"), (1.0, "4 of 4 URLs")]


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


def test_per_host_and_overall_limits_hold(settings, monkeypatch):
    from classifier.services import url_fetch_pool
    from classifier.services.url_fetch import FetchedContent

    settings.SIGHTLINE_URL_IMPORT_CONCURRENCY = 3
    settings.SIGHTLINE_URL_IMPORT_PER_HOST = 2
    lock = threading.Lock()
    active: dict[str, int] = {}
    peaks: dict[str, int] = {}
    overall = {"now": 0, "peak": 0}

    def fake_fetch(*, url):
        host = url_fetch_pool.url_host(url)
        with lock:
            active[host] = active.get(host, 0) + 1
            peaks[host] = max(peaks.get(host, 0), active[host])
            overall["now"] += 1
            overall["peak"] = max(overall["peak"], overall["now"])
        time.sleep(0.02)
        with lock:
            active[host] -= 1
            overall["now"] -= 1
        return FetchedContent(content=url.encode(), url=url, filename="x")

    monkeypatch.setattr(url_fetch_pool, "url_content_fetch", fake_fetch)
    urls = [f"http://host{n % 3}.example/{n}.jpg" for n in range(30)]

    outcomes = list(url_fetch_pool.urls_fetch(urls))

    assert sorted(outcome.index for outcome in outcomes) == list(range(30))
    assert all(outcome.fetched.content == urls[outcome.index].encode() for outcome in outcomes)
    assert max(peaks.values()) == 2 and overall["peak"] == 3


@pytest.mark.django_db(transaction=True)
def test_a_dataset_deleted_while_its_url_import_runs_leaves_no_rows_and_no_files(user, image_server, fast, monkeypatch):
    dataset = DatasetFactory(owner=user)
    real_add = url_imports.image_add

    def add_then_delete_dataset(**kwargs):
        image = real_add(**kwargs)
        if Dataset.objects.filter(id=dataset.id).exists():
            dataset_delete(dataset=Dataset.objects.get(id=dataset.id))  # the user deletes it meanwhile
        return image

    monkeypatch.setattr(url_imports, "image_add", add_then_delete_dataset)
    for n in range(4):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))

    # Real commits: the job is queued once the request commits and runs inline (eager tasks).
    url_list_import_start(
        dataset=dataset,
        requested_by=user,
        urls=url_list(["url,label", *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(4))]),
    )

    assert not Dataset.objects.filter(id=dataset.id).exists()
    assert not DatasetImage.objects.exists() and not Job.objects.exists()
    assert stored_files(fast) == []


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
